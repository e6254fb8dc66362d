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

_MAX_WRITE = 256 * 1024


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
        "_wake_scheduled",
        "announce",
        "catching_up",
        "channels",
        "close_reason",
        "compact",
        "drain_on_close",
        "events",
        "idle",
        "limit_bytes",
        "on_abort",
        "open_channels",
        "position",
        "refill",
        "resets",
        "seen_evicted",
        "single",
        "wake",
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
        #: Set by the hub to delay wake-ups and batch them (coalescing); None wakes at once.
        self.wake: Callable[[Subscription, asyncio.AbstractEventLoop], None] | None = None
        self._wake_scheduled = False
        # Catching up from the history (see replay.py): while ``catching_up`` the hub's fan-out
        # skips this subscription and ``refill`` queues the history after ``position``.
        self.position = 0
        self.catching_up = False
        self.refill: Callable[[Subscription], None] | None = None
        self.announce = True  # send ``reset`` events (not for a fresh viewer's first replay)
        self.resets: dict[str, str] = {}  # channel -> reason still to announce
        self.seen_evicted: dict[str, int] = {}  # channel -> evicted_upto already handled
        self.compact: set[str] = set()  # channels whose superseded states are skipped

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

    def push_many(self, frames: list[bytes], size: int, *, from_history: bool = False) -> bool:
        """Queue frames whose lengths add up to ``size``; one wake-up for the whole batch.

        ``from_history``: a slice the reader pulled while catching up (bounded by the hub,
        queued only when the reader had drained everything), so not a sign of a stalled reader.
        """
        if self.close_reason is not None:
            return False
        self._chunks.extend(frames)
        self._pending_bytes += size
        return self._after_push(check_limit=not from_history)

    def _after_push(self, *, check_limit: bool = True) -> bool:
        self.idle = False
        if check_limit and self._pending_bytes + self._inflight_bytes > self.limit_bytes:
            self.close("slow-consumer", drain=False)
            return False
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._wake_scheduled:
            if self.wake is None:
                waiter.set_result(None)
            else:
                self._wake_scheduled = True
                self.wake(self, waiter.get_loop())
        return True

    def wake_now(self) -> None:
        """Wake the transport waiting in :meth:`next_chunk` (the hub's coalescing timer)."""
        self._wake_scheduled = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_chunk(self) -> bytes | None:
        """Wait for frames and return all that are queued as one chunk; None when finished.

        The transport calls :meth:`written` once the chunk has reached the socket, which
        releases it from the send-buffer accounting.
        """
        while not self._chunks:
            if self.close_reason is not None:
                return None
            if self.catching_up and self.refill is not None:
                self.refill(self)
                continue
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.close_reason is not None and not self.drain_on_close:
            return None
        chunks = self._chunks
        if len(chunks) == 1:
            chunk = chunks[0]
            self._chunks = []
        else:
            # At most ~256 KiB per write: the join is a copy per subscriber (and so is the
            # transport's framing), so a large backlog leaves in slices, not in one copy.
            size = count = 0
            for frame in chunks:
                size += len(frame)
                count += 1
                if size >= _MAX_WRITE:
                    break
            chunk = b"".join(chunks[:count])
            del chunks[:count]
        self._inflight_bytes = len(chunk)
        self._pending_bytes -= len(chunk)
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
