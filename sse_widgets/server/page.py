"""The standalone page of ``sse-widgets serve``: ``GET /`` and the built modules it loads.

``GET /`` answers a small HTML shell that loads ``static/page.js`` (built from
``js/src/page.js``), which lists the hub's channels and renders one with the widgets' own
views. Both routes are behind the server's token like every endpoint: ``GET /?token=<token>``
(the URL ``serve`` prints) checks the token, sets the login cookie and redirects to ``./``,
so the token leaves the address bar and the history; from then on the cookie authenticates
the page, its modules, its stream and its API calls.

Must not: serve anything but ``sse_widgets/static/<name>.js``, or anything without
authentication. The handlers are mixins: the authentication base (``TokenAuth``) is mixed in
by :func:`page_routes`, as :func:`handlers.build_routes` does for the API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tornado.web import HTTPError, RequestHandler

from ..errors import NotAuthorized
from .handlers import SSEHandlerBase

__all__ = ["PAGE_CSP", "STATIC_DIR", "page_routes"]

#: Where ``npm run build`` (js/build.mjs) writes the browser modules.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

#: The page runs only its own module; styles are injected ``<style>`` elements (hence
#: ``'unsafe-inline'`` for styles only), the stream and the API are same-origin.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
_REFUSED_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
_STATIC_NAME = re.compile(r"[a-z0-9-]+\.js\Z")

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>sse_widgets</title>
<link rel="icon" href="data:,">
<script type="module" src="static/page.js"></script>
</head>
<body>
<div id="ssew-page"></div>
<noscript>This page needs JavaScript: it renders the hub's channels live.</noscript>
</body>
</html>
"""

_REFUSED = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="color-scheme" content="light dark">
<title>sse_widgets: token needed</title>
<style>body { font: 15px/1.5 system-ui, sans-serif; max-width: 40em; margin: 4em auto;
padding: 0 1em; } code { font-size: 90%; }</style>
</head>
<body>
<h1>Token needed</h1>
<p>This hub's page is for the person who started it. Open the URL that
<code>sse-widgets serve</code> printed when it started, the one ending in
<code>/?token=&hellip;</code>; it logs this browser in.</p>
<p>Lost it? The token is also in the runtime file <code>sse-widgets-&lt;pid&gt;.json</code>
(in <code>jupyter --runtime-dir</code>), or restart the hub with
<code>--token &lt;your token&gt;</code>.</p>
</body>
</html>
"""


class PageHandler(RequestHandler):
    """``GET /``: the page, after checking the token or the login cookie."""

    # From the authentication base mixed in by page_routes (TokenAuth).
    authenticate: Any
    remember_login: Any

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        # The first request carries ?token=: no Referer must repeat it to anyone.
        self.set_header("Referrer-Policy", "no-referrer")

    def get(self) -> None:
        try:
            self.authenticate("read", False)
        except NotAuthorized:
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Content-Security-Policy", _REFUSED_CSP)
            self.finish(_REFUSED)
            return
        if self.get_query_argument("token", None) is not None:
            # Trade the token in the address bar for a cookie, then show a clean URL (the
            # browser keeps the #channel=... fragment across the redirect).
            self.remember_login()
            self.redirect("./")
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.finish(_SHELL)


class StaticHandler(SSEHandlerBase):
    """``GET /static/<name>.js``: a built module; JSON errors like the API."""

    def get(self, name: str) -> None:
        if not _STATIC_NAME.match(name):
            raise HTTPError(404, f"no static file {name!r}: names look like 'page.js'")
        path = STATIC_DIR / name
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise HTTPError(
                404,
                f"static/{name} is not built: run `npm run build` in js/ (pip install does it)",
            ) from None
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        # Revalidate every time (Tornado answers If-None-Match with 304 from the ETag it
        # computes), so a rebuilt module is picked up on reload.
        self.set_header("Cache-Control", "no-cache")
        self.finish(body)


def page_routes(prefix: str, auth_base: type) -> list[tuple[str, type]]:
    """Routes of the page below ``prefix`` (no trailing slash), with ``auth_base`` mixed in.

    Mount them before the API's catch-all (:func:`handlers.build_routes` ends with one).

    >>> from sse_widgets.server.standalone import TokenAuth
    >>> [pattern for pattern, _ in page_routes("", TokenAuth)]
    ['/', '/static/(.*)']
    """
    routes = []
    for path, logic in (("/", PageHandler), ("/static/(.*)", StaticHandler)):
        handler = type(logic.__name__, (logic, auth_base), {"__module__": auth_base.__module__})
        routes.append((prefix + path, handler))
    return routes
