"""What every widget shares: the channel, the way to the hub, the relay.

A widget is an ``anywidget.AnyWidget`` whose front-end module (``sse_widgets/static/<name>.js``,
built from ``js/src/<name>.js``) subscribes to the hub itself. The Python object never sees the
events: it only tells the browser which channel to show and how to reach the hub, and serves
the kernel relay when the browser cannot reach the hub directly.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..names import validate_channel_name, validate_event_name
from .endpoint import browser_endpoint
from .relay import Relay

__all__ = ["SSEWidget"]

STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _module(name: str) -> str:
    """The built ES module's text (read once per process; anywidget sends it to the page)."""
    path = STATIC / f"{name}.js"
    if not path.exists():
        raise RuntimeError(
            f"the front-end module {path} is missing: this is a source checkout whose JS was "
            "never built; run `pip install -e .` (or `cd js && npm install && npm run build`)"
        )
    return path.read_text(encoding="utf-8")


class SSEWidget(anywidget.AnyWidget):
    """Base of the widgets: shows the events of one channel of the hub.

    ``transport`` chooses how the browser gets the events: ``"auto"`` (default) opens the
    hub's stream from the page and falls back to the kernel relay when it cannot;
    ``"direct"`` never relays; ``"relay"`` always does.
    """

    #: front-end module name in sse_widgets/static/ (set by each widget class)
    _module_name = ""
    #: the event name this widget shows by default
    _default_event = "message"

    channel = traitlets.Unicode("default", help="the channel shown").tag(sync=True)
    event = traitlets.Unicode("", help="the event name shown (default: the widget's own)").tag(
        sync=True
    )
    transport = traitlets.Enum(
        ("auto", "direct", "relay"), "auto", help="how the browser reaches the hub"
    ).tag(sync=True)
    replay = traitlets.Enum(
        ("history", "snapshot", "none"),
        "history",
        help="where a new view starts: the channel's history, its latest states, or live only",
    ).tag(sync=True)
    _hub_kind = traitlets.Unicode("relay").tag(sync=True)
    _hub_url = traitlets.Unicode("").tag(sync=True)
    _hub_token = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        channel: str = "default",
        *,
        hub_url: str | None = None,
        hub_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("_esm", _module(self._module_name))
        kwargs.setdefault("event", self._default_event)
        if hub_url is not None:
            endpoint = {"_hub_kind": "external", "_hub_url": hub_url, "_hub_token": hub_token or ""}
        else:
            found = browser_endpoint()
            endpoint = {"_hub_kind": found.kind, "_hub_url": found.url, "_hub_token": found.token}
        super().__init__(channel=channel, **endpoint, **kwargs)
        self._relay = Relay(self)

    @traitlets.validate("channel")
    def _check_channel(self, proposal: dict[str, Any]) -> str:
        return validate_channel_name(proposal["value"])

    @traitlets.validate("event")
    def _check_event(self, proposal: dict[str, Any]) -> str:
        return validate_event_name(proposal["value"])

    def close(self) -> None:
        """Stop relaying to this widget's views and close it."""
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.close()
        super().close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channel={self.channel!r})"
