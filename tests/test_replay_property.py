"""Randomized check of the replay invariants, over many seeds.

A hub with small, random limits gets random publishes on three channels (logs and progress
states), while readers start from random cursors and read at random moments, some falling
behind the history. Whatever happens, for every reader:

- the ids it sees never decrease (so any id is a safe resume point);
- it sees every log event of its channels after its cursor exactly once, in publish order,
  except for the channels where it got a ``reset`` (then the ones after the reset, and the
  latest state of every progress bar);
- without a reset, nothing is missing.
"""

from __future__ import annotations

import random

import pytest
from test_hub import parse

from sse_widgets.hub import Hub, HubConfig
from sse_widgets.protocol import EventParser

CHANNELS = ["a", "b", "c"]


@pytest.mark.parametrize("seed", range(40))
def test_replay_invariants_hold_for_random_histories(seed):
    rng = random.Random(seed)
    hub = Hub(
        HubConfig(
            history_size=rng.randint(5, 60),
            buffer_bytes=10**9,
            history_bytes=rng.randint(2_000, 20_000),
        ),
        epoch="ep",
    )
    published: list[tuple[int, str, str, object]] = []  # (seq, channel, event, data)

    def publish_some(count: int) -> None:
        for _ in range(count):
            channel = rng.choice(CHANNELS)
            if rng.random() < 0.3:
                event, data = "progress", {"bar": rng.choice("xyz"), "value": len(published)}
            else:
                event, data = "log", {"n": len(published), "pad": "p" * rng.randint(0, 200)}
            [cursor] = hub.publish_nowait(channel, [hub.prepare(event, data)])
            published.append((int(cursor.split("-")[1]), channel, event, data))

    publish_some(rng.randint(0, 80))
    readers = []
    for _ in range(4):
        channels = rng.sample(CHANNELS, rng.randint(1, 3))
        start = rng.randint(0, hub.seq) if rng.random() < 0.7 else None
        cursor = f"ep-{start}" if start is not None else None
        sub = hub.subscribe(channels, cursor=cursor, replay="history" if cursor is None else "none")
        readers.append((sub, set(channels), start or 0, EventParser(), []))
    for _ in range(rng.randint(3, 10)):
        publish_some(rng.randint(0, 40))
        for sub, _, _, parser, seen in readers:
            if rng.random() < 0.6:
                seen += parse(sub, parser)
    for sub, _, _, parser, seen in readers:
        seen += parse(sub, parser)

    for _sub, channels, start, _, seen in readers:
        seqs = [int(e.id.split("-")[1]) for e in seen]
        assert seqs == sorted(seqs), "ids went backwards"
        for channel in channels:
            check_channel(channel, start, seen, published)


def check_channel(channel: str, start: int, seen: list, published: list) -> None:
    """Logs arrive as contiguous runs of what was published, split only by resets."""
    expected = [d["n"] for s, c, ev, d in published if c == channel and ev == "log" and s > start]
    runs: list[list[int]] = [[]]
    final: dict[str, int] = {}
    for event in seen:
        frame = event.json()
        if frame["channel"] != channel:
            continue
        if event.event == "reset":
            runs.append([])
        elif event.event == "log":
            runs[-1].append(frame["data"]["n"])
        elif event.event == "progress":
            final[frame["data"]["bar"]] = frame["data"]["value"]
    got = [n for run in runs for n in run]
    assert len(got) == len(set(got)), "an event was delivered twice"
    assert got == sorted(got), "events out of order"
    position = 0
    for number, run in enumerate(runs):
        if not run:
            continue
        index = expected.index(run[0])
        if number == 0 and start:
            assert index == 0, f"channel {channel} lost events without a reset"
        assert index >= position
        assert run == expected[index : index + len(run)], "a gap inside a run"
        position = index + len(run)
    if expected:
        assert got and got[-1] == expected[-1], f"channel {channel} did not reach the head"
    # Whatever happened, the reader ends with the latest state of every bar updated after
    # its starting point.
    latest = {
        d["bar"]: (s, d["value"]) for s, c, ev, d in published if c == channel and ev == "progress"
    }
    for bar_name, (seq, value) in latest.items():
        if seq > start:
            assert final.get(bar_name) == value, f"bar {bar_name} not at its latest state"
