"""Channels kept in Redis Streams, shared by every server process that uses the same Redis.

The storage layer the Redis backend of the hub is built on; it knows nothing of subscribers,
frames or HTTP. Layout (every key under one prefix, by default ``{sse_widgets}:``; the braces
are a Redis Cluster hash tag, so all keys live in one slot and one script may touch them all):

- ``epoch``: a random token created once (``SET NX``); it names this Redis's life. If Redis
  loses its data, the next publish creates a new one, so old cursors are recognised as stale.
- ``seq``: the hub-wide counter. A stream entry's id is ``<seq>-0``, so stream ids *are* the
  global sequence: one total order across channels, whichever process published.
- ``s:<channel>``: the channel's stream; fields ``e`` (event), ``d`` (payload JSON), ``t`` (time).
- ``snap:<channel>`` (hash ``<event>\\n<key>`` -> ``<time> <payload>``) and ``snapi:<channel>``
  (sorted set of the same fields by seq): the latest state per bar, oldest dropped first.
- ``evicted`` (hash channel -> highest seq trimmed from that channel) and ``channels`` (set).

Must not: import tornado, hold per-viewer state, or open a Redis connection per reader; one
:class:`StreamReader` per process reads every active channel.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import BackendUnavailable, InvalidRequest
from ..names import validate_channel_name, validate_event_name
from ..records import PublishItem
from .redis_scripts import DELETE, DELETIONS, EPOCH, FRAME_FIXED, PUBLISH

try:
    import redis
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "the Redis backend needs the redis package: pip install sse_widgets[redis]",
        name="redis",
    ) from exc

__all__ = [
    "DELETIONS",
    "DOWN",
    "BackendUnavailable",
    "RedisStore",
    "StoredEvent",
    "scrub_url",
    "seq_of",
    "stored_event",
]

log = logging.getLogger(__name__)

# Redis is unreachable: redis-py's connection errors (BusyLoadingError, "LOADING" while a
# restarted server reads its AOF, is one) and the socket's. Script errors are not among them.
DOWN = (OSError, RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event read back from Redis; ``key`` is the snapshot key for state events."""

    channel: str
    seq: int
    event: str
    payload: str
    time: float
    key: tuple[str, str] | None = None


def scrub_url(url: str) -> str:
    """``url`` without its password, fit for messages and logs.

    >>> scrub_url("redis://user:secret@db:6379/0")
    'redis://user:***@db:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def seq_of(stream_id: str | bytes) -> int:
    """The seq of a stream id ``<seq>-0``."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return int(text.partition("-")[0])


class RedisStore:
    """Channels in Redis Streams: publish, history, snapshot, evictions.

    >>> async def demo(url):  # doctest: +SKIP
    ...     store = await RedisStore.connect(url)
    ...     await store.publish("demo", [("log", '{"message": "hi"}')])
    [1]
    """

    def __init__(
        self,
        url: str,
        *,
        history_size: int = 1000,
        history_bytes: int = 16 * 1024 * 1024,
        snapshot_size: int = 10_000,
        state_events: dict[str, str] | None = None,
        prefix: str = "{sse_widgets}:",
        idempotency_seconds: int = 600,
        live_grace: float = 30.0,
        live_cap: int = 100_000,
    ) -> None:
        self.url = url
        self.history_size = history_size
        self.history_bytes = history_bytes
        self.snapshot_size = snapshot_size
        self.state_events = {"progress": "bar"} if state_events is None else state_events
        self.prefix = prefix
        self.idempotency_seconds = idempotency_seconds
        #: Events trimmed from the history stay readable by the processes' readers this many
        #: seconds (at most ``live_cap`` of them per channel), so live streams get them all.
        self.live_grace = live_grace
        self.live_cap = live_cap
        #: The epoch of this Redis's data (set by :meth:`connect`, refreshed by publishes).
        self.epoch = ""
        #: The newest seq when the store connected.
        self.head_at_start = 0
        # No automatic retries: a publish whose reply was lost may have run, and running it
        # again would publish twice. Callers see the error (503) and decide.
        # Typed Any: redis-py's annotations cannot express decode_responses=True (str replies).
        # Creating the client opens no connection, so this works before an event loop runs.
        # Explicit timeouts (older redis-py has none): a frozen Redis gives a 503, not a hang.
        self.redis: Any = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        self._publish_script = self.redis.register_script(PUBLISH)
        self._delete_script = self.redis.register_script(DELETE)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisStore:
        """A store whose Redis answered; raises :class:`BackendUnavailable` otherwise."""
        store = cls(url, **options)
        try:
            await store.redis.ping()
            store.epoch = await store.current_epoch(store.redis)
            store.head_at_start = await store.head()
        except DOWN as exc:
            await store.close()
            raise store.unavailable(exc, starting=True) from None
        return store

    @classmethod
    def open(cls, url: str, *, timeout: float = 5.0, **options: Any) -> RedisStore:
        """:meth:`connect` for code that runs before the event loop (the Jupyter extension's
        set-up): checks Redis with a short-lived blocking connection."""
        store = cls(url, **options)
        client: Any = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            client.set(store._key("epoch"), secrets.token_hex(4), nx=True)
            store.epoch = str(client.get(store._key("epoch")))
            store.head_at_start = int(client.get(store._key("seq")) or 0)
        except DOWN as exc:
            raise store.unavailable(exc, starting=True) from None
        finally:
            client.close()
        return store

    def unavailable(self, exc: BaseException, *, starting: bool = False) -> BackendUnavailable:
        """The error to raise for ``exc``: which Redis, what failed, what to do."""
        what = "cannot reach" if starting else "lost"
        return BackendUnavailable(
            f"{what} Redis at {scrub_url(self.url)} ({type(exc).__name__}: {exc}); check that "
            "redis-server runs there and c.SSEWidgets.backend names it, then try again"
        )

    async def current_epoch(self, client: Any) -> str:
        """The epoch of the data in Redis, created if there is none yet (``SET NX``)."""
        await client.set(self._key("epoch"), secrets.token_hex(4), nx=True)
        return str(await client.get(self._key("epoch")))

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def stream_key(self, channel: str) -> str:
        """The Redis key of a channel's stream."""
        return self._key("s", channel)

    # -- publishing ------------------------------------------------------------------------

    def item(self, event: str, payload: str) -> PublishItem:
        """Validate an ``(event, payload JSON)`` pair; raises InvalidRequest naming the fault."""
        validate_event_name(event)
        if not isinstance(payload, str):
            raise InvalidRequest(f"event {event!r}: data must be JSON text, not {payload!r}")
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InvalidRequest(f"event {event!r}: data is not valid JSON: {exc}") from None
        key = None
        field = self.state_events.get(event)
        if field is not None and isinstance(data, dict):
            value = data.get(field)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                key = (event, str(value))
        return PublishItem(event, payload, key)

    async def publish(
        self,
        channel: str,
        frames: Sequence[PublishItem | tuple[str, str]],
        *,
        now: float | None = None,
        idempotency_key: str | None = None,
    ) -> list[int]:
        """Append events to ``channel`` atomically; return their seqs (consecutive).

        Tuples are validated here; PublishItems come from ``Hub.prepare`` and are trusted.
        With ``idempotency_key``, a batch already published under that key (by any process,
        within ``idempotency_seconds``) is not published again: its seqs are returned.
        Raises :class:`BackendUnavailable` when Redis cannot be reached.
        """
        validate_channel_name(channel)
        items = [f if isinstance(f, PublishItem) else self.item(*f) for f in frames]
        return await self.publish_key(channel, items, now=now, idempotency_key=idempotency_key)

    async def check_epoch(self, client: Any, seen: int) -> str:
        """The epoch of Redis's data, renewed if Redis holds fewer seqs than ``seen`` (it lost
        data: seqs would be handed out twice); created if there is none."""
        keys = [self._key("epoch"), self._key("seq")]
        args = [secrets.token_hex(4), self.epoch, seen]
        return str(await client.eval(EPOCH, len(keys), *keys, *args))

    async def publish_key(
        self,
        key: str,
        items: Sequence[PublishItem],
        *,
        now: float | None = None,
        idempotency_key: str | None = None,
        seen: int = 0,
    ) -> list[int]:
        """:meth:`publish` to any stream key, control streams (``<name>#control``) included;
        neither the key nor the items are validated. ``seen``: the highest seq the caller
        has seen; Redis holding fewer means it lost data, and the epoch is renewed."""
        if not items:
            return []
        idem = self.idempotency_seconds if idempotency_key else 0
        args: list[str | int | float] = [
            secrets.token_hex(4),
            self.epoch,
            seen,
            key,
            self.history_size,
            self.snapshot_size,
            time.time() if now is None else now,
            self.history_bytes,
            FRAME_FIXED,
            idem,
            self.live_grace,
            self.live_cap,
        ]
        for it in items:
            # Event names cannot hold a LF, so "<event>\n<key>" splits back unambiguously.
            args += [it.event, it.payload, f"{it.key[0]}\n{it.key[1]}" if it.key else ""]
        keys = [
            self._key("epoch"),
            self._key("seq"),
            self._key("s", key),
            self._key("snap", key),
            self._key("snapi", key),
            self._key("evicted"),
            self._key("channels"),
            self._key("bytes"),
            self._key("idem", idempotency_key or ""),
            self._key("count"),
            self._key("ptrim"),
        ]
        try:
            epoch, first, _replayed = await self._publish_script(keys=keys, args=args)
        except DOWN as exc:
            raise self.unavailable(exc) from None
        if epoch != self.epoch:
            log.warning("Redis at %s lost its data (new epoch %s)", scrub_url(self.url), epoch)
            self.epoch = epoch
        return list(range(int(first), int(first) + len(items)))

    # -- reading ---------------------------------------------------------------------------

    async def history(
        self, channel: str, after_seq: int = 0, count: int = 512
    ) -> list[StoredEvent]:
        """Up to ``count`` retained events of ``channel`` with a seq above ``after_seq``.

        Retained as a replay sees it: events trimmed from the history but still in the stream
        for the readers (see ``live_grace``) are left out.
        """
        start = max(after_seq, await self.evicted_upto(channel))
        entries = await self.redis.xrange(
            self._key("s", channel), min=f"({start}-0", max="+", count=count
        )
        return [stored_event(channel, entry_id, fields) for entry_id, fields in entries]

    async def snapshot(self, channel: str) -> list[StoredEvent]:
        """The latest state per bar of ``channel``, oldest first."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key("snap", channel))
            pipe.zrange(self._key("snapi", channel), 0, -1, withscores=True)
            states, order = await pipe.execute()
        result = []
        for field, score in order:
            value = states.get(field)
            if value is None:
                continue
            event, _, key = field.partition("\n")
            stamp, _, payload = value.partition(" ")
            state = StoredEvent(channel, int(score), event, payload, float(stamp), (event, key))
            result.append(state)
        return result

    async def evicted_upto(self, channel: str) -> int:
        """The highest seq trimmed from ``channel`` (or its last seq when deleted); 0 if none."""
        return int(await self.redis.hget(self._key("evicted"), channel) or 0)

    async def retained_bytes(self, channel: str) -> int:
        """The bytes of ``channel``'s retained history, measured as the memory hub does."""
        return int(await self.redis.hget(self._key("bytes"), channel) or 0)

    async def head(self) -> int:
        """The newest seq handed out (0 before any publish)."""
        return int(await self.redis.get(self._key("seq")) or 0)

    async def channels(self) -> list[dict[str, Any]]:
        """Every channel, sorted by name: ``name``, ``last_seq``, ``last_time``, ``retained``,
        ``retained_bytes``."""
        names = sorted(await self.redis.smembers(self._key("channels")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.xrevrange(self._key("s", name), count=1)
            pipe.hmget(self._key("count"), names or ["-"])
            pipe.hmget(self._key("bytes"), names or ["-"])
            replies = await pipe.execute()
        counts, sizes = replies[-2], replies[-1]
        result = []
        for i, name in enumerate(names):
            top, count = replies[i], int(counts[i] or 0)
            last = stored_event(name, *top[0]) if top else None
            result.append(
                {
                    "name": name,
                    "last_seq": last.seq if last else None,
                    "last_time": last.time if last else None,
                    "retained": count,
                    "retained_bytes": int(sizes[i] or 0),
                }
            )
        return result

    async def delete(self, channel: str) -> tuple[bool, int]:
        """Remove a channel and its control stream (events, snapshots) and announce it on the
        :data:`DELETIONS` stream; return (whether it existed, the announcement's seq)."""
        validate_channel_name(channel)
        names = [channel, channel + "#control"]
        keys = [
            self._key("seq"),
            self._key("evicted"),
            self._key("channels"),
            self._key("bytes"),
            self._key("s", DELETIONS),
            self._key("count"),
            self._key("ptrim"),
        ]
        for name in names:
            keys += [self._key("s", name), self._key("snap", name), self._key("snapi", name)]
        try:
            found, seq = await self._delete_script(keys=keys, args=[time.time(), *names])
        except DOWN as exc:
            raise self.unavailable(exc) from None
        return bool(found), int(seq)

    async def close(self) -> None:
        """Close the store's connections."""
        await self.redis.aclose()


def stored_event(channel: str, entry_id: str, fields: dict[str, str]) -> StoredEvent:
    """The event of a stream entry (id ``<seq>-0``, fields e, d, t)."""
    return StoredEvent(channel, seq_of(entry_id), fields["e"], fields["d"], float(fields["t"]))
