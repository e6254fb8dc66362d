"""Progress bars in a real kernel started by a real jupyter_server: a viewer cancels a running
cell's loop, and a plain ``for`` loop that raises ends its bar with ``error``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time


def _hub(jp_serverapp):  # type: ignore[no-untyped-def]
    return jp_serverapp.web_app.settings["sse_widgets"].hub


def _bar_states(jp_serverapp, channel: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    target = _hub(jp_serverapp).channel_or_none(channel)
    assert target is not None, f"nothing was published to {channel!r}"
    return {r.key[1]: json.loads(r.payload) for r in target.snapshot.values()}


@contextlib.asynccontextmanager
async def running_kernel(jp_serverapp):  # type: ignore[no-untyped-def]
    """A kernel started by the server (so it inherits SSE_WIDGETS_URL), and a client."""
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)


async def _outputs_until(client, msg_id: str, predicate, timeout: float = 60):  # type: ignore[no-untyped-def]
    """Read IOPub for one execution until ``predicate(texts)`` holds or the kernel is idle."""
    texts: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await client.get_iopub_msg()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                texts.append(msg["content"]["text"])
                if predicate("".join(texts)):
                    return "".join(texts)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(texts)


async def test_a_viewer_cancels_a_loop_running_in_a_busy_kernel(jp_serverapp, jp_fetch):
    async with running_kernel(jp_serverapp) as kernel:
        await _cancel_scenario(jp_serverapp, jp_fetch, kernel)


async def _cancel_scenario(jp_serverapp, jp_fetch, kernel):  # type: ignore[no-untyped-def]
    code = (
        "import time, sse_widgets\n"
        "bar = sse_widgets.progress(range(10**9), channel='kcancel', desc='long job')\n"
        "print('BAR', bar.id, flush=True)\n"
        "for _ in bar:\n"
        "    time.sleep(0.001)\n"
    )
    msg_id = kernel.execute(code)
    text = await _outputs_until(kernel, msg_id, lambda t: "BAR " in t and t.endswith("\n"))
    bar_id = text.split("BAR ", 1)[1].split()[0]
    await asyncio.sleep(1.0)  # the loop is well under way, the kernel busy
    assert _bar_states(jp_serverapp, "kcancel")[bar_id]["state"] == "running"
    posted = time.monotonic()
    await jp_fetch(
        "sse-widgets",
        "api",
        "channels",
        "kcancel",
        "control",
        method="POST",
        body=json.dumps({"event": "cancel", "data": {"bar": bar_id}}),
        headers={"Content-Type": "application/json"},
    )
    async with asyncio.timeout(30):
        while True:
            reply = await kernel.get_shell_msg()
            if reply["parent_header"].get("msg_id") == msg_id:
                break
    stopped_after = time.monotonic() - posted
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Cancelled"
    assert stopped_after < 1.0, f"the loop took {stopped_after:.2f} s to stop"
    async with asyncio.timeout(10):
        while _bar_states(jp_serverapp, "kcancel")[bar_id]["state"] != "cancelled":
            await asyncio.sleep(0.05)


async def test_a_plain_loop_that_raises_ends_its_bar_with_the_error(jp_serverapp, http_server):
    async with running_kernel(jp_serverapp) as kernel:
        await _error_scenario(jp_serverapp, kernel)


async def _error_scenario(jp_serverapp, kernel):  # type: ignore[no-untyped-def]
    code = (
        "import sse_widgets\n"
        "bar = sse_widgets.progress(range(100), channel='kerror', desc='fragile')\n"
        "print('BAR', bar.id, flush=True)\n"
        "for step in bar:\n"
        "    if step == 42:\n"
        "        raise RuntimeError('sensor offline')\n"
    )
    msg_id = kernel.execute(code)
    text = await _outputs_until(kernel, msg_id, lambda t: False)
    bar_id = text.split("BAR ", 1)[1].split()[0]
    state: dict = {}
    async with asyncio.timeout(20):  # the kernel's sender delivers in the background
        while state.get("state") in (None, "running"):
            await asyncio.sleep(0.05)
            target = _hub(jp_serverapp).channel_or_none("kerror")
            if target is not None:
                state = _bar_states(jp_serverapp, "kerror").get(bar_id, {})
    assert (state["state"], state["message"], state["value"]) == (
        "error",
        "RuntimeError: sensor offline",
        43,
    )
