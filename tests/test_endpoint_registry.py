"""The endpoint registry's pure logic (server/endpoints.py): arguments, limits, numbering,
resume, bounded history, cancel on the last reader leaving. No HTTP here."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from sse_widgets.errors import InvalidRequest, Unavailable
from sse_widgets.hub import Hub
from sse_widgets.server.endpoints import EndpointInfo, EndpointRegistry

INFO = EndpointInfo(
    "job",
    "(n: int, tag: str = '')",
    "A job.",
    ({"name": "n", "required": True}, {"name": "tag", "required": False, "default": ""}),
    max_concurrency=2,
)
HUB = Hub()


def item(event: str, data: object):  # type: ignore[no-untyped-def]
    return HUB.prepare(event, data)


def feed_messages(feed) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    messages = []
    for frame in feed._chunks:
        kind, data = frame.decode().strip().split("\n")
        messages.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    feed._chunks.clear()
    return messages


def frames(sub) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.decode() for f in sub._chunks]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ([1], "JSON object"),
        ({"tag": "x"}, "missing argument(s) ['n']"),
        ({"n": 1, "m": 2}, "no parameter(s) ['m']"),
    ],
)
def test_arguments_are_checked_against_the_signature(arguments, problem):
    with pytest.raises(InvalidRequest, match=re.escape(problem)):
        INFO.check_arguments(arguments)
    assert INFO.check_arguments({"n": 1}) == {"n": 1}


def test_a_registration_body_is_validated():
    assert EndpointInfo.from_json("x", {"worker": "w" * 8}, 4).max_concurrency == 4
    for bad in ([], {"parameters": "n"}, {"max_concurrency": 0}, {"doc": 3}):
        with pytest.raises(InvalidRequest):
            EndpointInfo.from_json("x", bad, 4)


async def test_calls_are_numbered_limited_and_finished_calls_free_their_slot():
    registry = EndpointRegistry(retention=60)
    feed = registry.attach_worker(INFO, "worker-1")
    calls = [registry.start_call("job", {"n": i}) for i in range(2)]
    assert [m[0] for m in feed_messages(feed)] == ["call", "call"]
    with pytest.raises(InvalidRequest) as refused:
        registry.start_call("job", {"n": 9})
    assert refused.value.status == 429
    # many finished calls kept for resuming: the running count stays exact (and cheap)
    registry.record(calls[0].id, [item("complete", None)])  # frees its slot
    for _ in range(300):
        call = registry.start_call("job", {"n": 1})
        registry.record(call.id, [item("message", 1), item("complete", {"ok": True})])
    [entry] = registry.describe()
    assert entry["running"] == 1 and entry["workers"] == 1
    # numbering, and events after the terminal one are dropped
    sub = registry.open_reader(calls[1])
    ids = registry.record(calls[1].id, [item("progress", {"bar": "b"}), item("message", "v")])
    assert ids == ["1", "2"]
    assert registry.record(calls[1].id, [item("error", {"type": "E", "message": "m"})]) == ["3"]
    assert registry.record(calls[1].id, [item("message", "late")]) == []
    assert [f.split("\n")[0] for f in frames(sub)] == ["id: 1", "id: 2", "id: 3"]
    assert sub.closed  # its stream ends after the terminal event
    # a resume after id 2 gets only the rest
    assert frames(registry.open_reader(calls[1], "2")) == [frames(sub)[2]]
    registry.close()


async def test_unknown_endpoints_and_reconnecting_workers():
    registry = EndpointRegistry()
    with pytest.raises(InvalidRequest) as unknown:
        registry.start_call("nope", {})
    assert unknown.value.status == 404
    feed = registry.attach_worker(INFO, "worker-1")
    call = registry.start_call("job", {"n": 1}, resume_window=0)
    registry.detach_worker(INFO, "worker-1", feed)
    with pytest.raises(Unavailable):
        registry.start_call("job", {"n": 1})
    # the same worker back within the grace gets its running call again
    again = registry.attach_worker(INFO, "worker-1")
    assert feed_messages(again) == [("call", {"id": call.id, "arguments": {"n": 1}})]
    registry.close()


async def test_the_last_reader_leaving_cancels_unless_a_resume_window_keeps_it():
    registry = EndpointRegistry()
    feed = registry.attach_worker(INFO, "worker-1")
    now = registry.start_call("job", {"n": 1})
    later = registry.start_call("job", {"n": 2}, resume_window=0.05)
    feed_messages(feed)
    readers = [registry.open_reader(now), registry.open_reader(later)]
    registry.reader_gone(now, readers[0])
    registry.reader_gone(later, readers[1])
    assert feed_messages(feed) == [("cancel", {"id": now.id, "reason": "the caller went away"})]
    back = registry.open_reader(later)  # resumed within the window: not cancelled
    await asyncio.sleep(0.1)
    assert feed_messages(feed) == []
    registry.reader_gone(later, back)
    await asyncio.sleep(0.1)
    [(kind, data)] = feed_messages(feed)
    assert kind == "cancel" and data["id"] == later.id and "0.05 s" in data["reason"]
    registry.close()


async def test_a_calls_history_is_bounded_but_keeps_its_last_event():
    registry = EndpointRegistry(max_call_bytes=2000)
    registry.attach_worker(INFO, "worker-1")
    call = registry.start_call("job", {"n": 1})
    registry.record(call.id, [item("message", "x" * 100) for _ in range(100)])
    registry.record(call.id, [item("complete", "y" * 5000)])
    kept = frames(registry.open_reader(call))
    assert len(kept) == 1 and "event: complete" in kept[0]
    registry.close()
