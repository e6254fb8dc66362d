"""The kernel relay: events reach a widget as anywidget custom messages.

Used where the browser cannot open the hub's stream itself (VS Code, Colab, Voilà without our
server extension, a proxy that blocks it): the front-end asks the kernel to subscribe for it.

    browser view ──{"action": "start", ...}──▶ kernel: RelayStream (reader thread, EventStream)
    browser view ◀──{"frames": [[name, id, data], ...]}── one message per tick (50 ms)

Coalescing: the reader thread only appends raw frames (no JSON work in the kernel); one
flusher thread for the whole kernel sends each stream's pending frames as ONE message per
tick, so a producer at 10,000 events/s costs the kernel channel 20 messages/s, not 10,000.
Frames keep the hub's multiplexed JSON text as is; the browser parses it like a direct frame.

Each browser view has its own stream (two views of a widget, a reloaded page), tagged with the
view's id; a view pings every 15 s and a stream not pinged for 60 s stops (a closed tab sends
no "stop"). Threads are named ``sse-widgets-*`` so our logging handler ignores their records.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

from ..client import EventStream
from ..errors import SSEWidgetsError
from ..publisher import get_publisher

__all__ = ["Relay"]

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05
STALE_SECONDS = 60.0
MAX_FRAMES_PER_MESSAGE = 20_000  # a larger backlog goes out over several ticks
MESSAGE_TYPE = "sse-relay"


class RelayStream:
    """One browser view's subscription, read by a daemon thread."""

    def __init__(self, widget: Any, view: str, options: dict[str, Any]) -> None:
        publisher = get_publisher()
        channels = [str(c) for c in options.get("channels") or []]
        events = [str(e) for e in options.get("events") or []]
        replay = str(options.get("replay") or "none")
        self.widget = widget
        self.view = view
        self.last_ping = time.monotonic()
        self.lock = threading.Lock()
        self.pending: list[list[str | None]] = []
        self.error: str | None = None
        self.stream = EventStream(
            publisher.address.url,
            channels=channels,
            events=[*events, "reset", "close"] if events else [],
            token=publisher.token,
            replay=replay,
            stop_on_close=False,
        )
        self.thread = threading.Thread(
            target=self._read, name=f"sse-widgets-relay-{view}", daemon=True
        )
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                with self.lock:
                    self.pending.append([event.event, event.id, event.data])
        except SSEWidgetsError as exc:  # 4xx from the hub: say so in the widget
            with self.lock:
                self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a relay must not kill the kernel
            with self.lock:
                self.error = f"{type(exc).__name__}: {exc}"

    def take(self) -> tuple[list[list[str | None]], str | None]:
        with self.lock:
            frames = self.pending[:MAX_FRAMES_PER_MESSAGE]
            del self.pending[:MAX_FRAMES_PER_MESSAGE]
            error, self.error = self.error, None
        return frames, error

    def stop(self) -> None:
        self.stream.close()


class Relay:
    """Serves the relay requests of one widget's views (attached by the widget)."""

    _active: ClassVar[set[RelayStream]] = set()
    _active_lock = threading.Lock()
    _flusher: ClassVar[threading.Thread | None] = None

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.streams: dict[str, RelayStream] = {}
        widget.on_msg(self._on_message)

    # -- messages from the views ------------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != MESSAGE_TYPE:
            return
        view = str(content.get("view", ""))
        action = content.get("action")
        if action == "start":
            self._stop(view)
            try:
                stream = RelayStream(self.widget, view, content)
            except Exception as exc:  # noqa: BLE001 - reported to the view
                self._send(view, error=f"relay could not start: {exc}")
                return
            self.streams[view] = stream
            self._register(stream)
            self._send(view, status="relay")
        elif action == "ping":
            pinged = self.streams.get(view)
            if pinged is not None:
                pinged.last_ping = time.monotonic()
        elif action == "stop":
            self._stop(view)
        elif action == "control":
            self._control(view, content)

    def _control(self, view: str, content: dict[str, Any]) -> None:
        request = content.get("request")
        try:
            get_publisher().post_control(str(content.get("channel", "")), content.get("message"))
        except Exception as exc:  # noqa: BLE001 - the button shows it
            self._send(view, reply=request, error=str(exc))
        else:
            self._send(view, reply=request, error=None)

    def _send(self, view: str, **content: Any) -> None:
        self.widget.send({"type": MESSAGE_TYPE, "view": view, **content})

    def _stop(self, view: str) -> None:
        stream = self.streams.pop(view, None)
        if stream is not None:
            with Relay._active_lock:
                Relay._active.discard(stream)
            stream.stop()

    def close(self) -> None:
        """Stop every stream of this widget (the widget was closed)."""
        for view in list(self.streams):
            self._stop(view)

    # -- the kernel-wide flusher ------------------------------------------------------------

    @classmethod
    def _register(cls, stream: RelayStream) -> None:
        with cls._active_lock:
            cls._active.add(stream)
            if cls._flusher is None or not cls._flusher.is_alive():
                cls._flusher = threading.Thread(
                    target=cls._flush_forever, name="sse-widgets-relay-flush", daemon=True
                )
                cls._flusher.start()

    @classmethod
    def _flush_forever(cls) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            with cls._active_lock:
                streams = list(cls._active)
            now = time.monotonic()
            for stream in streams:
                if now - stream.last_ping > STALE_SECONDS:
                    with cls._active_lock:
                        cls._active.discard(stream)
                    stream.stop()
                    continue
                frames, error = stream.take()
                try:
                    if frames:
                        stream.widget.send(
                            {"type": MESSAGE_TYPE, "view": stream.view, "frames": frames}
                        )
                    if error:
                        stream.widget.send(
                            {"type": MESSAGE_TYPE, "view": stream.view, "error": error}
                        )
                except Exception:  # a closed comm: drop that stream
                    log.debug("relay: could not send to view %s", stream.view, exc_info=True)
                    with cls._active_lock:
                        cls._active.discard(stream)
                    stream.stop()
