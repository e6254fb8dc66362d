"""The publisher: never blocks or raises on network faults, batches, retries without
duplicates, falls back to an embedded hub, and works from threads, forked children and
async code (asyncio and trio)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import anyio
import pytest
from conftest import CuttingProxy, free_port, run_python, start_hub

from sse_widgets import InvalidRequest, Publisher
from sse_widgets.client import EventStream


def _history(url: str, token: str, channel: str, count: int) -> list:
    """The first ``count`` events of a channel, from the start of its history."""
    events = []
    stream = EventStream(url, channels=[channel], token=token, replay="history")
    for event in stream:
        events.append(event.json()["data"])
        if len(events) == count:
            break
    stream.close()
    return events


def _retained(url: str, token: str, channel: str) -> int:
    import urllib.request

    request = urllib.request.Request(
        url + "api/channels", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        channels = {c["name"]: c for c in json.load(reply)["channels"]}
    return int(channels[channel]["retained"])


def test_hub_down_then_up_loses_nothing_and_warns_once(tmp_path, caplog):
    port = free_port()
    publisher = Publisher(f"http://127.0.0.1:{port}/", "T")
    caplog.set_level(logging.INFO, logger="sse_widgets.publisher")
    started = time.perf_counter()
    for n in range(200):
        publisher.send("outage", "log", {"n": n})
    assert time.perf_counter() - started < 0.5, "send() must not wait for the network"
    assert publisher.flush(timeout=0.5) is False
    hub = start_hub(tmp_path, port=port)
    try:
        assert publisher.flush(timeout=20) is True
        assert [e["n"] for e in _history(hub.url, "T", "outage", 200)] == list(range(200))
    finally:
        publisher.close()
        hub.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot reach the hub" in warnings[0].getMessage()


async def test_batch_retried_after_a_lost_reply_is_not_published_twice(hub_process):
    # The proxy cuts the first reply after 10 bytes: the hub has accepted the batch but the
    # publisher cannot know, and sends it again with the same Idempotency-Key.
    async with CuttingProxy(hub_process.port, [10]) as proxy:
        publisher = Publisher(f"http://127.0.0.1:{proxy.port}/", hub_process.token)
        for n in range(50):
            publisher.send("once", "log", {"n": n})
        assert await anyio.to_thread.run_sync(publisher.flush, 20)
        publisher.close()
        assert proxy.cuts == 1
    assert _retained(hub_process.url, hub_process.token, "once") == 50


def test_buffer_is_bounded_while_the_hub_is_down():
    publisher = Publisher(f"http://127.0.0.1:{free_port()}/", "T", max_buffer_bytes=10_000)
    for n in range(1000):
        publisher.send("bounded", "log", {"n": n, "pad": "x" * 50})
    stats = publisher.stats
    assert stats["dropped"] > 800
    assert stats["pending"] * 80 < 20_000
    publisher.close(timeout=0.1)


def test_bad_arguments_raise_before_anything_is_queued():
    publisher = Publisher("http://127.0.0.1:9/", "T", start=False)
    with pytest.raises(InvalidRequest, match="invalid channel name"):
        publisher.send("no spaces", "log", 1)
    with pytest.raises(InvalidRequest, match="CR, LF and NUL"):
        publisher.send("ok", "a\nb", 1)
    with pytest.raises(TypeError, match="not JSON-serializable"):
        publisher.send("ok", "log", {"when": object()})
    assert publisher.stats["queued"] == 0


def test_many_threads_publish_through_one_sender(hub_process):
    import threading

    publisher = Publisher(hub_process.url, hub_process.token)

    def work(t: int) -> None:
        for n in range(500):
            publisher.send("threads", "log", {"t": t, "n": n})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert publisher.flush(20)
    events = _history(hub_process.url, hub_process.token, "threads", 2000)
    for t in range(4):
        assert [e["n"] for e in events if e["t"] == t] == list(range(500))
    assert publisher.stats["batches"] < 2000 / 10, "events must travel in batches"
    publisher.close()


def test_without_a_hub_url_an_embedded_hub_serves_the_process():
    out = run_python(
        """
import os, json
from sse_widgets import channel, get_publisher
from sse_widgets.client import EventStream
assert not os.environ.get("SSE_WIDGETS_URL")
channel("local").send("log", {"n": 1})
assert get_publisher().flush(10)
url, token = os.environ["SSE_WIDGETS_URL"], os.environ["SSE_WIDGETS_TOKEN"]
for event in EventStream(url, channels=["local"], token=token, replay="history"):
    print(json.dumps([url.startswith("http://127.0.0.1:"), event.json()["data"]]))
    break
""",
        env={"SSE_WIDGETS_URL": ""},
    )
    assert json.loads(out) == [True, {"n": 1}]


def test_forked_children_publish_with_their_own_sender(hub_process):
    out = run_python(
        """
import multiprocessing as mp
import sse_widgets

def child(k):
    for n in range(100):
        sse_widgets.channel("kids").send("log", {"k": k, "n": n})
    assert sse_widgets.get_publisher().flush(20)

if __name__ == "__main__":
    sse_widgets.channel("kids").send("log", {"k": -1, "n": 0})  # parent's sender exists first
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=child, args=(k,)) for k in range(3)]
    for p in procs: p.start()
    for p in procs: p.join(30)
    print([p.exitcode for p in procs], sse_widgets.get_publisher().flush(10))
""",
        env={"SSE_WIDGETS_URL": hub_process.url, "SSE_WIDGETS_TOKEN": hub_process.token},
    )
    assert out.strip() == "[0, 0, 0] True"
    events = _history(hub_process.url, hub_process.token, "kids", 301)
    for k in range(3):
        assert [e["n"] for e in events if e["k"] == k] == list(range(100))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_send_and_flush_under_asyncio_and_trio(hub_process, backend):
    from sse_widgets.producer import ChannelPublisher

    publisher = Publisher(hub_process.url, hub_process.token)
    channel = ChannelPublisher(f"async-{backend}", publisher)

    async def main() -> bool:
        for n in range(100):
            await channel.asend("log", {"n": n})
        return await publisher.aflush(20)

    assert anyio.run(main, backend=backend) is True
    events = _history(hub_process.url, hub_process.token, f"async-{backend}", 100)
    assert [e["n"] for e in events] == list(range(100))
    publisher.close()


def test_events_sent_just_before_exit_are_delivered(hub_process):
    run_python(
        """
import sse_widgets
for n in range(500):
    sse_widgets.channel("bye").send("log", {"n": n})
# no flush: the exit-time flush must deliver them
""",
        env={"SSE_WIDGETS_URL": hub_process.url, "SSE_WIDGETS_TOKEN": hub_process.token},
    )
    assert _retained(hub_process.url, hub_process.token, "bye") == 500


def test_events_sent_just_before_exit_after_connect_are_delivered(hub_process):
    # connect() builds its own publisher: it too must be flushed at exit (it once was not,
    # and a script lost up to three quarters of 20,000 events).
    run_python(
        f"""
import sse_widgets
sse_widgets.connect({hub_process.url!r}, {hub_process.token!r})
for n in range(5000):
    sse_widgets.channel("bye-connect").send("log", {{"n": n}})
"""
    )
    assert _retained(hub_process.url, hub_process.token, "bye-connect") == 5000


def test_a_plain_script_without_a_hub_names_the_url_of_its_live_page_once():
    # issue 12: a script's progress() started an embedded hub and showed nothing anywhere
    script = """
import json, os, urllib.request
import sse_widgets
for _ in sse_widgets.progress(range(3), channel="script", desc="job"):
    pass
sse_widgets.channel("script").log("second event: no second line")
assert sse_widgets.get_publisher().flush(10)
url, token = os.environ["SSE_WIDGETS_URL"], os.environ["SSE_WIDGETS_TOKEN"]
request = urllib.request.Request(url + "api/channels", headers={"Authorization": f"Bearer {token}"})
names = [c["name"] for c in json.load(urllib.request.urlopen(request, timeout=10))["channels"]]
import http.client
from urllib.parse import urlsplit
page = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=10)
page.request("GET", "/?token=" + token)
reply = page.getresponse()
login = [reply.status, bool(reply.getheader("Set-Cookie"))]
print(json.dumps({"url": url, "token": token, "channels": names, "login": login}))
"""
    env = {**os.environ, "SSE_WIDGETS_URL": "", "SSE_WIDGETS_TOKEN": ""}
    env.pop("SSE_WIDGETS_QUIET", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{seen['url']}?token={seen['token']}" in lines[0]
    assert "script" in seen["channels"]
    assert seen["login"] == [302, True]  # the URL logs the browser into the live page
    quiet = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "SSE_WIDGETS_QUIET": "1"},
        timeout=60,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
