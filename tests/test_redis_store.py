"""The Redis storage layer against a real redis-server: ordering, trimming, snapshots, reader."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis_server import RedisServer, redis_server_fixture, redis_url_fixture  # noqa: F401

from sse_widgets.backends.redis_reader import StreamReader
from sse_widgets.backends.redis_store import BackendUnavailable, RedisStore, StoredEvent
from sse_widgets.errors import InvalidRequest, SSEWidgetsError

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def log(i: int) -> tuple[str, str]:
    return ("log", json.dumps({"message": f"m{i}"}))


def test_ids_are_consecutive_and_ordered_across_channels(redis_url: str) -> None:
    async def main() -> None:
        store = await RedisStore.connect(redis_url)
        other = await RedisStore.connect(redis_url)  # another server process, same Redis
        assert store.epoch and store.epoch == other.epoch
        assert await store.publish("a", [log(1), log(2)]) == [1, 2]
        assert await other.publish("b", [log(3)]) == [3]
        assert await store.publish("a", [log(4)]) == [4]
        assert await store.publish("a", []) == []
        assert await store.head() == 4
        a = await store.history("a")
        assert [(e.seq, json.loads(e.payload)["message"]) for e in a] == [
            (1, "m1"),
            (2, "m2"),
            (4, "m4"),
        ]
        assert [e.seq for e in await store.history("a", after_seq=2)] == [4]
        assert [e.seq for e in await store.history("a", after_seq=0, count=1)] == [1]
        channels = await store.channels()
        assert [(c["name"], c["last_seq"], c["retained"]) for c in channels] == [
            ("a", 4, 3),
            ("b", 3, 1),
        ]
        assert await store.delete("b") == (True, 5)  # announced under the next seq
        assert await store.delete("b") == (False, 6)
        assert await store.evicted_upto("b") == 3  # a cursor from before the delete resets
        announced = await store.history("#deleted")
        assert [(e.seq, e.event, e.payload) for e in announced] == [
            (5, "deleted", "b"),
            (6, "deleted", "b"),
        ]
        assert [c["name"] for c in await store.channels()] == ["a"]
        await store.close()
        await other.close()

    run(main)


_PUBLISHER = """
import asyncio, json, sys
from sse_widgets.backends.redis_store import RedisStore

async def main(url, worker):
    store = await RedisStore.connect(url, history_size=100_000)
    seqs = []
    for start in range(0, 5000, 10):
        batch = [("log", json.dumps({"w": worker, "i": i})) for i in range(start, start + 10)]
        seqs += await store.publish("load", batch)
    await store.close()
    print(json.dumps(seqs))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


@pytest.mark.slow
def test_concurrent_publisher_processes_leave_no_gaps(redis_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, redis_url, str(w)], stdout=subprocess.PIPE
        )
        for w in range(4)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.append(json.loads(out))
    every = sorted(s for seqs in results for s in seqs)
    assert every == list(range(1, 20_001))  # no gap, no duplicate
    for seqs in results:
        assert seqs == sorted(seqs)
        # A batch is one script run: its seqs are consecutive.
        assert all(seqs[i + 9] - seqs[i] == 9 for i in range(0, 5000, 10))

    async def main() -> list[StoredEvent]:
        store = await RedisStore.connect(redis_url, history_size=100_000)
        events: list[StoredEvent] = []
        while len(events) < 20_000:
            events += await store.history("load", events[-1].seq if events else 0, 5000)
        await store.close()
        return events

    events = run(main)
    assert [e.seq for e in events] == list(range(1, 20_001))
    per_worker: dict[int, list[int]] = {}
    for e in events:
        data = json.loads(e.payload)
        per_worker.setdefault(data["w"], []).append(data["i"])
    assert all(order == list(range(5000)) for order in per_worker.values())


def test_trimming_is_exact_and_evicted_upto_names_the_last_dropped(redis_url: str) -> None:
    async def main() -> None:
        store = await RedisStore.connect(redis_url, history_size=3)
        await store.publish("a", [log(i) for i in range(2)])  # 1, 2
        assert await store.evicted_upto("a") == 0
        await store.publish("b", [log(9)])  # 3: other channels' seqs make gaps in a's
        await store.publish("a", [log(i) for i in range(3)])  # 4, 5, 6
        assert [e.seq for e in await store.history("a")] == [4, 5, 6]
        assert await store.evicted_upto("a") == 2  # not 3: that seq was never a's
        await store.publish("a", [log(i) for i in range(10)])  # 7..16, one batch over the limit
        assert [e.seq for e in await store.history("a")] == [14, 15, 16]
        assert await store.evicted_upto("a") == 13
        assert await store.evicted_upto("b") == 0
        await store.close()

    run(main)


def test_snapshot_keeps_the_latest_state_per_bar(redis_url: str) -> None:
    def bar(bar_id: str | int, value: int) -> tuple[str, str]:
        return ("progress", json.dumps({"bar": bar_id, "value": value}))

    async def main() -> None:
        store = await RedisStore.connect(redis_url, history_size=2, snapshot_size=2)
        await store.publish("a", [bar("x", 1), bar(7, 1), bar("x", 2), log(0)])  # 1..4
        states = await store.snapshot("a")
        assert [(s.seq, s.key, json.loads(s.payload)["value"]) for s in states] == [
            (2, ("progress", "7"), 1),
            (3, ("progress", "x"), 2),
        ]
        assert states[0].time > 0
        await store.publish("a", [bar("y", 5)])  # third bar: the least recent one goes
        assert [s.key for s in await store.snapshot("a")] == [("progress", "x"), ("progress", "y")]
        assert await store.snapshot("other") == []
        await store.close()

    run(main)


def test_bad_input_raises_errors_naming_the_problem(redis_url: str) -> None:
    async def main() -> None:
        store = await RedisStore.connect(redis_url)
        with pytest.raises(InvalidRequest, match="not valid JSON"):
            await store.publish("a", [("log", "{nope")])
        with pytest.raises(InvalidRequest, match="invalid channel name"):
            await store.publish("a b", [log(1)])
        with pytest.raises(InvalidRequest, match="reserved"):
            await store.publish("a", [("reset", "{}")])
        with pytest.raises(InvalidRequest, match="CR"):
            await store.publish("a", [("lo\rg", "{}")])
        assert await store.head() == 0  # nothing was published by a refused batch
        await store.close()

    run(main)


def test_unreachable_url_raises_one_clear_error(redis_server: RedisServer) -> None:
    url = f"redis://user:hunter2@127.0.0.1:{redis_server.port}/0"
    redis_server.stop()
    with pytest.raises(BackendUnavailable) as info:
        run(lambda: RedisStore.connect(url))
    message = str(info.value)
    assert isinstance(info.value, SSEWidgetsError) and info.value.status == 503
    assert f"redis://user:***@127.0.0.1:{redis_server.port}/0" in message
    assert "hunter2" not in message and "redis-server" in message


def test_reader_follows_channels_and_survives_a_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    try:
        run(lambda: _reader_scenario(server))
    finally:
        server.stop()


async def _reader_scenario(server: RedisServer) -> None:
    store = await RedisStore.connect(server.url)
    producer = await RedisStore.connect(server.url)  # another process's client
    seen: list[tuple[str, int]] = []
    states: list[bool] = []
    reader = StreamReader(
        store,
        lambda es: seen.extend((e.channel, e.seq) for e in es),
        on_state=states.append,
        block_ms=500,
    )
    reader.start()
    await reader.watch("a", 0)
    await wait_for(lambda: reader.connected)
    await producer.publish("a", [log(1)])
    await producer.publish("b", [log(2)])  # not watched yet: read from its start when it is
    await wait_for(lambda: len(seen) == 1)
    started = time.monotonic()
    await reader.watch("b", 0)
    await wait_for(lambda: len(seen) == 2)
    assert time.monotonic() - started < 0.4  # CLIENT UNBLOCK woke the read, no block timeout
    await producer.publish("b", [log(3), log(4)])
    await producer.publish("a", [log(5)])
    await wait_for(lambda: len(seen) == 5)

    server.stop()
    await wait_for(lambda: states[-1] is False)
    with pytest.raises(BackendUnavailable, match="redis-server"):
        await producer.publish("a", [log(6)])
    server.start()  # same port; the AOF brings back everything Redis accepted
    await producer.publish("a", [log(6)])
    await producer.publish("b", [log(7)])
    await wait_for(lambda: len(seen) == 7)
    assert states == [True, False, True]
    assert seen == [("a", 1), ("b", 2), ("b", 3), ("b", 4), ("a", 5), ("a", 6), ("b", 7)]
    assert store.epoch == producer.epoch  # the data survived: same epoch, cursors still valid

    await reader.unwatch(["a"])
    await producer.publish("a", [log(8)])
    await producer.publish("b", [log(9)])
    await wait_for(lambda: len(seen) == 8)
    assert seen[-1] == ("b", 9)
    await reader.close()
    await store.close()
    await producer.close()


def test_reader_keeps_total_order_when_one_channel_has_a_backlog(redis_url: str) -> None:
    async def main() -> list[int]:
        store = await RedisStore.connect(redis_url, history_size=10_000)
        await store.publish("a", [log(i) for i in range(30)])  # 1..30
        await store.publish("b", [log(0)])  # 31
        seen: list[int] = []
        reader = StreamReader(store, lambda es: seen.extend(e.seq for e in es), batch=8)
        await reader.watch("a", 0)
        await reader.watch("b", 0)
        reader.start()
        await wait_for(lambda: len(seen) == 31)
        await reader.close()
        await store.close()
        return seen

    assert run(main) == list(range(1, 32))


def test_publish_after_data_loss_starts_a_new_epoch(redis_server: RedisServer) -> None:
    async def main() -> tuple[str, Any]:
        store = await RedisStore.connect(redis_server.url)
        await store.publish("a", [log(1)])
        before = store.epoch
        redis_server.restart()  # no persistence: everything is gone
        seqs = await _publish_retrying(store)
        await store.close()
        return before, (store.epoch, seqs)

    before, (after, seqs) = run(main)
    assert after != before and seqs == [1]


async def _publish_retrying(store: RedisStore) -> list[int]:
    # The first command on a connection the restart broke may fail once: that is the 503 a
    # client retries; the next one reconnects.
    for _ in range(3):
        try:
            return await store.publish("a", [log(2)])
        except BackendUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("publish kept failing after the restart")
