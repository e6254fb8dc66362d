"""RedisHub against a real redis-server: two hubs (two server processes) sharing one Redis.

Both hubs run in one event loop; each has its own store connections and its own reader, as
two processes would. Streams are read from the Subscription queue and parsed like a client.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401

from sse_widgets.backends.redis_hub import RedisHub
from sse_widgets.backends.redis_store import BackendUnavailable
from sse_widgets.hub import Hub, HubConfig
from sse_widgets.protocol import Event, EventParser
from sse_widgets.subscription import Subscription

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(factory(), 20))


async def two_hubs(url: str, **limits: int) -> tuple[RedisHub, RedisHub]:
    config = HubConfig(coalesce_ms=0, **limits)
    return await RedisHub.connect(url, config), await RedisHub.connect(url, config)


async def read(sub: Subscription, parser: EventParser, count: int) -> list[Event]:
    """The next ``count`` events of the stream (fails after 5 s without them)."""
    events: list[Event] = []
    while len(events) < count:
        chunk = await asyncio.wait_for(sub.next_chunk(), 5)
        assert chunk is not None, sub.close_reason
        sub.written()
        events += parser.feed(chunk)
    return events


async def drain(sub: Subscription, parser: EventParser) -> list[Event]:
    """Everything the stream has to send within 0.3 s."""
    events: list[Event] = []
    while True:
        try:
            chunk = await asyncio.wait_for(sub.next_chunk(), 0.3)
        except asyncio.TimeoutError:
            return events
        assert chunk is not None
        sub.written()
        events += parser.feed(chunk)


def seqs(events: list[Event]) -> list[int]:
    return [int(str(e.id).rpartition("-")[2]) for e in events]


def summary(events: list[Event]) -> list[tuple[str, str, Any]]:
    return [(e.event, e.json()["channel"], e.json()["data"]) for e in events]


async def publish(hub: Hub, channel: str, *messages: Any, event: str = "log") -> list[str]:
    return await hub.publish(channel, [hub.prepare(event, m) for m in messages])


def test_subscriber_on_b_gets_every_event_published_on_a_in_order(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        assert a.epoch == b.epoch
        try:
            on_b = await b.subscribe_async(["x", "y"])
            on_a = await a.subscribe_async(["y", "x"])
            parser_b, parser_a = EventParser(), EventParser()
            assert await drain(on_b, parser_b) == [] and parser_b.last_event_id == f"{a.epoch}-0"
            cursors = []
            for i in range(30):
                cursors += await publish(a, "xy"[i % 2], i, i + 1000)
            cursors += await publish(b, "x", "from-b")
            expected = [("log", "xy"[i % 2], v) for i in range(30) for v in (i, i + 1000)] + [
                ("log", "x", "from-b")
            ]
            for sub, parser in ((on_b, parser_b), (on_a, parser_a)):
                events = await read(sub, parser, len(expected))
                assert summary(events) == expected
                assert [e.id for e in events] == cursors
                assert seqs(events) == list(range(1, 62))
            assert a.seq == b.seq == 61 and a.head == b.head == f"{a.epoch}-61"
            assert await drain(on_b, parser_b) == []  # nothing twice
        finally:
            await a.close()
            await b.close()

    run(main)


def test_a_subscriber_moving_from_a_to_b_with_its_cursor_loses_and_repeats_nothing(
    redis_url: str,
) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            await publish(b, "other", "unrelated")  # B has a different local view of seqs
            sub = await a.subscribe_async(["x", "z"])
            parser = EventParser()
            await publish(a, "x", *range(10))
            await publish(a, "z", "z0")
            first = (await read(sub, parser, 6))[:6]  # the viewer saw six, then moved
            assert [e.json()["data"] for e in first] == list(range(6))
            cursor = first[-1].id
            a.unsubscribe(sub)
            await publish(a, "x", *range(10, 15))  # published while the viewer moves
            assert cursor is not None
            moved = await b.subscribe_async(["x", "z"], cursor=cursor)
            await publish(b, "z", "z1")
            rest = await read(moved, parser, 11)
            assert [e.json()["data"] for e in rest] == [6, 7, 8, 9, "z0", *range(10, 15), "z1"]
            assert seqs(rest) == sorted(seqs(rest)) and seqs(first + rest) == list(range(2, 19))
            assert not any(e.event == "reset" for e in rest)
            assert await drain(moved, parser) == []
            # A cursor from this Redis is known on either hub, even one B never saw published.
            late = await b.subscribe_async(["x"], cursor=f"{a.epoch}-18")
            assert await drain(late, EventParser()) == []
            await asyncio.sleep(0.05)
            assert "x" in b.reader.positions and "x" not in a.reader.positions  # A let it go
        finally:
            await a.close()
            await b.close()

    run(main)


def test_late_subscriber_on_b_replays_history_and_snapshot_like_the_memory_hub(
    redis_url: str,
) -> None:
    limits = {"history_size": 6}

    async def steps(hub: Hub) -> None:
        for i in range(8):
            await publish(hub, "train", {"bar": "b1", "value": i}, event="progress")
            if i % 3 == 0:
                await publish(hub, "train", {"bar": f"b{i + 2}", "value": i}, event="progress")
            await publish(hub, "train", f"line {i}")

    def normalized(events: list[Event]) -> list[tuple[int, str, Any]]:
        return [(s, e.event, e.json()["data"]) for s, e in zip(seqs(events), events, strict=True)]

    async def main() -> None:
        a, b = await two_hubs(redis_url, **limits)
        memory = Hub(HubConfig(coalesce_ms=0, **limits))
        try:
            await steps(a)
            await steps(memory)
            for mode in ("history", "snapshot"):
                got = await drain(await b.subscribe_async(["train"], replay=mode), EventParser())
                want = await drain(memory.subscribe(["train"], replay=mode), EventParser())
                assert normalized(got) == normalized(want), mode
                assert got
            bars = [e.json()["data"]["bar"] for e in got if e.event == "progress"]
            assert bars == ["b2", "b5", "b8", "b1"]  # latest state per bar, by recency
            # A resume from before the retained history: reset, lost states, what remains.
            resumed = await drain(
                await b.subscribe_async(["train"], cursor=f"{b.epoch}-2"), EventParser()
            )
            want = await drain(
                memory.subscribe(["train"], cursor=f"{memory.epoch}-2"), EventParser()
            )
            assert resumed[0].event == "reset"
            assert normalized(resumed)[1:] == normalized(want)[1:]
        finally:
            await a.close()
            await b.close()

    run(main)


def test_a_cancel_posted_on_b_reaches_the_producer_listening_on_a(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            control = await a.subscribe_async([a.control_key("job")], replay="history", single=True)
            parser = EventParser()
            assert await drain(control, parser) == []
            [cursor] = await b.publish_control_async("job", [b.prepare("cancel", {"bar": "b1"})])
            [event] = await read(control, parser, 1)
            assert (event.event, event.json(), event.id) == ("cancel", {"bar": "b1"}, cursor)
            # Control streams are hidden: not in the channel list, not publishable by name.
            await publish(a, "job", "visible")
            assert [c["name"] for c in await b.channels_async()] == ["job"]
            assert await drain(control, parser) == []
        finally:
            await a.close()
            await b.close()

    run(main)


def test_delete_sync_methods_and_an_unreachable_redis(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            item = a.prepare("log", 1)
            for call in (
                lambda: a.publish_nowait("x", [item]),
                lambda: a.publish_control("x", [item]),
                lambda: a.subscribe(["x"]),
                lambda: a.delete_channel("x"),
            ):
                with pytest.raises(NotImplementedError, match="await hub"):
                    call()
            sub = await a.subscribe_async(["gone"])
            await publish(b, "gone", 1)
            await read(sub, EventParser(), 1)
            assert await a.delete_channel_async("gone") is True
            assert sub.closed and sub.close_reason == "channel-deleted"
            assert await b.channels_async() == []
            # Recreated: an old cursor gets a reset, not a silent gap.
            await publish(b, "gone", 2)
            again = await drain(
                await a.subscribe_async(["gone"], cursor=f"{a.epoch}-0"), EventParser()
            )
            assert [e.event for e in again] == ["reset", "log"]
        finally:
            await a.close()
            await b.close()
        port = int(re.sub(r".*:(\d+)/0$", r"\1", redis_url))
        with pytest.raises(BackendUnavailable, match=r"cannot reach Redis at redis://") as info:
            await RedisHub.connect(f"redis://:secret@127.0.0.1:{port + 1}/0")
        assert "secret" not in str(info.value) and info.value.status == 503

    run(main)


def test_control_payload_json_is_kept_exactly(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            sub = await a.subscribe_async(["u"], single=True)
            data = {"é": "☃", "n": [1, 2.5, None]}
            await publish(b, "u", data)
            [event] = await read(sub, EventParser(), 1)
            assert json.loads(str(event.data)) == data
        finally:
            await a.close()
            await b.close()

    run(main)


def test_redis_losing_its_data_resets_the_streams_and_they_go_on(redis_server: Any) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_server.url)
        try:
            sub = await a.subscribe_async(["x"])
            parser = EventParser()
            await drain(sub, parser)
            await publish(b, "x", "before")
            [before] = await read(sub, parser, 1)
            assert before.json()["data"] == "before"
            old = a.epoch
            await asyncio.get_running_loop().run_in_executor(None, redis_server.restart)
            # B publishes as soon as Redis is back (its script sees the new epoch first).
            for _ in range(200):
                try:
                    [cursor] = await publish(b, "x", "after")
                    break
                except BackendUnavailable:
                    await asyncio.sleep(0.05)
            new = b.epoch
            assert new != old and cursor == f"{new}-1"
            events = await read(sub, parser, 2)
            assert [(e.event, e.id) for e in events] == [("reset", f"{new}-0"), ("log", cursor)]
            assert events[0].json()["data"] == {"reason": "hub-restarted"}
            assert a.epoch == new and a.seq == 1
            # Late subscribers on either hub see only the new life.
            late = await b.subscribe_async(["x"], replay="history")
            assert [e.json()["data"] for e in await drain(late, EventParser())] == ["after"]
        finally:
            await a.close()
            await b.close()

    run(main)


def test_subscribers_opening_while_events_flow_miss_and_repeat_nothing(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            first = await a.subscribe_async(["x", "y"])
            streams: list[tuple[Subscription, bool]] = []

            async def produce() -> None:
                for i in range(60):
                    await publish(b if i % 3 else a, "xy"[i % 2], i)

            async def subscribe() -> None:
                # A's reader is sometimes behind Redis, sometimes ahead of the head read.
                for i in range(20):
                    both = bool(i % 2)
                    streams.append((await a.subscribe_async(["y", "x"] if both else ["x"]), both))
                    await asyncio.sleep(0.002)

            await asyncio.gather(produce(), subscribe())
            await publish(b, "x", "end")
            everything = await read(first, EventParser(), 61)
            assert seqs(everything) == list(range(1, 62))
            for sub, both in streams:
                opening = await asyncio.wait_for(sub.next_chunk(), 5)
                sub.written()
                assert opening is not None
                match = re.match(rb"retry: \d+\nid: [0-9a-f]+-(\d+)\n\n", opening)
                assert match, opening
                position = int(match[1])
                parser = EventParser()
                got = parser.feed(opening)
                want = [
                    e
                    for s, e in zip(seqs(everything), everything, strict=True)
                    if s > position and (both or e.json()["channel"] == "x")
                ]
                if len(got) < len(want):
                    got += await read(sub, parser, len(want) - len(got))
                assert [e.id for e in got] == [e.id for e in want], position
            await asyncio.sleep(0.2)
            assert not any(sub._chunks for sub, _ in streams)  # and nothing twice
        finally:
            await a.close()
            await b.close()

    run(main)
