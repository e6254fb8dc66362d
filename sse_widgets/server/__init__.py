"""The HTTP side: Tornado handlers, the jupyter_server extension and the standalone server.

The only package that imports tornado or jupyter_server; importing ``sse_widgets`` does not
load it.
"""
