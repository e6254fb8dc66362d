"""What server processes sharing one Redis agree on beyond the events themselves: deletions,
batches retried on another process (Idempotency-Key), and which history is retained under the
byte limit. Two RedisHubs in one event loop stand for two processes, as in test_redis_hub.py.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401
from test_redis_hub import drain, publish, read, run, seqs, two_hubs

from sse_widgets.backends.redis_hub import RedisHub
from sse_widgets.errors import BackendUnavailable
from sse_widgets.hub import Hub, HubConfig
from sse_widgets.protocol import EventParser


def test_a_delete_on_a_closes_the_streams_on_b(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            only = await b.subscribe_async(["gone"])
            both = await b.subscribe_async(["gone", "stays"])
            parser = EventParser()
            await publish(a, "gone", 1)
            assert [e.json()["data"] for e in await read(both, parser, 1)] == [1]
            assert await a.delete_channel_async("gone") is True
            # B's reader sees the announcement after the channel's last event: its streams
            # get `close`; the one that also reads "stays" keeps going.
            [closed] = await read(both, parser, 1)
            assert (closed.event, closed.json()["data"]) == ("close", {"reason": "deleted"})
            for _ in range(100):
                if only.closed:
                    break
                await asyncio.sleep(0.02)
            assert only.close_reason == "channel-deleted"
            assert not both.closed
            await publish(a, "stays", "still here")
            [event] = await read(both, parser, 1)
            assert event.json()["data"] == "still here"
            # The channel made again (from B this time) is a new channel on both processes.
            await publish(b, "gone", 2)
            fresh = await a.subscribe_async(["gone"], replay="history")
            assert [e.json()["data"] for e in await drain(fresh, EventParser())] == [2]
            assert [c["name"] for c in await a.channels_async()] == ["gone", "stays"]
            await publish(b, "gone", 3)
            assert [e.json()["data"] for e in await read(fresh, EventParser(), 1)] == [3]
            assert not fresh.closed  # the old deletion does not end the new channel
        finally:
            await a.close()
            await b.close()

    run(main)


def test_a_batch_retried_on_another_process_is_published_once(redis_url: str) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url)
        try:
            sub = await b.subscribe_async(["jobs"])
            parser = EventParser()
            batch = [a.prepare("log", n) for n in range(3)]
            first = await a.publish("jobs", batch, idempotency_key="k1")
            again = await b.publish("jobs", batch, idempotency_key="k1")  # the reply was lost
            assert again == first
            other = await b.publish("jobs", batch, idempotency_key="k2")
            plain = await b.publish("jobs", batch)
            events = await read(sub, parser, 9)
            assert [e.json()["data"] for e in events] == [0, 1, 2] * 3
            assert [str(e.id) for e in events] == first + other + plain
            assert await drain(sub, parser) == []  # and nothing more: k1 ran once
        finally:
            await a.close()
            await b.close()

    run(main)


def test_the_byte_limit_keeps_the_same_history_as_the_memory_hub(redis_url: str) -> None:
    limits = {"history_size": 50, "history_bytes": 2_000}
    rng = random.Random(7)
    # Varied sizes (and a multi-byte character) so the byte limit, not the count, decides;
    # one event over the limit on its own: the channel still keeps the newest event.
    messages: list[Any] = ["é" * rng.randrange(0, 300) for _ in range(40)] + ["x" * 2_500, "y"]

    async def main() -> None:
        a, b = await two_hubs(redis_url, **limits)
        memory = Hub(HubConfig(coalesce_ms=0, **limits))
        try:
            watching = await b.subscribe_async(["big"])  # B's cache fed by its reader
            for message in messages:
                await publish(a, "big", message)
                await publish(memory, "big", message)
                await publish(a, "other", "between")  # so seqs are not consecutive
                await publish(memory, "other", "between")
            await read(watching, EventParser(), len(messages))
            late = await drain(await b.subscribe_async(["big"], replay="history"), EventParser())
            want = await drain(memory.subscribe(["big"], replay="history"), EventParser())
            assert [(s, e.json()["data"]) for s, e in zip(seqs(late), late, strict=True)] == [
                (s, e.json()["data"]) for s, e in zip(seqs(want), want, strict=True)
            ]
            channel = memory.channel_or_none("big")
            assert channel is not None
            assert await a.store.retained_bytes("big") == channel.history_bytes
            assert await a.store.evicted_upto("big") == channel.evicted_upto
            cached = b.channel_or_none("big")
            assert cached is not None and cached.evicted_upto == channel.evicted_upto
            listed = {c["name"]: c for c in await a.channels_async()}
            assert listed["big"]["retained_bytes"] == channel.history_bytes
            # A resume from a cursor Redis no longer retains: a reset on either process.
            old = f"{a.epoch}-{seqs(want)[0] - 3}"  # before the last event trimmed
            resumed = await drain(await a.subscribe_async(["big"], cursor=old), EventParser())
            assert resumed[0].event == "reset"
        finally:
            await a.close()
            await b.close()

    run(main)


def test_open_checks_redis_before_the_loop_and_reads_once_started(redis_url: str) -> None:
    hub = RedisHub.open(redis_url, HubConfig(coalesce_ms=0))  # no event loop yet: Jupyter
    with pytest.raises(BackendUnavailable, match="cannot reach Redis at redis://"):
        RedisHub.open("redis://127.0.0.1:1/0")

    async def main() -> None:
        other = await RedisHub.connect(redis_url)
        try:
            hub.start()
            sub = await hub.subscribe_async(["live"])
            await publish(other, "live", "hello")
            [event] = await read(sub, EventParser(), 1)
            assert event.json()["data"] == "hello"
        finally:
            await hub.close()
            await other.close()

    run(main)


def test_a_batch_larger_than_the_history_reaches_every_live_stream(redis_url: str) -> None:
    # The script trims the history within the very publish, but the trimmed events stay in
    # the stream for the readers' grace period: live streams get all, as on the memory hub.
    async def main() -> None:
        a, b = await two_hubs(redis_url, history_size=10)
        try:
            on_a, on_b = await a.subscribe_async(["burst"]), await b.subscribe_async(["burst"])
            gate = asyncio.Event()
            deliver = b.reader.callback

            async def stalled(events: Any) -> None:  # B's reader is briefly behind
                await gate.wait()
                deliver(events)

            b.reader.callback = stalled
            b.reader.gap_check_interval = 0
            await publish(a, "burst", -1)
            await asyncio.sleep(0.2)  # B's reader has read -1 and waits at the gate
            await publish(a, "burst", *range(25))
            await publish(a, "burst", *range(25, 30))
            gate.set()
            for sub in (on_a, on_b):
                events = await read(sub, EventParser(), 31)
                assert [e.json()["data"] for e in events] == list(range(-1, 30))
            # A replay still sees only the history: the last 10.
            late = await drain(await b.subscribe_async(["burst"], replay="history"), EventParser())
            assert [e.json()["data"] for e in late] == list(range(20, 30))
            listed = await a.channels_async()
            assert [(c["name"], c["retained"]) for c in listed] == [("burst", 10)]
        finally:
            await a.close()
            await b.close()

    run(main)


def test_a_reader_stalled_past_the_grace_period_ends_its_streams_to_resume(
    redis_url: str,
) -> None:
    async def main() -> None:
        a, b = await two_hubs(redis_url, history_size=3)
        a.store.live_grace = 0  # trimmed events leave the stream at once
        b.reader.gap_check_interval = 0
        gate = asyncio.Event()
        deliver = b.reader.callback

        async def stalled(events: Any) -> None:  # B's reader stops inside its callback
            await gate.wait()
            deliver(events)

        try:
            sub = await b.subscribe_async(["slow"])
            b.reader.callback = stalled
            await publish(a, "slow", 0)
            await asyncio.sleep(0.2)  # B's reader has read event 0 and waits at the gate
            for n in range(1, 10):
                await publish(a, "slow", n)
            gate.set()
            parser = EventParser()
            [first] = await read(sub, parser, 1)
            assert first.json()["data"] == 0
            for _ in range(100):
                if sub.closed:
                    break
                await asyncio.sleep(0.02)
            assert sub.close_reason == "behind"  # not a silent jump from 0 to 7
            resumed = await drain(
                await b.subscribe_async(["slow"], cursor=str(first.id)), EventParser()
            )
            assert [e.event for e in resumed] == ["reset", "log", "log", "log"]
            assert [e.json()["data"] for e in resumed[1:]] == [7, 8, 9]
        finally:
            await a.close()
            await b.close()

    run(main)
