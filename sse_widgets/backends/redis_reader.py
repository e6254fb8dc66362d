"""The one Redis reader of a server process: every active channel, one connection.

:class:`StreamReader` follows the channels the process's viewers watch with ``XREAD BLOCK``
and hands each event to a callback (the hub fans it out locally), so the number of Redis
connections does not grow with the number of browsers. Must not know about subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .redis_store import DELETIONS, DOWN, RedisStore, StoredEvent, scrub_url, seq_of, stored_event

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ModuleNotFoundError as exc:  # pragma: no cover - redis_store raised already
    raise ModuleNotFoundError(
        "the Redis backend needs the redis package: pip install sse_widgets[redis]",
        name="redis",
    ) from exc

__all__ = ["Callback", "StreamReader"]

log = logging.getLogger(__name__)

#: Called with the events of one read, in seq order (across channels).
Callback = Callable[[list[StoredEvent]], Awaitable[None] | None]


class StreamReader:
    """One task per process reading the active channels with ``XREAD BLOCK``, in seq order.

    The set of channels changes with :meth:`watch` / :meth:`unwatch`. A blocked XREAD is woken
    with ``CLIENT UNBLOCK`` from the store's other connection, so a new channel is read at
    once instead of after the block timeout; the short block (``block_ms``) only bounds the
    rare race where the unblock lands just before the read starts. Cancelling the read
    instead would leave the connection mid-reply, forcing a reconnect each time.

    When Redis goes away the reader retries with backoff (``on_state(False)`` then
    ``on_state(True)``) and resumes from the last seq seen per channel: nothing Redis kept is
    lost. Events of one XREAD are passed on sorted by seq across channels.
    """

    def __init__(
        self,
        store: RedisStore,
        callback: Callback,
        *,
        on_state: Callable[[bool], None] | None = None,
        on_epoch: Callable[[str], None] | None = None,
        on_gap: Callable[[str], None] | None = None,
        block_ms: int = 1000,
        batch: int = 512,
    ) -> None:
        self.store = store
        self.callback = callback
        self.on_state = on_state
        self.on_epoch = on_epoch
        self.on_gap = on_gap
        self.gap_check_interval = 1.0
        self._checked = time.monotonic()
        self._changed = asyncio.Event()
        self.block_ms = block_ms
        self.batch = batch
        self.positions: dict[str, int] = {}  # channel -> last seq passed on
        self.connected = False
        self._client_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Its own connection, with a socket timeout longer than the block.
        self._redis: Any = aioredis.Redis.from_url(
            store.url,
            decode_responses=True,
            single_connection_client=True,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=block_ms / 1000 + 10,
        )

    def start(self) -> None:
        """Start the reading task (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def watch(self, channel: str, after_seq: int) -> None:
        """Read ``channel`` from after ``after_seq`` on (no effect if already read)."""
        if channel not in self.positions:
            self.positions[channel] = after_seq
            await self._wake()

    async def unwatch(self, channels: Iterable[str]) -> None:
        """Stop reading these channels."""
        for channel in channels:
            self.positions.pop(channel, None)
        await self._wake()

    async def _wake(self) -> None:
        self._changed.set()
        if self._client_id is not None:
            try:
                await self.store.redis.client_unblock(self._client_id)
            except DOWN:
                pass  # the reader sees the outage itself

    async def _run(self) -> None:
        delay = 0.05
        while not self._stopping:
            try:
                if self._client_id is None:
                    self._client_id = await self._redis.client_id()
                    await self._check_epoch()
                    self._set_state(True)
                    delay = 0.05
                await self._read_once()
                if time.monotonic() - self._checked > self.gap_check_interval:
                    await self._check_gaps()
            except asyncio.CancelledError:
                raise
            except DOWN as exc:
                self._client_id = None
                if self.connected:
                    log.warning("lost Redis at %s: %s", scrub_url(self.store.url), exc)
                    await self._drop_idle_store_connections()
                self._set_state(False)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)  # back within ~1 s of Redis

    async def _drop_idle_store_connections(self) -> None:
        # Redis went away, so the store's idle pooled connections are dead too. Left in the
        # pool, each would fail the first command given to it after Redis is back (a 503 for
        # a publish or a new stream although Redis answers; the store does not retry, since a
        # publish may have run). Closed now, the store connects afresh. Connections in use
        # are left to fail (or not) with their own command.
        try:
            await self.store.redis.connection_pool.disconnect(inuse_connections=False)
        except DOWN:
            pass

    async def _check_epoch(self) -> None:
        # After an outage: if Redis came back without its data (a new epoch), the seqs start
        # again from 1, below our positions; read everything there is, and say so.
        # Also if it came back with fewer events than we read (an AOF cut short by a crash):
        # check_epoch then renews the epoch, as the next publish would.
        epoch = await self.store.check_epoch(self._redis, max(self.positions.values(), default=0))
        if self.store.epoch and epoch != self.store.epoch:
            log.warning("Redis at %s lost its data (epoch %s)", scrub_url(self.store.url), epoch)
            self.positions = dict.fromkeys(self.positions, 0)
            if self.on_epoch is not None:
                self.on_epoch(epoch)
        self.store.epoch = epoch

    async def _check_gaps(self) -> None:
        # Events trimmed from the history stay in the stream for a grace period, so readers
        # normally read them all. A reader that stalled longer (a paused process) finds the
        # stream trimmed past its position: say so rather than skip events silently.
        self._checked = time.monotonic()
        channels = [c for c in self.positions if c != DELETIONS]
        if not channels:
            return
        trimmed = await self._redis.hmget(self.store._key("ptrim"), channels)
        for channel, value in zip(channels, trimmed, strict=True):
            position = self.positions.get(channel)
            if value is not None and position is not None and int(value) > position:
                log.warning("the Redis reader fell behind on %r and missed events", channel)
                self.positions[channel] = int(value)
                if self.on_gap is not None:
                    self.on_gap(channel)

    async def _read_once(self) -> None:
        self._changed.clear()
        if self._stopping:  # close() came while connecting: no blocking read to wake
            return
        streams = {self.store._key("s", c): f"{s}-0" for c, s in self.positions.items()}
        if not streams:
            try:
                await asyncio.wait_for(self._changed.wait(), self.block_ms / 1000)
            except asyncio.TimeoutError:
                pass
            return
        reply = await self._redis.xread(streams, count=self.batch, block=self.block_ms)
        events = []
        cutoff: int | None = None
        cut = len(self.store._key("s", ""))
        for key, entries in reply or []:
            channel = key[cut:]
            events += [stored_event(channel, i, f) for i, f in entries]
            if len(entries) == self.batch:
                # This stream has more: events of other streams past its last one must wait
                # for the next read, or they would overtake its remaining ones.
                last = seq_of(entries[-1][0])
                cutoff = last if cutoff is None else min(cutoff, last)
        events.sort(key=lambda e: e.seq)
        ready = []
        for event in events:
            if cutoff is not None and event.seq > cutoff:
                break
            if self.positions.get(event.channel, event.seq) >= event.seq:
                continue  # unwatched meanwhile, or already passed on
            self.positions[event.channel] = event.seq
            ready.append(event)
        if ready and not self._stopping:
            # One call per reply: the hub fans out a run of one channel's events at once.
            result = self.callback(ready)
            if result is not None:
                await result

    def _set_state(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            if self.on_state is not None:
                self.on_state(connected)

    async def close(self) -> None:
        """Stop the task and close the reader's connection."""
        # Ask the loop to end and wake its read, rather than cancelling it at once: redis-py
        # cancelled mid-XREAD was seen to hang while tearing the connection down.
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            await self._wake()
            try:
                await asyncio.wait_for(task, self.block_ms / 1000 + 2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        await self._redis.aclose()
