"""The hub on Redis: channels, seqs, epoch, history and snapshots shared by many processes.

:class:`RedisHub` is a :class:`~sse_widgets.hub.Hub` whose data lives in Redis
(:class:`~sse_widgets.backends.redis_store.RedisStore`). Publishing runs the store's script and
does *not* fan out: every process (this one included) fans out what its one
:class:`~sse_widgets.backends.redis_reader.StreamReader` reads back, so an event published on
another process reaches this process's subscribers the same way as a local one.

Each channel some local subscriber reads has a local :class:`~sse_widgets.records.Channel`
cache, filled from Redis (history, snapshot, ``evicted_upto``) before the first subscription
opens and then fed by the reader; the replay code of the memory hub runs unchanged on it. The
last subscriber leaving a channel drops its cache and stops reading it.

Subscribing needs Redis round trips, so it is :meth:`RedisHub.subscribe_async`; likewise
:meth:`RedisHub.publish_control_async` and :meth:`RedisHub.delete_channel_async`. The
synchronous methods of the memory hub raise a clear error instead of working on stale data.

Invariant behind the ordering guarantees: when a subscription opens at position ``P``, the
cache of each of its channels holds every event with a seq up to ``P`` (what Redis has), and
anything above ``P`` is either still to come from the reader (and fanned out to it) or, if the
reader was faster, read from the cache by catching up; so a stream's ids never decrease and a
cursor minted by another process resumes exactly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from ..hub import CONTROL_SUFFIX, Hub, HubConfig
from ..names import validate_channel_name
from ..records import Channel, PublishItem, Record
from ..subscription import Subscription
from .redis_reader import StreamReader
from .redis_store import DELETIONS, DOWN, RedisStore, StoredEvent

__all__ = ["RedisHub"]

log = logging.getLogger(__name__)

_PAGE = 1000  # history entries per XRANGE while filling a cache
_SYNC_TIMEOUT = 5.0  # longest wait for the reader to reach the head before subscribing


class RedisHub(Hub):
    """A hub whose channels live in Redis, shared by every process using the same Redis.

    >>> async def demo(url):  # doctest: +SKIP
    ...     hub = await RedisHub.connect(url)
    ...     sub = await hub.subscribe_async(["demo"])
    ...     await hub.publish("demo", [hub.prepare("log", {"message": "hi"})])
    """

    def __init__(self, store: RedisStore, config: HubConfig | None = None) -> None:
        super().__init__(config, epoch=store.epoch)
        self.store = store
        self.reader = StreamReader(
            store, self._on_events, on_epoch=self._on_epoch, on_gap=self._on_gap
        )
        # Every process follows the deletions stream, from where Redis was when it connected.
        self.reader.positions[DELETIONS] = store.head_at_start
        #: channel key -> highest seq its local cache holds (every event up to it is there)
        self._watched: dict[str, int] = {}
        #: channel key -> the seq up to which its cache was loaded from Redis (a deletion
        #: announced at a later seq ends the cache; one at or before it is already in it)
        self._filled: dict[str, int] = {}
        self._pin: int | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, url: str, config: HubConfig | None = None) -> RedisHub:
        """A started hub on the Redis at ``url``; raises ``BackendUnavailable`` (503, one
        message naming the URL without its password) when Redis cannot be reached."""
        hub = cls(await RedisStore.connect(url, **_store_options(config or HubConfig())), config)
        hub.reader.start()
        return hub

    @classmethod
    def open(cls, url: str, config: HubConfig | None = None) -> RedisHub:
        """:meth:`connect` for set-up code that runs before the event loop (the Jupyter
        extension): checks Redis at once, starts reading on the first :meth:`start` or
        subscription."""
        return cls(RedisStore.open(url, **_store_options(config or HubConfig())), config)

    def start(self) -> None:
        """Start the heartbeat and the Redis reader (needs a running event loop)."""
        super().start()
        self.reader.start()

    # -- publishing -------------------------------------------------------------------------

    async def publish(
        self,
        channel: str,
        items: Sequence[PublishItem],
        *,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Append events in Redis (one script); subscribers get them through the reader.

        A batch already published under ``idempotency_key`` (by any process using this Redis)
        gets its cursors back instead of being published again.
        """
        validate_channel_name(channel)
        return await self._publish_key(channel, items, idempotency_key)

    def publish_nowait(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        raise NotImplementedError("RedisHub publishes through Redis: use await hub.publish()")

    async def publish_control_async(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        """Publish viewer-to-producer messages on the channel's control stream, in Redis, so
        the producer gets them whichever process it reads from."""
        return await self._publish_key(self.control_key(channel), items, None)

    def publish_control(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        raise NotImplementedError(
            "RedisHub publishes through Redis: use await hub.publish_control_async()"
        )

    async def _publish_key(
        self, key: str, items: Sequence[PublishItem], idempotency_key: str | None
    ) -> list[str]:
        if not items:
            return []
        seqs = await self.store.publish_key(
            key, items, idempotency_key=idempotency_key, seen=self._seq
        )
        epoch = self.store.epoch
        if epoch != self.epoch:  # the script saw Redis's data gone before our reader did
            self.reader.positions = dict.fromkeys(self.reader.positions, 0)
            self._on_epoch(epoch)
        self._seq = max(self._seq, seqs[-1])
        return [f"{epoch}-{seq}" for seq in seqs]

    # -- the reader's events ----------------------------------------------------------------

    def _on_events(self, events: list[StoredEvent]) -> None:
        # One read of the reader, in seq order: each run of one channel's events is appended
        # and fanned out at once, as the memory hub does with a published batch.
        run: list[Record] = []
        target: Channel | None = None
        for event in events:
            key = event.channel
            if key == DELETIONS:
                self._flush(target, run)
                run, target = [], None
                self._on_deleted(event.payload, event.seq)
                continue
            known = self._watched.get(key)
            channel = self._channels.get(key)
            if known is None or channel is None or event.seq <= known:
                continue  # not (or no longer) cached here, or filled from the history already
            if channel is not target:
                self._flush(target, run)
                run, target = [], channel
            self._watched[key] = event.seq
            if event.seq > self._seq:
                self._seq = event.seq
            run.append(self._record(event))
        self._flush(target, run)

    def _flush(self, target: Channel | None, records: list[Record]) -> None:
        if target is not None and records:
            target.append(records)
            self._fan_out(target, records)

    def _record(self, event: StoredEvent) -> Record:
        key = event.key
        if key is None:
            field = self.config.state_events.get(event.event)
            if field is not None:
                data = json.loads(event.payload)
                value = data.get(field) if isinstance(data, dict) else None
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    key = (event.event, str(value))
        item = PublishItem(event.event, event.payload, key)
        return Record(event.seq, f"{self.epoch}-{event.seq}", event.channel, item, event.time)

    def _on_deleted(self, name: str, seq: int) -> None:
        # Another process (or this one) deleted a channel at ``seq``: close this process's
        # subscribers of a cache loaded before that; one loaded later is the new channel.
        if any(self._filled.get(k, seq) < seq for k in (name, name + CONTROL_SUFFIX)):
            self._forget([name, name + CONTROL_SUFFIX])
            Hub.delete_channel(self, name)

    def _forget(self, keys: list[str]) -> None:
        for key in keys:
            self._watched.pop(key, None)
            self._filled.pop(key, None)
        self._spawn(self.reader.unwatch(keys))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_gap(self, key: str) -> None:
        # The reader missed events of this channel (it stalled longer than Redis keeps trimmed
        # events for it). End its streams, as the memory hub ends a reader that falls too far
        # behind: clients resume with their cursor from a fresh cache, with a `reset` where
        # the history no longer reaches.
        target = self._channels.get(key)
        for sub in list(target.subscribers if target is not None else ()):
            self.unsubscribe(sub, "behind")

    def _on_epoch(self, epoch: str) -> None:
        # Redis lost its data: seqs start again from 1. Empty the caches (the reader reads
        # every channel again from 0) and make each subscriber announce a reset.
        log.warning("Redis lost its data: channels start again (epoch %s)", epoch)
        self.epoch = epoch
        self._seq = 0
        for key, old in list(self._channels.items()):
            fresh = Channel(key, self.config)
            fresh.subscribers = old.subscribers
            self._channels[key] = fresh
            self._watched[key] = self._filled[key] = 0
            for sub in old.subscribers:
                sub.resets[key] = "hub-restarted"
                sub.position, sub.catching_up, sub.seen_evicted = 0, True, {}
                sub.push(f"id: {epoch}-0\n\n".encode())  # wakes it; it refills from there

    # -- subscribing ------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The newest seq known here (pinned to the store's head while a subscription opens)."""
        return self._seq if self._pin is None else self._pin

    @property
    def head(self) -> str:
        return f"{self.epoch}-{self.seq}"

    async def subscribe_async(
        self,
        channels: Iterable[str],
        *,
        events: Iterable[str] | None = None,
        cursor: str | None = None,
        replay: str = "none",
        single: bool = False,
    ) -> Subscription:
        """:meth:`Hub.subscribe` after loading the channels from Redis (see the module doc)."""
        keys = list(dict.fromkeys(channels))
        for key in keys:
            name = key.removesuffix(CONTROL_SUFFIX) if isinstance(key, str) else key
            validate_channel_name(name)
        self.reader.start()
        async with self._lock:
            try:
                position = max(self._seq, await self.store.head())
                new = [k for k in keys if k not in self._watched]
                await self._sync([k for k in keys if k in self._watched], position)
                for key in new:
                    await self._fill(key, position)
            except DOWN as exc:
                self._release(keys)  # the channels loaded before Redis went away
                raise self.store.unavailable(exc) from None
            self._pin = position
            try:
                sub = super().subscribe(
                    keys, events=events, cursor=cursor, replay=replay, single=single
                )
            except BaseException:
                self._release(keys)
                raise
            finally:
                self._pin = None
        self._seq = max(self._seq, position)
        if not sub.catching_up and any(self._watched[k] > sub.position for k in keys):
            sub.catching_up = True  # the reader got ahead meanwhile: read those from the cache
        return sub

    def subscribe(self, channels: Iterable[str], **options: Any) -> Subscription:
        keys = list(dict.fromkeys(channels))
        if self._pin is None and any(k not in self._watched for k in keys):
            raise NotImplementedError(
                "RedisHub loads channels from Redis first: use await hub.subscribe_async()"
            )
        return super().subscribe(keys, **options)

    async def _fill(self, key: str, position: int) -> None:
        """Load a channel's cache: snapshot, history up to ``position``, ``evicted_upto``."""
        store = self.store
        states = await store.snapshot(key)
        events: list[StoredEvent] = []
        while True:
            page = await store.history(key, events[-1].seq if events else 0, _PAGE)
            events += [e for e in page if e.seq <= position]
            if len(page) < _PAGE or page[-1].seq >= position:
                break
        evicted = await store.evicted_upto(key)
        if len(self._channels) >= self.config.max_channels:
            self._channel_capacity_error()
        target = Channel(key, self.config, evicted)
        for state in states:
            if state.seq <= position:
                record = self._record(state)
                target.snapshot[record.key or (state.event, "")] = record
        records = [self._record(e) for e in events]
        if records:
            target.append(records)  # replaces the snapshot's records still in the history
        self._channels[key] = target
        self._watched[key] = self._filled[key] = position
        await self.reader.watch(key, position)

    async def _sync(self, keys: list[str], position: int) -> None:
        """Wait until the reader has put every event up to ``position`` in these caches."""
        deadline = asyncio.get_running_loop().time() + _SYNC_TIMEOUT
        for key in keys:
            while key in self._watched and self._watched[key] < position:
                ahead = await self.store.history(key, self._watched[key], 1)
                if not ahead or ahead[0].seq > position:
                    self._watched[key] = max(self._watched[key], position)
                    break
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("the Redis reader is behind on %r; subscribing anyway", key)
                    break
                await asyncio.sleep(0.005)

    def unsubscribe(self, sub: Subscription, reason: str = "unsubscribed") -> None:
        """Detach a subscription; channels left without subscribers stop being read."""
        attached = sub in self._subscriptions
        super().unsubscribe(sub, reason)
        if attached:
            self._release(sub.channels)

    def _release(self, keys: Iterable[str]) -> None:
        idle = []
        for key in keys:
            target = self._channels.get(key)
            if key in self._watched and (target is None or not target.subscribers):
                self._channels.pop(key, None)
                del self._watched[key]
                self._filled.pop(key, None)
                idle.append(key)
        if idle:
            self._spawn(self._unwatch(idle))

    async def _unwatch(self, keys: list[str]) -> None:
        async with self._lock:  # a subscribe_async meanwhile may have taken them again
            await self.reader.unwatch([k for k in keys if k not in self._watched])

    # -- channels ---------------------------------------------------------------------------

    async def channels_async(self) -> list[dict[str, Any]]:
        """Every public channel in Redis, with this process's subscriber counts; like the
        memory hub, a channel someone here subscribed to is listed before its first event."""
        stored = await self.store.channels()
        known = {info["name"] for info in stored}
        for name, cached in self._channels.items():
            if name not in known and not name.endswith(CONTROL_SUFFIX) and cached.subscribers:
                stored.append(
                    {"name": name, "last_seq": None, "last_time": None, "retained": 0}
                    | {"retained_bytes": 0}
                )
        result = []
        for info in sorted(stored, key=lambda info: str(info["name"])):
            name = info["name"]
            if name.endswith(CONTROL_SUFFIX):
                continue
            local = self._channels.get(name)
            seq = info["last_seq"]
            result.append(
                {
                    "name": name,
                    "subscribers": len(local.subscribers) if local is not None else 0,
                    "last_id": f"{self.epoch}-{seq}" if seq is not None else None,
                    "last_time": info["last_time"],
                    "retained": info["retained"],
                    "retained_bytes": info["retained_bytes"],
                }
            )
        return result

    async def delete_channel_async(self, name: str) -> bool:
        """Delete a channel and its control stream in Redis; subscribers get ``close`` on
        this process at once, and on every other process when its reader sees the deletion
        (announced on the deletions stream, after the channel's last event)."""
        validate_channel_name(name)
        found, _ = await self.store.delete(name)
        self._forget([name, name + CONTROL_SUFFIX])
        return Hub.delete_channel(self, name) or found

    def delete_channel(self, name: str) -> bool:
        raise NotImplementedError("RedisHub deletes in Redis: use await hub.delete_channel_async()")

    # -- lifetime ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the subscriptions, stop the reader and close the Redis connections."""
        await super().close()
        for task in list(self._tasks):
            task.cancel()
        await self.reader.close()
        await self.store.close()


def _store_options(config: HubConfig) -> dict[str, Any]:
    return {
        "history_size": config.history_size,
        "history_bytes": config.history_bytes,
        "snapshot_size": config.snapshot_size,
        "state_events": dict(config.state_events),
    }
