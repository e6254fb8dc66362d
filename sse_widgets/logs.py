"""Python ``logging`` records to a channel, as ``log`` events.

Named ``logs`` so it does not shadow the standard library's ``logging``.

Example::

    import logging, sse_widgets
    sse_widgets.log_to("train")                 # the root logger, INFO and up
    logging.getLogger("trainer").warning("learning rate too high")
"""

from __future__ import annotations

import logging
from typing import Any

from .names import validate_channel_name
from .publisher import Publisher, get_publisher

__all__ = ["SSELogHandler", "log_to"]


class SSELogHandler(logging.Handler):
    """A logging handler that publishes each record as a ``log`` event.

    Payload: ``{"level", "logger", "message", "time"}`` plus ``"exception"`` (the formatted
    traceback) when the record carries one. The message is ``record.getMessage()``: viewers
    show level, logger and time themselves.
    """

    def __init__(
        self,
        channel: str = "default",
        level: int | str = logging.NOTSET,
        *,
        publisher: Publisher | None = None,
    ) -> None:
        super().__init__(level)
        self.channel = validate_channel_name(channel)
        self._publisher = publisher

    def emit(self, record: logging.LogRecord) -> None:
        # Records made by sse_widgets' own threads (the sender, control listeners, the
        # embedded hub) are never published: publishing them would log again, in a loop.
        if record.threadName and record.threadName.startswith("sse-widgets-"):
            return
        publisher = self._publisher or get_publisher()
        if publisher.closed:
            return  # the process is exiting: nothing can be sent any more
        try:
            data: dict[str, Any] = {
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                "time": record.created,
            }
            if record.exc_info:
                data["exception"] = logging.Formatter().formatException(record.exc_info)
            elif record.exc_text:
                data["exception"] = record.exc_text
            publisher.send(self.channel, "log", data)
        except Exception:  # noqa: BLE001 - a handler reports its own failures, never raises
            self.handleError(record)


def log_to(
    channel: str = "default",
    level: int | str = logging.INFO,
    logger: str | logging.Logger | None = None,
    *,
    publisher: Publisher | None = None,
) -> SSELogHandler:
    """Send ``logger``'s records (the root logger by default) of ``level`` and up to a channel.

    Calling it again for the same logger and channel returns the handler already attached
    (and updates its level) instead of adding a second one. The logger's own level is lowered
    to ``level`` if it would filter those records out. Remove the handler with
    ``logging.getLogger(...).removeHandler(handler)``.
    """
    target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    for handler in target.handlers:
        if isinstance(handler, SSELogHandler) and handler.channel == channel:
            handler.setLevel(level)
            return handler
    handler = SSELogHandler(channel, level, publisher=publisher)
    target.addHandler(handler)
    if target.level == logging.NOTSET or target.getEffectiveLevel() > handler.level:
        target.setLevel(handler.level)
    return handler
