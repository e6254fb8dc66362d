"""The Python subscriber: sync and async (asyncio, trio) iteration, resume with
Last-Event-ID, the server's retry delay, close and error handling; on every hub backend."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import anyio
import pytest
from conftest import CuttingProxy

from sse_widgets import ChannelClosed, InvalidRequest, NotAuthorized, Publisher
from sse_widgets.client import EventStream

pytestmark = pytest.mark.backends


def _publish(hub, channel: str, count: int, start: int = 0) -> None:  # type: ignore[no-untyped-def]
    publisher = Publisher(hub.url, hub.token)
    for n in range(start, start + count):
        publisher.send(channel, "log", {"n": n})
    assert publisher.flush(20)
    publisher.close()


def _delete(hub, channel: str) -> None:  # type: ignore[no-untyped-def]
    request = urllib.request.Request(
        f"{hub.url}api/channels/{channel}",
        method="DELETE",
        headers={"Authorization": f"Bearer {hub.token}"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _later(delay: float, action, *args) -> threading.Timer:  # type: ignore[no-untyped-def]
    """Run ``action(*args)`` in a thread after ``delay`` seconds; join it before the test
    ends, so that the hub is not stopped before it has answered (the stream may see the
    result, e.g. a ``close``, before the request's own reply arrives)."""
    timer = threading.Timer(delay, action, args)
    timer.start()
    return timer


def test_sync_iteration_reads_history_then_live(hub_process):
    _publish(hub_process, "sync", 5)
    stream = EventStream(
        hub_process.url, channels=["sync"], token=hub_process.token, replay="history"
    )
    got = []
    publisher = _later(0.5, _publish, hub_process, "sync", 5, 5)
    for event in stream:
        got.append(event.json()["data"]["n"])
        if len(got) == 10:
            break
    stream.close()
    publisher.join(30)
    assert got == list(range(10))
    assert stream.parser.retry == 20  # the hub's retry: field was followed


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_iteration_under_asyncio_and_trio(hub_process, backend):
    _publish(hub_process, f"a-{backend}", 20)

    async def main() -> list[int]:
        got = []
        async with EventStream(
            hub_process.url, channels=[f"a-{backend}"], token=hub_process.token, replay="history"
        ) as stream:
            async for event in stream:
                got.append(event.json()["data"]["n"])
                if len(got) == 20:
                    break
        return got

    assert anyio.run(main, backend=backend) == list(range(20))


def test_sync_reconnect_resumes_after_a_cut(hub_process):
    async def scenario() -> list[int]:
        async with CuttingProxy(hub_process.port, [700]) as proxy:
            url = f"http://127.0.0.1:{proxy.port}/"
            stream = EventStream(url, channels=["cut"], token=hub_process.token, replay="history")
            got: list[int] = []

            def read() -> None:
                for event in stream:
                    got.append(event.json()["data"]["n"])
                    if len(got) == 30:
                        return

            await anyio.to_thread.run_sync(_publish, hub_process, "cut", 30)
            await anyio.to_thread.run_sync(read)
            assert proxy.cuts == 1 and stream.connections == 2
            return got

    assert anyio.run(scenario) == list(range(30))


def test_deleting_the_channel_ends_the_stream_with_close(hub_process):
    _publish(hub_process, "gone", 1)
    stream = EventStream(
        hub_process.url, channels=["gone"], token=hub_process.token, replay="history"
    )
    names = []
    deleter = _later(0.5, _delete, hub_process, "gone")
    started = time.monotonic()
    for event in stream:
        names.append(event.event)
    deleter.join(10)
    assert names == ["log", "close"]
    assert time.monotonic() - started < 10


def test_a_multiplexed_stream_continues_until_all_its_channels_close(hub_process):
    _publish(hub_process, "m1", 1)
    _publish(hub_process, "m2", 1)
    stream = EventStream(
        hub_process.url, channels=["m1", "m2"], token=hub_process.token, replay="history"
    )
    seen = []
    actions = [
        _later(0.3, _delete, hub_process, "m1"),
        _later(0.6, _publish, hub_process, "m2", 1, 1),
        _later(0.9, _delete, hub_process, "m2"),
    ]
    for event in stream:
        frame = event.json()
        seen.append((event.event, frame["channel"]))
    for action in actions:
        action.join(30)
    assert seen == [("log", "m1"), ("log", "m2"), ("close", "m1"), ("log", "m2"), ("close", "m2")]


def test_refusals_raise_instead_of_retrying(hub_process):
    with pytest.raises(NotAuthorized):
        next(iter(EventStream(hub_process.url, channels=["x"], token="wrong")))
    with pytest.raises(InvalidRequest, match="invalid channel name"):
        next(iter(EventStream(hub_process.url, channels=["bad name"], token=hub_process.token)))
    assert issubclass(ChannelClosed, Exception)


def test_any_sse_url_can_be_read_whole(hub_process):
    _publish(hub_process, "raw", 3)
    url = f"{hub_process.url}api/channels/raw/events?replay=history"
    stream = EventStream(url, token=hub_process.token)
    got = []
    for event in stream:
        got.append(json.loads(event.data or "null"))
        if len(got) == 3:
            break
    stream.close()
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_close_from_another_thread_ends_a_blocked_read_at_once(hub_process):
    stream = EventStream(
        hub_process.url, channels=["idle"], token=hub_process.token, read_timeout=30
    )
    ended = threading.Event()

    def read() -> None:
        for _ in stream:
            pass
        ended.set()

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.5)  # connected, blocked in recv: nothing is published
    started = time.monotonic()
    stream.close()
    assert ended.wait(5), "the reader did not return"
    assert time.monotonic() - started < 2
    thread.join(5)
