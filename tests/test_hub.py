"""Pins the pure hub (``sse_widgets.hub``, ``replay``, ``subscription``), without a network.

Channel and event name rules, ``<epoch>-<seq>`` cursors, multiplexed fan-out in publish order,
resume (exact replay inside the history; ``reset`` + snapshot + remaining history outside it,
with ids that never decrease), replay modes, history/snapshot bounds, event filters, the
slow-consumer cut-off, coalesced writes, channel deletion, capacity limits and input limits.
Streams are read from the Subscription queue and parsed with ``EventParser`` like a client would.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from sse_widgets.errors import CapacityError, InvalidRequest, PayloadTooLarge
from sse_widgets.hub import Hub, HubConfig
from sse_widgets.protocol import Event, EventParser
from sse_widgets.subscription import Subscription


def make_hub(**limits: int) -> Hub:
    return Hub(HubConfig(**limits), epoch="e1")


def publish(hub: Hub, channel: str, event: str, data: object) -> str:
    [cursor] = hub.publish_nowait(channel, [hub.prepare(event, data)])
    return cursor


def bar(name: str, value: int) -> dict:
    return {"bar": name, "value": value, "total": 10, "state": "running"}


def parse(sub: Subscription, parser: EventParser | None = None) -> list[Event]:
    """Take everything the subscription has to send now, as the transport would, and parse
    it: what is queued, and the history it pulls while catching up (slice by slice)."""
    parser = parser or EventParser()
    events: list[Event] = []
    while True:
        if not sub._chunks and sub.catching_up and sub.refill is not None:
            sub.refill(sub)
        if not sub._chunks:
            return events
        chunk = asyncio.run(sub.next_chunk())
        sub.written()
        events += parser.feed(chunk or b"")


def summary(events: list[Event]) -> list[tuple[str, str, object]]:
    """(event name, channel, payload) of multiplexed frames."""
    return [(e.event, e.json()["channel"], e.json()["data"]) for e in events]


def assert_ids_never_decrease(first_id: str, events: list[Event]) -> None:
    ids = [first_id, *(e.id for e in events)]
    assert all(re.fullmatch(r"e1-\d+", i) for i in ids), ids
    seqs = [int(i[3:]) for i in ids]
    assert seqs == sorted(seqs), seqs


VALID_NAMES = ["a", "A1", "_x", "9", "training.run-1", "a:b", "a.-_:", "x" * 128]
INVALID_NAMES = ["", ".a", ":a", "-a", "a b", "a/b", "a#b", "a?b", "é", "a\n", "x" * 129, 5, None]


@pytest.mark.parametrize("name", VALID_NAMES, ids=[*VALID_NAMES[:-1], "128-chars"])
def test_valid_channel_names_are_accepted(name):
    hub = make_hub()
    assert publish(hub, name, "log", 1) == "e1-1"
    assert [c["name"] for c in hub.channels()] == [name]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=[repr(n)[:12] for n in INVALID_NAMES])
def test_invalid_channel_names_are_rejected(name):
    hub = make_hub()
    item = hub.prepare("log", 1)
    with pytest.raises(InvalidRequest, match="invalid channel name") as info:
        hub.publish_nowait(name, [item])
    assert info.value.status == 400
    with pytest.raises(InvalidRequest):
        hub.subscribe(["ok", name])
    assert hub.channels() == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [("reset", "reserved"), ("close", "reserved"), ("", "non-empty"), ("a\nb", "LF"),
     ("a\rb", "CR"), ("a\x00b", "NUL"), ("x" * 257, "limit")],
    ids=["reset", "close", "empty", "lf", "cr", "nul", "too-long"],
)  # fmt: skip
def test_reserved_and_malformed_event_names_cannot_be_published(name, problem):
    with pytest.raises(InvalidRequest, match=problem):
        make_hub().prepare(name, {})


def test_cursors_are_epoch_dash_seq_increasing_across_channels():
    hub = make_hub()
    assert hub.head == "e1-0"
    assert publish(hub, "a", "log", 1) == "e1-1"
    assert publish(hub, "b", "log", 2) == "e1-2"
    items = [hub.prepare("log", 3), hub.prepare("log", 4)]
    assert hub.publish_nowait("a", items) == ["e1-3", "e1-4"]
    assert hub.head == "e1-4"
    assert re.fullmatch(r"[0-9a-f]{8}-1", Hub().publish_nowait("a", [items[0]])[0])
    assert Hub().epoch != Hub().epoch  # a restarted hub is recognised by its epoch


def test_multiplexed_subscription_delivers_both_channels_in_publish_order():
    hub = make_hub()
    sub = hub.subscribe(["a", "b"])
    parser = EventParser()
    assert parse(sub, parser) == []
    assert (parser.retry, parser.last_event_id) == (2000, "e1-0")
    before = time.time()
    cursors = [publish(hub, ch, "log", i) for i, ch in enumerate("abba")]
    events = parse(sub, parser)
    assert summary(events) == [("log", "a", 0), ("log", "b", 1), ("log", "b", 2), ("log", "a", 3)]
    assert [e.id for e in events] == cursors == ["e1-1", "e1-2", "e1-3", "e1-4"]
    assert all(before - 1 <= e.json()["time"] <= time.time() + 1 for e in events)


def test_single_channel_subscription_data_is_the_payload_itself():
    hub = make_hub()
    sub = hub.subscribe(["a"], single=True)
    publish(hub, "a", "progress", bar("x", 1))
    [event] = parse(sub)
    assert (event.event, event.id, event.json()) == ("progress", "e1-1", bar("x", 1))


def test_resume_from_cursor_replays_exactly_the_missed_events():
    hub = make_hub()
    cursors = [publish(hub, ch, "log", i) for i, ch in enumerate("abab")]
    publish(hub, "c", "log", "other channel")
    sub = hub.subscribe(["a", "b"], cursor=cursors[1])
    parser = EventParser()
    events = parse(sub, parser)
    assert summary(events) == [("log", "a", 2), ("log", "b", 3)]
    assert [e.id for e in events] == cursors[2:]
    assert parser.retry == 2000
    publish(hub, "b", "log", 4)
    assert summary(parse(sub, parser)) == [("log", "b", 4)]
    newest = EventParser()
    assert parse(hub.subscribe(["a", "b"], cursor=hub.head), newest) == []
    assert newest.last_event_id == hub.head


def test_cursor_older_than_history_sends_reset_then_snapshot_then_remaining_history():
    hub = make_hub(history_size=3)
    seen = publish(hub, "a", "progress", bar("b1", 0))  # seq 1: the client saw this one
    publish(hub, "a", "progress", bar("b2", 0))  # seq 2: evicted, still the latest of b2
    publish(hub, "a", "log", "lost")  # seq 3: evicted
    publish(hub, "a", "progress", bar("b1", 1))  # seq 4: retained, supersedes seq 1
    publish(hub, "a", "log", "m5")
    publish(hub, "a", "log", "m6")
    sub = hub.subscribe(["a"], cursor=seen)
    events = parse(sub)
    assert [e.event for e in events] == ["reset", "progress", "progress", "log", "log"]
    assert events[0].json()["channel"] == "a"
    assert events[0].json()["data"] == {"reason": "history-exceeded"}
    assert [e.json()["data"] for e in events[1:]] == [bar("b2", 0), bar("b1", 1), "m5", "m6"]
    assert_ids_never_decrease(seen, events)
    assert events[-1].id == hub.head


def test_ids_never_decrease_when_one_channel_lost_history_and_the_other_did_not():
    hub = make_hub(history_size=3)
    cursor = publish(hub, "b", "log", "seen")
    publish(hub, "a", "progress", bar("x", 0))  # missed, then evicted from a's history
    publish(hub, "a", "log", "a0")
    for i in (1, 2):
        publish(hub, "b", "log", f"b{i}")  # b keeps everything after the cursor
        publish(hub, "a", "log", f"a{i}")
    events = parse(hub.subscribe(["a", "b"], cursor=cursor))
    assert summary(events) == [
        ("reset", "a", {"reason": "history-exceeded"}),
        ("progress", "a", bar("x", 0)),
        ("log", "a", "a0"), ("log", "b", "b1"), ("log", "a", "a1"), ("log", "b", "b2"),
        ("log", "a", "a2"),
    ]  # fmt: skip
    assert_ids_never_decrease(cursor, events)


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [("e0-1", "hub-restarted"), ("other-epoch-1", "hub-restarted"), ("garbage", "unknown-cursor"),
     ("e1-x", "unknown-cursor"), ("e1-", "unknown-cursor"), ("e1-99", "unknown-cursor"),
     ("e1-\uff11", "unknown-cursor")],
    ids=["other-epoch", "dashed-epoch", "garbage", "letters", "no-seq", "future-seq",
         "fullwidth"],
)  # fmt: skip
def test_unusable_cursor_resets_every_channel_with_its_reason(cursor, reason):
    hub = make_hub()
    publish(hub, "a", "progress", bar("x", 0))
    publish(hub, "a", "progress", bar("x", 1))
    publish(hub, "b", "log", "hello")
    events = parse(hub.subscribe(["a", "b"], cursor=cursor))
    resets = [(ch, data) for name, ch, data in summary(events) if name == "reset"]
    assert resets == [("a", {"reason": reason}), ("b", {"reason": reason})]
    rest = summary(events)[2:]
    assert rest == [("progress", "a", bar("x", 1)), ("log", "b", "hello")]


@pytest.mark.parametrize("cursor", ["e1-1\n", "e1-1\r", "e1\x00-1"], ids=["lf", "cr", "nul"])
def test_cursor_with_line_break_or_nul_is_rejected(cursor):
    with pytest.raises(InvalidRequest, match="Last-Event-ID"):
        make_hub().subscribe(["a"], cursor=cursor)


def test_history_replay_is_compacted_and_has_no_reset():
    hub = make_hub(history_size=3)
    publish(hub, "a", "progress", bar("b1", 0))
    publish(hub, "a", "log", "evicted")
    publish(hub, "a", "progress", bar("b2", 0))
    publish(hub, "a", "log", "kept")
    publish(hub, "a", "progress", bar("b2", 1))
    publish(hub, "a", "progress", bar("b3", 0))
    events = parse(hub.subscribe(["a"], replay="history"))
    assert [e.json()["data"] for e in events] == [bar("b1", 0), "kept", bar("b2", 1), bar("b3", 0)]
    assert "reset" not in {e.event for e in events}
    assert_ids_never_decrease("e1-0", events)


def test_snapshot_replay_sends_only_the_latest_state_per_bar():
    hub = make_hub()
    publish(hub, "a", "progress", bar("b1", 0))
    publish(hub, "a", "progress", bar("b1", 1))
    publish(hub, "a", "log", "not state")
    publish(hub, "b", "progress", bar("b2", 5))
    head = hub.head
    sub = hub.subscribe(["a", "b"], replay="snapshot")
    events = parse(sub)
    assert summary(events) == [("progress", "a", bar("b1", 1)), ("progress", "b", bar("b2", 5))]
    assert {e.id for e in events} == {head}
    publish(hub, "a", "log", "live")
    assert [e.id for e in parse(sub)] == [hub.head]


def test_history_is_bounded_by_count():
    hub = make_hub(history_size=3)
    cursors = [publish(hub, "a", "log", i) for i in range(5)]
    assert hub.channels()[0]["retained"] == 3
    events = parse(hub.subscribe(["a"], cursor=cursors[1]))  # the newest evicted one
    assert [(e.event, e.json()["data"]) for e in events] == [("log", 2), ("log", 3), ("log", 4)]
    assert parse(hub.subscribe(["a"], cursor=cursors[0]))[0].event == "reset"


def test_history_is_bounded_by_bytes():
    hub = make_hub(history_bytes=400)  # a frame below is about 170 bytes: two fit, three do not
    for i in range(5):
        publish(hub, "a", "log", str(i) * 100)
    info = hub.channels()[0]
    assert info["retained"] == 2
    assert info["retained_bytes"] <= 400
    events = parse(hub.subscribe(["a"], replay="history"))
    assert [e.json()["data"] for e in events] == ["3" * 100, "4" * 100]
    frames = [f"id: {e.id}\nevent: log\ndata: {e.data}\n\n".encode() for e in events]
    assert info["retained_bytes"] == sum(map(len, frames))
    hub = make_hub(history_bytes=10)
    publish(hub, "a", "log", "x" * 50)
    assert hub.channels()[0]["retained"] == 1  # one event over the limit is still kept


def test_snapshot_is_bounded_by_snapshot_size_dropping_the_least_recently_updated_bar():
    hub = make_hub(snapshot_size=2)
    for name in ["b1", "b2", "b1", "b3"]:
        publish(hub, "a", "progress", bar(name, 0))
    events = parse(hub.subscribe(["a"], replay="snapshot"))
    assert [e.json()["data"]["bar"] for e in events] == ["b1", "b3"]


def test_event_filter_applies_to_replay_and_live():
    hub = make_hub()
    publish(hub, "a", "log", "l1")
    mark = publish(hub, "a", "progress", bar("x", 0))
    publish(hub, "a", "text", {"stream": "s", "delta": "t"})
    publish(hub, "a", "log", "l2")
    history = hub.subscribe(["a"], events=["log"], replay="history")
    resumed = hub.subscribe(["a"], events=["log", "text"], cursor=mark)
    assert [e.json()["data"] for e in parse(history)] == ["l1", "l2"]
    assert [e.event for e in parse(resumed)] == ["text", "log"]
    snapshot = hub.subscribe(["a"], events=["progress"], replay="snapshot")
    assert [e.event for e in parse(snapshot)] == ["progress"]
    publish(hub, "a", "progress", bar("x", 1))
    publish(hub, "a", "log", "l3")
    assert [e.json()["data"] for e in parse(history)] == ["l3"]
    assert [e.event for e in parse(resumed)] == ["log"]
    hub = make_hub(history_size=1)  # the filter also applies to evicted snapshot records
    publish(hub, "a", "progress", bar("x", 0))
    publish(hub, "a", "log", "kept")
    lost = hub.subscribe(["a"], events=["log"], cursor="e1-0")
    assert [e.event for e in parse(lost)] == ["reset", "log"]  # the hub's own events pass
    history = hub.subscribe(["a"], events=["log"], replay="history")
    assert [e.event for e in parse(history)] == ["log"]


def test_slow_consumer_is_closed_and_removed_while_another_keeps_receiving():
    hub = make_hub(buffer_bytes=2000)
    slow, fast = hub.subscribe(["a"]), hub.subscribe(["a"])
    aborted = []
    slow.on_abort = lambda: aborted.append(True)
    received = []
    for i in range(30):  # about 6 KB in all: three times the slow subscriber's buffer
        publish(hub, "a", "log", f"{i:03d}" + "x" * 150)
        received += parse(fast)
    assert slow.close_reason == "slow-consumer"
    assert aborted == [True]
    assert asyncio.run(slow.next_chunk()) is None  # its queue was dropped, not drained
    assert hub.channels()[0]["subscribers"] == 1
    assert [e.json()["data"][:3] for e in received] == [f"{i:03d}" for i in range(30)]
    assert not fast.closed


def test_replay_larger_than_the_send_buffer_is_delivered_and_live_limit_still_applies():
    hub = make_hub(buffer_bytes=1000)
    for i in range(20):  # about 3.4 KB of history
        publish(hub, "a", "log", f"{i:03d}" + "x" * 100)
    sub = hub.subscribe(["a"], replay="history")
    assert [e.json()["data"][:3] for e in parse(sub)] == [f"{i:03d}" for i in range(20)]
    publish(hub, "a", "log", "live")
    assert summary(parse(sub)) == [("log", "a", "live")]
    for _ in range(100):  # about 17 KB never drained: far past buffer_bytes plus the replay
        publish(hub, "a", "log", "x" * 100)
    assert sub.close_reason == "slow-consumer"


def test_next_chunk_coalesces_many_queued_frames_into_one_bytes_object():
    hub = make_hub()
    sub = hub.subscribe(["a"])
    for i in range(50):
        publish(hub, "a", "log", i)
    chunk = asyncio.run(sub.next_chunk())
    assert isinstance(chunk, bytes)
    assert sub.buffered_bytes == len(chunk)  # in flight until the transport confirms it
    sub.written()
    assert sub.buffered_bytes == 0
    assert [e.json()["data"] for e in EventParser().feed(chunk)] == list(range(50))


def test_next_chunk_waits_for_the_next_publish():
    async def scenario() -> bytes | None:
        hub = make_hub()
        sub = hub.subscribe(["a"])
        await sub.next_chunk()  # the opening frame
        waiting = asyncio.create_task(sub.next_chunk())
        await asyncio.sleep(0)
        assert not waiting.done()
        publish(hub, "a", "log", "woke")
        return await asyncio.wait_for(waiting, 1)

    assert json.loads(EventParser().feed(asyncio.run(scenario()))[0].data)["data"] == "woke"


def test_delete_channel_sends_close_and_ends_a_subscription_whose_only_channel_it_was():
    hub = make_hub()
    sub = hub.subscribe(["a"])
    publish(hub, "a", "log", 1)
    assert hub.delete_channel("a") is True
    events = parse(sub)
    assert summary(events) == [("log", "a", 1), ("close", "a", {"reason": "deleted"})]
    assert sub.close_reason == "channel-deleted"
    assert asyncio.run(sub.next_chunk()) is None
    assert hub.channels() == []
    assert hub.delete_channel("a") is False


def test_delete_channel_keeps_a_subscription_that_still_has_another_channel():
    hub = make_hub()
    sub = hub.subscribe(["a", "b"])
    hub.delete_channel("a")
    assert [e.event for e in parse(sub)] == ["close"]
    assert not sub.closed
    publish(hub, "b", "log", "still here")
    assert summary(parse(sub)) == [("log", "b", "still here")]


def test_recreated_channel_does_not_report_loss_for_a_cursor_taken_at_deletion():
    hub = make_hub()
    early = hub.head  # taken before "old" was published
    publish(hub, "a", "log", "old")
    sub = hub.subscribe(["a"])
    hub.delete_channel("a")
    parser = EventParser()
    parse(sub, parser)
    at_deletion = parser.last_event_id
    publish(hub, "a", "log", "new")
    events = parse(hub.subscribe(["a"], cursor=at_deletion))
    assert summary(events) == [("log", "a", "new")]
    assert parse(hub.subscribe(["a"], cursor=early))[0].event == "reset"  # "old" is gone


def test_max_channels_raises_capacity_error():
    hub = make_hub(max_channels=2)
    publish(hub, "a", "log", 1)
    hub.subscribe(["b"])
    with pytest.raises(CapacityError, match="max_channels") as info:
        publish(hub, "c", "log", 1)
    assert info.value.status == 503
    with pytest.raises(CapacityError):
        hub.subscribe(["c"])
    publish(hub, "a", "log", 2)  # existing channels keep working
    hub.delete_channel("a")
    publish(hub, "c", "log", 1)


def test_max_subscribers_raises_capacity_error():
    hub = make_hub(max_subscribers=2)
    first = hub.subscribe(["a"])
    hub.subscribe(["b"])
    with pytest.raises(CapacityError, match="max_subscribers"):
        hub.subscribe(["a"])
    hub.unsubscribe(first)
    assert first.closed
    hub.subscribe(["a"])


@pytest.mark.parametrize(
    "data",
    [object(), {1, 2}, {(1, 2): "tuple key"}, b"bytes", float("nan"), float("inf")],
    ids=["object", "set", "tuple-key", "bytes", "nan", "inf"],
)
def test_prepare_rejects_data_that_is_not_json(data):
    with pytest.raises(InvalidRequest, match="JSON") as info:
        make_hub().prepare("log", data)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("data", "fits"),
    [("x" * 98, True), ("x" * 99, False), ("é" * 49, True), ("é" * 50, False), ("😀" * 25, False)],
    ids=["ascii-at-limit", "ascii-over", "2-byte-at-limit", "2-byte-over", "4-byte-over"],
)
def test_prepare_limits_payload_to_max_event_bytes_of_utf8(data, fits):
    hub = make_hub(max_event_bytes=100)  # the JSON string adds two quote bytes
    if fits:
        assert json.loads(hub.prepare("log", data).payload) == data
    else:
        with pytest.raises(PayloadTooLarge, match="limit is 100") as info:
            hub.prepare("log", data)
        assert info.value.status == 413


LIMITS = ["history_size", "history_bytes", "buffer_bytes", "max_event_bytes", "max_channels",
          "max_subscribers", "snapshot_size"]  # fmt: skip


BAD_CONFIGS = [(name, value) for name in LIMITS for value in (0, -1, True, 1.5, "10")]
BAD_CONFIGS += [("retry_ms", -1), ("ping_interval", 0), ("ping_interval", -1.5)]


@pytest.mark.parametrize(("name", "value"), BAD_CONFIGS, ids=[f"{n}={v!r}" for n, v in BAD_CONFIGS])
def test_hub_config_rejects_zero_negative_and_non_int_limits(name, value):
    with pytest.raises(ValueError, match=name):
        HubConfig(**{name: value})
