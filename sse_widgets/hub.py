"""The hub: the registry of channels; publishing, fan-out, subscribing and heartbeats.

One :class:`Hub` per server process. Publishing appends :class:`~sse_widgets.records.Record`
objects to a :class:`~sse_widgets.records.Channel`; each record is encoded once, when it is
published, and the same ``bytes`` go to every subscriber. Subscribers are
:class:`~sse_widgets.subscription.Subscription` queues that the transport drains.

Cursors (the SSE ``id:``) are ``"<epoch>-<seq>"``: ``seq`` is one counter for the whole hub,
so a single number orders events across every channel of a multiplexed stream, and ``epoch``
changes when the hub's memory is lost (a restart), so a cursor from an earlier life is
recognised instead of silently matching unrelated events. Resuming from a cursor replays
exactly the events after it; when the history no longer reaches back that far, the stream
gets an explicit ``reset`` event for that channel, then its snapshot (the latest state per
progress bar) and what history remains.

Pure Python and asyncio: must not import tornado or do I/O.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .errors import CapacityError, InvalidRequest, PayloadTooLarge
from .names import validate_channel_name, validate_event_name
from .protocol import validate_field
from .records import Channel, PublishItem, Record
from .replay import open_stream, refill
from .subscription import Subscription

__all__ = ["CONTROL_SUFFIX", "Hub", "HubConfig"]

#: A channel's control stream is ``<name>#control``: '#' cannot appear in a channel name, so
#: no client can publish to or read it as a channel.
CONTROL_SUFFIX = "#control"
HEARTBEAT = b": ping\n\n"


@dataclass(frozen=True)
class HubConfig:
    """Limits and behaviour of a hub; the server builds it from ``c.SSEWidgets`` traits."""

    history_size: int = 1000
    history_bytes: int = 16 * 1024 * 1024
    buffer_bytes: int = 8 * 1024 * 1024
    max_event_bytes: int = 1024 * 1024
    max_channels: int = 10_000
    max_subscribers: int = 10_000
    snapshot_size: int = 10_000
    retry_ms: int = 2000
    #: Wait this long after an event before waking subscribers, so that events arriving
    #: close together leave in one write per subscriber (0: wake at once).
    coalesce_ms: float = 10.0
    ping_interval: float = 15.0
    #: Conflated ("state") events: event name -> payload field holding the key.
    state_events: Mapping[str, str] = field(default_factory=lambda: {"progress": "bar"})

    def __post_init__(self) -> None:
        for name in (
            "history_size",
            "history_bytes",
            "buffer_bytes",
            "max_event_bytes",
            "max_channels",
            "max_subscribers",
            "snapshot_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HubConfig.{name} must be a positive int, not {value!r}")
        if self.retry_ms < 0 or self.ping_interval <= 0 or self.coalesce_ms < 0:
            raise ValueError(
                "HubConfig.retry_ms and coalesce_ms must be >= 0 and ping_interval > 0"
            )


class Hub:
    """Registry of channels; publishes, fans out, replays and keeps subscribers alive.

    >>> hub = Hub()
    >>> item = hub.prepare("log", {"message": "hi"})
    >>> [cursor] = hub.publish_nowait("demo", [item])
    >>> cursor.endswith("-1")
    True
    """

    def __init__(self, config: HubConfig | None = None, *, epoch: str | None = None) -> None:
        self.config = config or HubConfig()
        self.epoch = epoch or secrets.token_hex(4)
        self._seq = 0
        self._channels: dict[str, Channel] = {}
        self._tombstones: dict[str, int] = {}  # deleted channel -> its last seq
        self._subscriptions: set[Subscription] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._ready: list[Subscription] = []
        self._wake_handle: asyncio.TimerHandle | None = None
        # allow_nan=False: NaN and Infinity are not JSON; browsers' JSON.parse rejects them.
        self._encode = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode

    # -- publishing ---------------------------------------------------------------------

    def prepare(self, event: str, data: Any) -> PublishItem:
        """Validate an event and serialize its data once; raises InvalidRequest if unusable."""
        validate_event_name(event)
        try:
            payload = self._encode(data)
            if not payload.isascii():
                payload.encode()  # a lone surrogate cannot be sent as UTF-8
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"event {event!r}: data is not JSON-serializable: {exc}") from None
        return self.prepare_json(event, payload, data)

    def prepare_json(self, event: str, payload: str, data: Any) -> PublishItem:
        """:meth:`prepare` for data whose JSON text the caller already has (and vouches for:
        ``payload`` must be valid JSON encoding ``data``, with no NaN or Infinity)."""
        validate_event_name(event)
        # The limit is in UTF-8 bytes (ensure_ascii=False leaves multi-byte characters as is).
        size = len(payload) if payload.isascii() else len(payload.encode())
        if size > self.config.max_event_bytes:
            raise PayloadTooLarge(
                f"event {event!r} has {size} bytes of data; the limit is "
                f"{self.config.max_event_bytes} (c.SSEWidgets.max_event_bytes)"
            )
        key = None
        field = self.config.state_events.get(event)
        if field is not None and isinstance(data, dict):
            value = data.get(field)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                key = (event, str(value))
        return PublishItem(event, payload, key)

    async def publish(
        self,
        channel: str,
        items: Sequence[PublishItem],
        *,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Append events to a channel (created on first use); return their cursors.

        ``idempotency_key`` matters to shared backends, where another server process may
        get the retry of a batch; the memory hub's server keeps its replies itself.
        """
        return self.publish_nowait(channel, items)

    def publish_nowait(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        """Synchronous :meth:`publish` for the memory hub (same loop, no await needed)."""
        if not items:
            return []
        target = self._channel(validate_channel_name(channel))
        return self._append(target, items)

    def _append(self, target: Channel, items: Sequence[PublishItem]) -> list[str]:
        now = time.time()
        epoch, seq, name = self.epoch, self._seq, target.name
        records = []
        for item in items:
            seq += 1
            records.append(Record(seq, f"{epoch}-{seq}", name, item, now))
        self._seq = seq
        target.append(records)
        self._fan_out(target, records)
        return [r.cursor for r in records]

    def _fan_out(self, target: Channel, records: list[Record]) -> None:
        mux: list[bytes] | None = None
        mux_size = 0
        dead = []
        # A copy: pushing may close a subscriber, which unsubscribes it from this very dict.
        for sub in tuple(target.subscribers):
            if sub.catching_up:
                continue  # it reads these from the history when it gets there
            if sub.events is None and not sub.single:
                if mux is None:
                    mux = [r.frame for r in records]
                    mux_size = sum(map(len, mux))
                alive = sub.push_many(mux, mux_size)
            else:
                frames = [
                    r.single_frame if sub.single else r.frame for r in records if sub.wants(r.event)
                ]
                alive = not frames or sub.push_many(frames, sum(map(len, frames)))
            if not alive:
                dead.append(sub)
        for sub in dead:
            self.unsubscribe(sub)

    # -- control messages (viewer -> producer) --------------------------------------------

    def publish_control(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        """Publish viewer-to-producer messages on the channel's hidden control stream."""
        validate_channel_name(channel)
        return self._append(self._channel(channel + CONTROL_SUFFIX), items)

    def control_key(self, channel: str) -> str:
        """The internal key of a channel's control stream, for :meth:`subscribe`."""
        return validate_channel_name(channel) + CONTROL_SUFFIX

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self,
        channels: Iterable[str],
        *,
        events: Iterable[str] | None = None,
        cursor: str | None = None,
        replay: str = "none",
        single: bool = False,
    ) -> Subscription:
        """Open a subscription and queue its opening frames and replay.

        ``cursor`` (a ``Last-Event-ID``) resumes exactly after that event; without one,
        ``replay`` says where to start: ``"none"`` (live only), ``"snapshot"`` (latest state
        of each bar, then live) or ``"history"`` (snapshot and all retained history).
        Channel keys may be control keys from :meth:`control_key`.
        """
        keys = list(dict.fromkeys(channels))
        if not keys:
            raise InvalidRequest("subscribe to at least one channel (?channel=name)")
        for key in keys:
            name = key.removesuffix(CONTROL_SUFFIX) if isinstance(key, str) else key
            validate_channel_name(name)
        if replay not in ("none", "snapshot", "history"):
            raise InvalidRequest(f"replay must be none, snapshot or history, not {replay!r}")
        if len(self._subscriptions) >= self.config.max_subscribers:
            raise CapacityError(
                f"the hub has {len(self._subscriptions)} subscribers, its limit "
                "(c.SSEWidgets.max_subscribers); try again later"
            )
        if cursor is not None:
            try:
                validate_field("Last-Event-ID", cursor)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
        missing = sum(key not in self._channels for key in keys)
        if missing and len(self._channels) + missing > self.config.max_channels:
            self._channel_capacity_error()
        targets = [self._channel(key) for key in keys]
        sub = Subscription(
            keys,
            events=frozenset(events) if events is not None else None,
            single=single,
            limit_bytes=self.config.buffer_bytes,
        )
        frames = open_stream(self, targets, sub, cursor=cursor, replay=replay)
        sub.push_many(frames, sum(map(len, frames)))
        # A reader that starts behind pulls the history slice by slice as it drains (replay.py)
        # instead of having it all queued at once, so a long replay never meets the send-buffer
        # limit meant for readers that stall.
        sub.refill = self._refill
        sub.wake = self._schedule_wake
        for target in targets:
            target.subscribers[sub] = None
        self._subscriptions.add(sub)
        return sub

    def _schedule_wake(self, sub: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        # One timer for the whole hub: every subscriber with new frames is woken together
        # after coalesce_ms, however many events came in between.
        self._ready.append(sub)
        if self._wake_handle is None:
            delay = self.config.coalesce_ms / 1000
            self._wake_handle = loop.call_later(delay, self._wake_ready)

    def _wake_ready(self) -> None:
        self._wake_handle = None
        ready, self._ready = self._ready, []
        for sub in ready:
            sub.wake_now()

    def _refill(self, sub: Subscription) -> None:
        refill(self, sub, min(1024 * 1024, sub.limit_bytes // 4))

    def unsubscribe(self, sub: Subscription, reason: str = "unsubscribed") -> None:
        """Detach a subscription from its channels (the transport calls this when it ends)."""
        sub.close(reason)
        if sub in self._subscriptions:
            self._subscriptions.discard(sub)
            for key in sub.channels:
                target = self._channels.get(key)
                if target is not None:
                    target.subscribers.pop(sub, None)

    # -- channels ---------------------------------------------------------------------------

    def channel_or_none(self, key: str) -> Channel | None:
        """The channel with this key, if it exists (never creates one)."""
        return self._channels.get(key)

    def _channel(self, key: str) -> Channel:
        target = self._channels.get(key)
        if target is None:
            if len(self._channels) >= self.config.max_channels:
                self._channel_capacity_error()
            target = Channel(key, self.config, self._tombstones.pop(key, 0))
            self._channels[key] = target
        return target

    def _channel_capacity_error(self) -> NoReturn:
        raise CapacityError(
            f"the hub has {len(self._channels)} channels, its limit "
            "(c.SSEWidgets.max_channels); delete unused ones or raise the limit"
        )

    @property
    def head(self) -> str:
        """The cursor of the newest event in the hub (``<epoch>-0`` before any)."""
        return f"{self.epoch}-{self._seq}"

    @property
    def seq(self) -> int:
        """The newest sequence number handed out."""
        return self._seq

    def channels(self) -> list[dict[str, Any]]:
        """A description of every public channel, sorted by name."""
        return [
            {
                "name": c.name,
                "subscribers": len(c.subscribers),
                "last_id": c.last.cursor if c.last else None,
                "last_time": c.last.time if c.last else None,
                "retained": len(c),
                "retained_bytes": c.history_bytes,
            }
            for name, c in sorted(self._channels.items())
            if not name.endswith(CONTROL_SUFFIX)
        ]

    def delete_channel(self, name: str) -> bool:
        """End a channel: subscribers get a ``close`` event; return False if it did not exist."""
        validate_channel_name(name)
        found = False
        for key in (name, name + CONTROL_SUFFIX):
            target = self._channels.pop(key, None)
            if target is None:
                continue
            found = True
            self._tombstones[key] = max(target.evicted_upto, target.last.seq if target.last else 0)
            while len(self._tombstones) > self.config.max_channels:
                del self._tombstones[next(iter(self._tombstones))]
            for sub in list(target.subscribers):
                sub.push(close_frame(self, sub, name))
                sub.open_channels.discard(key)
                if not sub.open_channels:
                    self.unsubscribe(sub, "channel-deleted")
        return found

    # -- the awaitable API the servers use --------------------------------------------------
    # The memory hub answers at once; a shared backend (backends/redis_hub.py) overrides
    # these with calls that wait for Redis. Handlers always await them.

    async def subscribe_async(
        self,
        channels: Iterable[str],
        *,
        events: Iterable[str] | None = None,
        cursor: str | None = None,
        replay: str = "none",
        single: bool = False,
    ) -> Subscription:
        """:meth:`subscribe`, awaitable."""
        return self.subscribe(channels, events=events, cursor=cursor, replay=replay, single=single)

    async def publish_control_async(self, channel: str, items: Sequence[PublishItem]) -> list[str]:
        """:meth:`publish_control`, awaitable."""
        return self.publish_control(channel, items)

    async def channels_async(self) -> list[dict[str, Any]]:
        """:meth:`channels`, awaitable."""
        return self.channels()

    async def delete_channel_async(self, name: str) -> bool:
        """:meth:`delete_channel`, awaitable."""
        return self.delete_channel(name)

    # -- lifetime -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat task (needs a running event loop)."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._send_heartbeats())

    async def _send_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval)
            for sub in list(self._subscriptions):
                if sub.idle:
                    sub.push(HEARTBEAT)
                sub.idle = True

    async def close(self) -> None:
        """Close every subscription (streams end after what is queued) and stop the heartbeat."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        for sub in list(self._subscriptions):
            self.unsubscribe(sub, "hub-closed")


def close_frame(hub: Hub, sub: Subscription, channel: str) -> bytes:
    """The ``close`` event a subscriber gets when one of its channels is deleted."""
    payload = {"reason": "deleted"}
    data = payload if sub.single else {"channel": channel, "data": payload, "time": time.time()}
    # A reader still catching up has not reached the head: its ids must not jump past events
    # it has yet to read from its other channels.
    frame_id = f"{hub.epoch}-{sub.position}" if sub.catching_up else hub.head
    return f"id: {frame_id}\nevent: close\ndata: {json.dumps(data)}\n\n".encode()
