"""Every exception sse_widgets raises on purpose, in one tree.

::

    SSEWidgetsError                  base of everything below; catch it to catch them all
    ├── ProtocolError (ValueError)   a value the SSE wire format cannot carry, e.g. a CR in an
    │                                event name, a negative retry
    ├── InvalidRequest (ValueError)  a request the hub refuses: bad channel name, bad JSON,
    │   │                            wrong content type; carries the HTTP ``status`` (4xx)
    │   ├── PayloadTooLarge          a body or an event over the configured size limit (413)
    │   └── NotAuthorized            missing or wrong credentials (403)
    ├── CapacityError                a configured limit on channels or subscribers is reached
    │                                (503): try again later or raise the limit
    ├── ChannelClosed                the channel was deleted while a client was reading it
    └── Cancelled                    a viewer cancelled the progress bar this loop drives

Exceptions carry what went wrong and, where there is one, what to do next. Nothing here
imports tornado: the server maps ``status`` onto its HTTP answer.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "CapacityError",
    "ChannelClosed",
    "InvalidRequest",
    "NotAuthorized",
    "PayloadTooLarge",
    "ProtocolError",
    "SSEWidgetsError",
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


class CapacityError(SSEWidgetsError):
    """A configured limit (channels, subscribers) is reached; the request may succeed later."""

    status: int = 503


class ChannelClosed(SSEWidgetsError):
    """The channel was deleted (``DELETE api/channels/<name>``) while it was being read."""


class Cancelled(SSEWidgetsError):
    """A viewer cancelled the operation (e.g. pressed Cancel on a progress bar)."""
