"""Viewer-to-producer messages, received while the producer's code is still running.

A viewer posts ``{"event": "cancel", "data": {"bar": "<id>"}}`` to a channel's control
endpoint. The kernel that owns the bar is busy running the cell, so widget comm messages
would wait until the cell ends; instead a daemon thread per channel reads the channel's control
stream (``GET api/channels/<channel>/control``, with the publish token) and hands each
message to the objects registered for it, e.g. a progress bar, which raises
:class:`~sse_widgets.Cancelled` at its next step.

The thread starts with the first registration on a channel and reads the control history
too, so a message posted while it was connecting is not missed (ids are unique, so old
messages match nothing).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .publisher import Publisher

__all__ = ["ControlRouter"]

log = logging.getLogger("sse_widgets.control")

#: A receiver gets (event name, data) of each control message for its key.
Receiver = Callable[[str, Any], None]


class ControlRouter:
    """Routes control messages of a publisher's channels to receivers registered by key."""

    def __init__(self, publisher: Publisher, *, listen: bool = True) -> None:
        self._publisher = publisher
        self._listen_enabled = listen  # off for publishers that never connect (tests, docs)
        self._lock = threading.Lock()
        # channel -> key -> receiver; weak so a forgotten bar does not stay alive
        self._receivers: dict[str, weakref.WeakValueDictionary[str, Any]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._streams: dict[str, Any] = {}
        self._stopped = threading.Event()

    def register(self, channel: str, key: str, receiver: Any) -> None:
        """Deliver control messages naming ``key`` to ``receiver.on_control(event, data)``."""
        with self._lock:
            self._receivers.setdefault(channel, weakref.WeakValueDictionary())[key] = receiver
            if channel not in self._threads and self._listen_enabled:
                thread = threading.Thread(
                    target=self._listen,
                    args=(channel,),
                    name=f"sse-widgets-control-{channel}",
                    daemon=True,
                )
                self._threads[channel] = thread
                thread.start()

    def unregister(self, channel: str, key: str) -> None:
        with self._lock:
            receivers = self._receivers.get(channel)
            if receivers is not None:
                receivers.pop(key, None)

    def dispatch(self, channel: str, event: str, data: Any) -> None:
        """Hand one message to its receiver (``data["bar"]`` names it)."""
        key = data.get("bar") if isinstance(data, dict) else None
        with self._lock:
            receiver = self._receivers.get(channel, {}).get(key) if key is not None else None
        if receiver is not None:
            receiver.on_control(event, data)

    def close(self) -> None:
        """Stop listening on every channel (the publisher is closing)."""
        self._stopped.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()

    def _listen(self, channel: str) -> None:
        from .client import EventStream

        url = self._publisher.address.url + f"api/channels/{channel}/control?replay=history"
        while not self._stopped.is_set():
            stream = EventStream(url, token=self._publisher.token, read_timeout=3600)
            with self._lock:
                self._streams[channel] = stream
            if self._stopped.is_set():
                return
            try:
                for event in stream:
                    try:
                        self.dispatch(channel, event.event, event.json())
                    except ValueError:
                        log.warning("sse_widgets: ignoring a control message that is not JSON")
            except Exception as exc:  # noqa: BLE001 - keep listening whatever happened
                log.warning("sse_widgets: control stream of %r failed (%s); retrying", channel, exc)
                threading.Event().wait(5)
