"""Every exception sse_widgets raises on purpose, in one tree.

::

    SSEWidgetsError                  base of everything below; catch it to catch them all
    ├── ProtocolError (ValueError)   a value the SSE wire format cannot carry, e.g. a CR in an
    │                                event name, a negative retry
    ├── InvalidRequest (ValueError)  a request the hub refuses: bad channel name, bad JSON,
    │   │                            wrong content type; carries the HTTP ``status`` (4xx)
    │   ├── PayloadTooLarge          a body or an event over the configured size limit (413)
    │   └── NotAuthorized            missing or wrong credentials (403)
    ├── Unavailable                  the hub cannot serve the request now (503); it may later
    │   ├── CapacityError            a configured limit on channels or subscribers is reached:
    │   │                            try again later or raise the limit
    │   └── BackendUnavailable       the shared backend (Redis) cannot be reached: the request
    │                                succeeds again once it is back
    ├── ChannelClosed                the channel was deleted while a client was reading it
    └── Cancelled                    a viewer cancelled the progress bar this loop drives

Exceptions carry what went wrong and, where there is one, what to do next. Nothing here
imports tornado: the server maps ``status`` onto its HTTP answer.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "Cancelled",
    "CapacityError",
    "ChannelClosed",
    "InvalidRequest",
    "NotAuthorized",
    "PayloadTooLarge",
    "ProtocolError",
    "SSEWidgetsError",
    "Unavailable",
]


class SSEWidgetsError(Exception):
    """Base class of every error raised by sse_widgets."""


class ProtocolError(SSEWidgetsError, ValueError):
    """A value cannot be written as, or was not read as, valid server-sent events."""


class InvalidRequest(SSEWidgetsError, ValueError):
    """The hub refuses a request; ``status`` is the HTTP status the server answers with."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class PayloadTooLarge(InvalidRequest):
    """A request body or a single event is larger than the configured limit."""

    status = 413


class NotAuthorized(InvalidRequest):
    """The request has no valid credentials for what it asks."""

    status = 403


class Unavailable(SSEWidgetsError):
    """The hub cannot serve the request now (HTTP 503); the same request may succeed later."""

    status: int = 503


class CapacityError(Unavailable):
    """A configured limit (channels, subscribers) is reached; the request may succeed later."""


class BackendUnavailable(Unavailable):
    """The shared backend (``c.SSEWidgets.backend``, Redis) cannot be reached.

    Raised at start-up when Redis does not answer, and by publishing, subscribing or deleting
    while it is away; nothing Redis had accepted is lost, and requests work again once it is
    back.
    """


class ChannelClosed(SSEWidgetsError):
    """The channel was deleted (``DELETE api/channels/<name>``) while it was being read."""


class Cancelled(SSEWidgetsError):
    """A viewer cancelled the operation (e.g. pressed Cancel on a progress bar)."""
