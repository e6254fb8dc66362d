"""The extension in a real jupyter_server (pytest-jupyter, base URL ``/a%40b/``, anonymous
access off): publishing from another process and from a kernel, reading with the Python
client and a raw HTTP reader, and the multiplexed order across channels. On every backend."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import PUBLISH_TOKEN, arun_python, read_raw_stream

from sse_widgets.client import EventStream

pytestmark = pytest.mark.backends


def _hub(jp_serverapp):  # type: ignore[no-untyped-def]
    return jp_serverapp.web_app.settings["sse_widgets"].hub


async def _wait_for_subscribers(jp_serverapp, channel: str, count: int) -> None:  # type: ignore[no-untyped-def]
    # This process's subscribers of the channel. Not from channels_async(): on Redis it lists
    # only the channels that have events in Redis, and these have none yet.
    async with asyncio.timeout(20):
        while True:
            target = _hub(jp_serverapp).channel_or_none(channel)
            if target is not None and len(target.subscribers) >= count:
                return
            await asyncio.sleep(0.02)


async def test_other_process_publishes_and_both_readers_get_channels_in_order(
    jp_serverapp, hub_url, user_token, http_server_port, jp_base_url
):
    port = http_server_port[1]
    stream = EventStream(hub_url, channels=["a", "b"], token=user_token)
    received: list = []

    async def python_client() -> None:
        async with stream:
            async for event in stream:
                received.append(event)
                if len(received) == 6:
                    return

    client_task = asyncio.create_task(python_client())
    raw_task = asyncio.create_task(
        read_raw_stream(
            port,
            f"{jp_base_url}sse-widgets/api/events?channel=a&channel=b",
            {"Authorization": f"token {user_token}"},
            frames=6,
        )
    )
    await _wait_for_subscribers(jp_serverapp, "a", 2)
    await _wait_for_subscribers(jp_serverapp, "b", 2)

    out = await arun_python(f"""
import sse_widgets
pub = sse_widgets.connect({hub_url!r}, {PUBLISH_TOKEN!r})
for n in range(6):
    sse_widgets.channel("ab"[n % 2]).send("log", {{"n": n}})
print(pub.flush(20))
""")
    assert out.strip() == "True"
    await asyncio.wait_for(client_task, 20)
    raw = await asyncio.wait_for(raw_task, 20)

    expected = [("ab"[n % 2], n) for n in range(6)]
    got = [(e.json()["channel"], e.json()["data"]["n"]) for e in received]
    assert got == expected
    assert [
        (json.loads(f["data"])["channel"], json.loads(f["data"])["data"]["n"]) for f in raw
    ] == expected
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    assert [f["id"] for f in raw] == [e.id for e in received]


async def test_single_channel_endpoint_sends_the_payload_itself(
    jp_serverapp, user_token, http_server_port, jp_base_url, jp_fetch
):
    port = http_server_port[1]
    reader = asyncio.create_task(
        read_raw_stream(
            port,
            f"{jp_base_url}sse-widgets/api/channels/plain/events?token={user_token}",
            {},
            frames=1,
        )
    )
    await _wait_for_subscribers(jp_serverapp, "plain", 1)
    await jp_fetch(
        "sse-widgets",
        "api",
        "channels",
        "plain",
        "events",
        method="POST",
        body=json.dumps({"event": "greeting", "data": {"hello": "world"}}),
        headers={"Content-Type": "application/json"},
    )
    [frame] = await asyncio.wait_for(reader, 20)
    assert frame["event"] == "greeting"
    assert json.loads(frame["data"]) == {"hello": "world"}


async def test_kernel_started_by_the_server_publishes_with_no_configuration(
    jp_serverapp, hub_url, user_token
):
    stream = EventStream(hub_url, channels=["kernel"], token=user_token)
    received: list = []

    async def read_one() -> None:
        async with stream:
            async for event in stream:
                received.append(event)
                return

    reader = asyncio.create_task(read_one())
    await _wait_for_subscribers(jp_serverapp, "kernel", 1)
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        code = (
            "import os, sse_widgets\n"
            "sse_widgets.channel('kernel').send('log', {'url': os.environ['SSE_WIDGETS_URL']})\n"
            "assert sse_widgets.get_publisher().flush(20)\n"
        )
        reply = await client.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        await asyncio.wait_for(reader, 20)
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
    [event] = received
    assert event.json()["data"]["url"] == hub_url
