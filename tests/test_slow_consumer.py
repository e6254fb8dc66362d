"""A subscriber that never reads cannot grow the server's memory or slow the others.

100 MB of events go through a standalone hub while one subscriber's socket is never read:
the hub cuts that subscriber off at its send-buffer limit, its RSS grows by less than that
limit plus the history limit, and a normal subscriber still gets every event in order.
On every backend.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from conftest import HubProcess, arun_python, channel_info, rss_bytes, start_hub

from sse_widgets.client import EventStream

MiB = 1024 * 1024
BUFFER = 4 * MiB
HISTORY = 8 * MiB
EVENT_BYTES = 4096
EVENTS = 100 * MiB // EVENT_BYTES  # 25,600 events, 100 MiB of payload

pytestmark = pytest.mark.backends


@pytest.mark.slow
async def test_stalled_subscriber_is_cut_off_and_memory_stays_bounded(tmp_path, hub_backend):
    hub = start_hub(
        tmp_path,
        f"--SSEWidgets.buffer_bytes={BUFFER}",
        f"--SSEWidgets.history_bytes={HISTORY}",
        "--SSEWidgets.history_size=1000000",
        "--SSEWidgets.retry_ms=20",
        backend=hub_backend,
    )
    stalled = socket.socket()
    try:
        # Warm up: run the code paths and fill the channel's history once, as a server that
        # has been in use would have; then take the baseline.
        await arun_python(_producer(hub.url, hub.token, "big", 3000, start=-3000))

        received: list[int] = []
        resets: list = []
        stream = EventStream(hub.url, channels=["big"], token=hub.token)

        async def consume() -> None:
            async with stream:
                async for event in stream:
                    if event.event == "reset":
                        resets.append(event.json())
                    elif event.event == "log" and (n := event.json()["data"]["n"]) >= 0:
                        received.append(n)
                        if received[-1] == EVENTS - 1:
                            return

        # The normal reader subscribes before the baseline: a process on Redis loads a
        # channel's history from Redis when the channel gets its first subscriber here (once,
        # about 20 MiB for this history), where a memory hub has held it since the warm-up.
        consumer = asyncio.create_task(consume())
        await _wait_for_subscribers(hub, "big", 1)
        baseline = rss_bytes(hub.pid)

        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", hub.port))
        stalled.sendall(
            f"GET /api/channels/big/events HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {hub.token}\r\n\r\n".encode()
        )
        await _wait_for_subscribers(hub, "big", 2)

        peak = baseline
        producer = asyncio.create_task(
            arun_python(_producer(hub.url, hub.token, "big", EVENTS), timeout=240)
        )
        async with asyncio.timeout(240):
            while not consumer.done():
                peak = max(peak, rss_bytes(hub.pid))
                await asyncio.sleep(0.02)
        await consumer
        await producer
        # The hub cut the stalled reader off: draining its socket ends in EOF.
        stalled.settimeout(10)
        while stalled.recv(1 << 20):
            pass
    finally:
        stalled.close()
        hub.stop()

    growth = peak - baseline
    print(
        f"hub RSS {baseline / MiB:.1f} MiB -> peak {peak / MiB:.1f} MiB: +{growth / MiB:.1f} MiB "
        f"(limit {(BUFFER + HISTORY) / MiB:.0f} MiB) for {EVENTS * EVENT_BYTES / MiB:.0f} MiB"
    )
    assert growth < BUFFER + HISTORY, f"RSS grew by {growth / MiB:.1f} MiB"
    assert not resets, f"the normal reader fell out of the history: {resets}"
    assert received == list(range(EVENTS)), f"{stream.connections} connections"


async def _wait_for_subscribers(hub: HubProcess, channel: str, count: int) -> None:
    async with asyncio.timeout(20):
        while (await asyncio.to_thread(channel_info, hub, channel))["subscribers"] < count:
            await asyncio.sleep(0.02)


def _producer(url: str, token: str, channel: str, count: int, start: int = 0) -> str:
    # Paced at about 25 MB/s: a reader that keeps up with that must get every event; the
    # stalled one, whatever the pace, must not cost more than its buffer.
    return f"""
import time
import sse_widgets
pub = sse_widgets.connect({url!r}, {token!r})
pad = "x" * {EVENT_BYTES - 40}
for n in range({start}, {start + count}):
    sse_widgets.channel({channel!r}).send("log", {{"n": n, "pad": pad}})
    if n % 100 == 99:
        time.sleep(0.015)
assert pub.flush(200)
"""
