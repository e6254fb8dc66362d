"""One subscriber's outgoing byte queue: coalesced writes and a bounded send buffer.

The hub pushes already-encoded frames (shared ``bytes`` objects, never copied per subscriber)
onto a :class:`Subscription`; the transport (a Tornado handler, an in-process relay) awaits
:meth:`Subscription.next_chunk`, which joins everything queued since its last call into one
write. When events arrive faster than the socket drains, they pile up here and leave as one
large write instead of thousands of small ones: that is the coalescing.

The queue is bounded: when what is queued plus what the transport has in flight passes
``limit_bytes``, the subscription is closed with reason ``"slow-consumer"`` and its transport
aborted, so one stalled reader can neither slow the others nor grow the server's memory. The
reader can reconnect with its last cursor and lose nothing still in the history.

Pure asyncio; must not import tornado.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

__all__ = ["Subscription"]


class Subscription:
    """The queue of frames waiting to be written to one subscriber.

    ``channels`` are the hub channel keys it reads, ``events`` the event names it wants (None
    for all), ``single`` whether it takes the single-channel frame format.
    """

    __slots__ = (
        "_chunks",
        "_inflight_bytes",
        "_pending_bytes",
        "_waiter",
        "channels",
        "close_reason",
        "drain_on_close",
        "events",
        "idle",
        "limit_bytes",
        "on_abort",
        "open_channels",
        "single",
    )

    def __init__(
        self,
        channels: Iterable[str],
        *,
        events: frozenset[str] | None = None,
        single: bool = False,
        limit_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.channels: tuple[str, ...] = tuple(channels)
        self.open_channels: set[str] = set(self.channels)
        self.events = events
        self.single = single
        self.limit_bytes = limit_bytes
        self.close_reason: str | None = None
        self.drain_on_close = True
        #: Set by the transport: called when the hub must cut the connection at once.
        self.on_abort: Callable[[], None] | None = None
        #: Cleared on every push; the hub's heartbeat sends a comment to idle subscribers.
        self.idle = False
        self._chunks: list[bytes] = []
        self._pending_bytes = 0
        self._inflight_bytes = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        """True once the hub or the transport closed this subscription."""
        return self.close_reason is not None

    @property
    def buffered_bytes(self) -> int:
        """Bytes queued here plus the bytes of the last chunk not yet confirmed written."""
        return self._pending_bytes + self._inflight_bytes

    def wants(self, event: str) -> bool:
        """Whether an event of this name passes the subscriber's event filter."""
        return self.events is None or event in self.events

    def push(self, frame: bytes) -> bool:
        """Queue one frame; return False if the subscription is (or just got) closed."""
        if self.close_reason is not None:
            return False
        self._chunks.append(frame)
        self._pending_bytes += len(frame)
        return self._after_push()

    def push_many(self, frames: list[bytes], size: int) -> bool:
        """Queue frames whose lengths add up to ``size``; one wake-up for the whole batch."""
        if self.close_reason is not None:
            return False
        self._chunks.extend(frames)
        self._pending_bytes += size
        return self._after_push()

    def _after_push(self) -> bool:
        self.idle = False
        if self._pending_bytes + self._inflight_bytes > self.limit_bytes:
            self.close("slow-consumer", drain=False)
            return False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def next_chunk(self) -> bytes | None:
        """Wait for frames and return all that are queued as one chunk; None when finished.

        The transport calls :meth:`written` once the chunk has reached the socket, which
        releases it from the send-buffer accounting.
        """
        while not self._chunks:
            if self.close_reason is not None:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.close_reason is not None and not self.drain_on_close:
            return None
        chunk = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        self._inflight_bytes = len(chunk)
        self._pending_bytes = 0
        return chunk

    def written(self) -> None:
        """The transport confirms the last chunk left the process."""
        self._inflight_bytes = 0

    def close(self, reason: str, *, drain: bool = True) -> None:
        """End the subscription; with ``drain`` the frames already queued are still sent.

        Without ``drain`` the queue is dropped and the transport is aborted, which is how a
        slow consumer is cut off without waiting for a socket that does not drain.
        """
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self.drain_on_close = drain
        if not drain:
            self._chunks = []
            self._pending_bytes = 0
            if self.on_abort is not None:
                self.on_abort()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
