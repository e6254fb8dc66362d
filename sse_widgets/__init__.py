"""Stream live progress bars, logs, text and charts from Python to browsers over SSE.

Example (in a kernel started by Jupyter, or after ``sse_widgets.connect(url, token)``)::

    import sse_widgets
    sse_widgets.channel("demo").send("log", {"level": "INFO", "message": "hi"})
"""

from .client import EventStream, subscribe
from .endpoint_runner import Call, CallProgress
from .endpoints import Endpoint, endpoint
from .errors import (
    BackendUnavailable,
    Cancelled,
    CapacityError,
    ChannelClosed,
    InvalidRequest,
    NotAuthorized,
    PayloadTooLarge,
    ProtocolError,
    SSEWidgetsError,
    Unavailable,
)
from .logs import SSELogHandler, log_to
from .producer import ChannelPublisher, TextWriter, channel
from .progress import Bar, aprogress, progress
from .protocol import Event
from .publisher import Publisher, connect, get_publisher

__version__ = "0.1.0"

__all__ = [
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

# The widgets import anywidget/ipywidgets: loaded on first use, so that producers (scripts,
# cron jobs, worker processes) do not pay for them.
_WIDGETS = frozenset(
    {"ChannelView", "EndpointForm", "LiveChart", "LogView", "ProgressBar", "TextStream", "show"}
)


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    # jupyter_server's entry point; imported lazily so that kernels never load the server.
    from .server.extension import SSEWidgetsExtension

    return [{"module": "sse_widgets.server.extension", "app": SSEWidgetsExtension}]


def __getattr__(name: str) -> object:
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    # ``from sse_widgets import tqdm`` (and ``trange``): tqdm is an optional dependency, so
    # the streaming tqdm is imported on first use only, and not listed in __all__.
    if name in ("tqdm", "trange"):
        try:
            from . import tqdm_bars
        except ModuleNotFoundError as exc:
            if exc.name != "tqdm" and not (exc.name or "").startswith("tqdm."):
                raise
            raise ModuleNotFoundError(
                f"sse_widgets.{name} needs the tqdm package; install it with: "
                "pip install sse_widgets[tqdm]",
                name="tqdm",
            ) from exc
        return getattr(tqdm_bars, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
