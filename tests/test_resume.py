"""Resuming a stream: cut at random byte offsets, every event arrives exactly once, in order;
a cursor older than the history gets an explicit ``reset`` and the snapshot, never silence.
On every backend."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from conftest import CuttingProxy, arun_python, start_hub

from sse_widgets.client import EventStream

EVENTS = 10_000
CUTS = 20

pytestmark = pytest.mark.backends


def _producer(url: str, token: str, channel: str, count: int, pace: float) -> str:
    return f"""
import time, sse_widgets
pub = sse_widgets.connect({url!r}, {token!r})
for n in range({count}):
    sse_widgets.channel({channel!r}).send("log", {{"n": n, "pad": "x" * (n % 50)}})
    if n % 200 == 199:
        time.sleep({pace})
assert pub.flush(60)
"""


@pytest.mark.slow
async def test_cut_at_twenty_random_points_loses_and_repeats_nothing(hub_process):
    rng = random.Random(20261121)
    # The stream carries roughly 100 bytes per event; cut anywhere in the first 90 %.
    cut_points = sorted(rng.sample(range(200, EVENTS * 90), CUTS))
    received: list[int] = []
    resets = []
    async with CuttingProxy(hub_process.port, cut_points) as proxy:
        stream = EventStream(
            f"http://127.0.0.1:{proxy.port}/",
            channels=["resume"],
            token=hub_process.token,
            replay="history",
        )

        async def consume() -> None:
            async with stream:
                async for event in stream:
                    if event.event == "reset":
                        resets.append(event)
                    if event.event == "log":
                        received.append(event.json()["data"]["n"])
                        if received[-1] == EVENTS - 1:
                            return

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        await arun_python(_producer(hub_process.url, hub_process.token, "resume", EVENTS, 0.02))
        await asyncio.wait_for(consumer, 60)
    assert proxy.cuts == CUTS, f"only {proxy.cuts} cuts happened; the test did not test resume"
    assert stream.connections == CUTS + 1
    assert not resets
    assert received == list(range(EVENTS))


async def test_cursor_older_than_history_gets_reset_then_snapshot_then_history(
    tmp_path, hub_backend
):
    hub = start_hub(
        tmp_path, "--SSEWidgets.history_size=50", "--SSEWidgets.retry_ms=20", backend=hub_backend
    )
    try:
        await arun_python(f"""
import sse_widgets
pub = sse_widgets.connect({hub.url!r}, {hub.token!r})
ch = sse_widgets.channel("old")
ch.send("log", {{"n": "first"}})
for n in range(300):
    ch.send("progress", {{"bar": "a" if n % 3 else "b", "value": n}})
    if n % 10 == 0:
        ch.send("log", {{"n": n}})
assert pub.flush(30)
""")
        first_cursor = f"{(await _head(hub)).rsplit('-', 1)[0]}-1"
        stream = EventStream(hub.url, channels=["old"], token=hub.token, last_event_id=first_cursor)
        got = []
        async with stream:
            async for event in stream:
                got.append(event)
                if event.event == "progress" and event.json()["data"]["value"] == 299:
                    break
    finally:
        hub.stop()
    assert got[0].event == "reset"
    assert got[0].json()["data"] == {"reason": "history-exceeded"}
    # The snapshot: only the latest state of each bar, superseded states left out.
    states = [
        (e.json()["data"]["bar"], e.json()["data"]["value"]) for e in got if e.event == "progress"
    ]
    assert sorted(states) == [("a", 299), ("b", 297)]
    logs = [e.json()["data"]["n"] for e in got if e.event == "log"]
    assert logs[0] != "first" and logs == sorted(logs)
    ids = [int(e.id.rsplit("-", 1)[1]) for e in got]
    assert ids == sorted(ids), "ids must never go back, or a later resume would repeat events"


async def _head(hub) -> str:  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(
        f"GET /api/channels HTTP/1.0\r\nAuthorization: Bearer {hub.token}\r\n\r\n".encode()
    )
    raw = await reader.read()
    writer.close()
    return str(json.loads(raw.split(b"\r\n\r\n", 1)[1])["head"])
