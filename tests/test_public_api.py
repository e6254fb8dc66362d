"""The public namespace is small and deliberate: this pins it, and that importing it does not
drag in the server (a kernel that only publishes must stay light)."""

from __future__ import annotations

import subprocess
import sys

import sse_widgets

PUBLIC = [
    "BackendUnavailable",
    "Bar",
    "Call",
    "CallProgress",
    "Cancelled",
    "CapacityError",
    "ChannelClosed",
    "ChannelPublisher",
    "ChannelView",
    "Endpoint",
    "EndpointForm",
    "Event",
    "EventStream",
    "InvalidRequest",
    "LiveChart",
    "LogView",
    "NotAuthorized",
    "PayloadTooLarge",
    "ProgressBar",
    "ProtocolError",
    "Publisher",
    "SSELogHandler",
    "SSEWidgetsError",
    "TextStream",
    "TextWriter",
    "Unavailable",
    "aprogress",
    "channel",
    "connect",
    "endpoint",
    "get_publisher",
    "log_to",
    "progress",
    "show",
    "subscribe",
]


def test_all_is_sorted_and_pinned():
    assert sse_widgets.__all__ == sorted(sse_widgets.__all__)
    assert sse_widgets.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(sse_widgets, name).__doc__, f"{name} has no docstring"


def test_submodules_do_not_shadow_the_public_names():
    # Importing a submodule binds it on the package: a module named like a public function
    # would replace the function (sse_widgets.channel once did).
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(sse_widgets.__path__, "sse_widgets."):
        importlib.import_module(module.name)
    for name in PUBLIC:
        assert not isinstance(getattr(sse_widgets, name), type(sse_widgets)), name


def test_every_error_derives_from_one_base():
    from sse_widgets import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SSEWidgetsError)


def test_importing_the_package_loads_no_server_or_widget_code():
    code = (
        "import sys, sse_widgets; "
        "heavy = ('tornado', 'jupyter_server', 'ipywidgets', 'anywidget'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
