"""Four publisher processes x 5,000 events to one channel, through two `serve` processes on one
Redis: every subscriber (two on each server, live before the first event) sees the same total
order, with consecutive seqs (no gap, nothing twice) and each publisher's events in its order.

The channel is the only one published to, so the hub-wide seq counter is the channel's: the
ids of the 20,000 events must be exactly 1..20,000 on every subscriber.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import HubProcess, start_hub
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401

from sse_widgets.client import EventStream

PUBLISHERS = 4
EACH = 5_000
TOTAL = PUBLISHERS * EACH

# One publisher process: ready, then waits for the go on stdin, so that the four overlap.
# Batches of at most 20 events (one Redis script each): the four interleave finely.
_PUBLISHER = """
import json, sys
from sse_widgets import Publisher
url, token, who, each = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
publisher = Publisher(url, token, max_batch_events=20)
print("ready", flush=True)
sys.stdin.readline()
for n in range(each):
    publisher.send("load", "log", {"p": who, "n": n})
ok = publisher.flush(60)
print(json.dumps({"ok": ok, **publisher.stats}), flush=True)
publisher.close()
"""


class Collector:
    """A subscriber on its own thread: ``(seq, publisher, n)`` of each event, in order."""

    def __init__(self, hub: HubProcess) -> None:
        self.stream = EventStream(hub.url, channels=["load"], token=hub.token, read_timeout=30)
        self.events: list[tuple[int, int, int]] = []
        self.others: list[str] = []  # any other event (a reset would be a failure)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for event in self.stream:
            if event.event != "log":
                self.others.append(f"{event.event} {event.data}")
                continue
            data = event.json()["data"]
            self.events.append((int(str(event.id).rpartition("-")[2]), data["p"], data["n"]))
            if len(self.events) == TOTAL:
                return

    def close(self) -> None:
        self.stream.close()
        self.thread.join(5)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.mark.slow
def test_four_publisher_processes_one_total_order_on_every_subscriber(
    tmp_path: Path, redis_url: str
) -> None:
    options = ("--backend", redis_url, f"--SSEWidgets.history_size={TOTAL}")
    a = start_hub(tmp_path, *options, token="T")
    b = start_hub(tmp_path, *options, token="T")
    collectors: list[Collector] = []
    procs: list[subprocess.Popen[str]] = []
    try:
        collectors = [Collector(hub) for hub in (a, a, b, b)]
        # Live before the first event: each stream's response has arrived (it subscribed).
        assert wait_until(lambda: all(c.stream.connections for c in collectors), 15)
        for who in range(PUBLISHERS):
            hub = (a, b)[who % 2]  # two publish through A, two through B
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _PUBLISHER, hub.url, hub.token, str(who), str(EACH)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        stats = []
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out
            stats.append(json.loads(out))
        published = time.monotonic() - started
        assert all(s["ok"] and s["dropped"] == 0 and s["settled"] == EACH for s in stats), stats
        assert wait_until(lambda: all(len(c.events) >= TOTAL for c in collectors), 30), [
            len(c.events) for c in collectors
        ]
        delivered = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        for collector in collectors:
            collector.close()
        a.stop()
        b.stop()

    first = collectors[0].events
    for collector in collectors:
        assert not collector.others, collector.others[:3]
        assert collector.stream.connections == 1  # no drop and resume along the way
        assert collector.events == first  # the same total order everywhere
    assert [s for s, _, _ in first] == list(range(1, TOTAL + 1))  # consecutive: no gap
    for who in range(PUBLISHERS):
        assert [n for _, p, n in first if p == who] == list(range(EACH))
    # The publishers did run concurrently: their batches interleave in the total order.
    switches = sum(1 for x, y in itertools.pairwise(first) if x[1] != y[1])
    assert switches >= 10, switches
    print(
        f"{TOTAL} events published in {published:.1f} s, on all 4 subscribers after "
        f"{delivered:.1f} s; {switches} switches between publishers"
    )
