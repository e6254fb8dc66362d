"""Where the browser finds the hub the kernel publishes to.

Three cases, decided in the kernel when a widget is created:

``jupyter``
    The kernel was started by a Jupyter server running our extension (it exported
    ``SSE_WIDGETS_BROWSER_PATH``). The browser uses that path with the page's own origin and
    the page's login, so no secret goes into the widget state (a Voilà viewer could read it).
``external``
    ``sse_widgets.connect(url, token)`` (or ``SSE_WIDGETS_URL`` naming a ``sse-widgets serve``
    hub). The browser uses that URL and token, cross-origin: the hub must list the page's
    origin (``--allow-origin``).
``relay``
    The embedded in-kernel hub (VS Code, Colab, plain Voilà): only the kernel can reach it;
    the widget receives its events as custom messages through the kernel relay.

Whatever the case, a widget whose browser cannot open the stream falls back to the relay by
itself (see ``js/src/widget.js``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ..publisher import Publisher, get_publisher
from ..server import embedded

__all__ = ["BrowserEndpoint", "browser_endpoint"]

EndpointKind = Literal["jupyter", "external", "relay"]


@dataclass(frozen=True)
class BrowserEndpoint:
    """What a widget tells its front-end about reaching the hub."""

    kind: EndpointKind
    url: str  # "" for relay; a path for jupyter; an absolute URL for external
    token: str  # only for external


def browser_endpoint(publisher: Publisher | None = None) -> BrowserEndpoint:
    """The endpoint for widgets showing what ``publisher`` (default: the process's) sends.

    >>> from sse_widgets.publisher import Publisher
    >>> browser_endpoint(Publisher("http://127.0.0.1:9/", "t", start=False))
    BrowserEndpoint(kind='external', url='http://127.0.0.1:9/', token='t')
    """
    publisher = publisher or get_publisher()
    url = publisher.address.url
    started = embedded._started
    if started is not None and started[0] == url:
        return BrowserEndpoint("relay", "", "")
    browser_path = os.environ.get("SSE_WIDGETS_BROWSER_PATH")
    env_url = os.environ.get("SSE_WIDGETS_URL")
    if browser_path and env_url and _same_hub(env_url, url):
        return BrowserEndpoint("jupyter", browser_path, "")
    if publisher.address.scheme == "http+unix":
        return BrowserEndpoint("relay", "", "")  # no browser speaks HTTP over a unix socket
    return BrowserEndpoint("external", url, publisher.token or "")


def _same_hub(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc, pa.path.rstrip("/")) == (
        pb.scheme,
        pb.netloc,
        pb.path.rstrip("/"),
    )
