"""``sse-widgets demo``: a hub on this machine with a producer publishing sample events.

Every kind of event the widgets understand, on channel ``demo``: a progress bar that restarts,
log lines of every level, streamed text and a chart series. Watch it with
``sse-widgets tail demo`` or any SSE client.
"""

from __future__ import annotations

import asyncio
import math
import os
import time

from .hub import Hub

__all__ = ["run_demo"]

_WORDS = [
    "Server-Sent",
    "Events",
    "stream",
    "one",
    "way,",
    "from",
    "the",
    "hub",
    "to",
    "every",
    "viewer,",
    "over",
    "plain",
    "HTTP;",
    "each",
    "event",
    "carries",
    "a",
    "cursor",
    "so",
    "a",
    "viewer",
    "that",
    "reconnects",
    "resumes",
    "where",
    "it",
    "was.",
]


async def produce(hub: Hub, channel: str = "demo", interval: float = 0.1) -> None:
    """Publish the demo events forever (cancel the task to stop)."""
    step = 0
    started = time.monotonic()
    while True:
        total = 200
        value = step % (total + 1)
        elapsed = time.monotonic() - started
        items = [
            hub.prepare(
                "progress",
                {
                    "bar": "demo",
                    "value": value,
                    "total": total,
                    "desc": "demo work",
                    "unit": "it",
                    "state": "done" if value == total else "running",
                    "elapsed": round(elapsed, 2),
                    "rate": round(1 / interval, 1),
                    "eta": round((total - value) * interval, 1),
                    "parent": None,
                    "message": None,
                },
            )
        ]
        if step % 10 == 0:
            level = ("DEBUG", "INFO", "INFO", "WARNING", "ERROR")[(step // 10) % 5]
            items.append(
                hub.prepare(
                    "log",
                    {
                        "level": level,
                        "logger": "demo",
                        "message": f"step {step}",
                        "time": time.time(),
                    },
                )
            )
        items.append(
            hub.prepare("text", {"stream": "story", "delta": _WORDS[step % len(_WORDS)] + " "})
        )
        items.append(
            hub.prepare("point", {"series": "sine", "x": step, "y": round(math.sin(step / 10), 4)})
        )
        await hub.publish(channel, items)
        step += 1
        await asyncio.sleep(interval)


def run_demo(*, port: int = 8765, seconds: float = 0) -> int:
    """Run the demo hub in the foreground until Ctrl-C (or for ``seconds``)."""
    from .server.config import SSEWidgets
    from .server.standalone import runtime_file, start_server

    async def main() -> None:
        server, app, url, token = await start_server(SSEWidgets(), port=port)
        hub: Hub = app.settings["sse_widgets"].hub
        hub.start()
        with runtime_file({"url": url, "token": token, "pid": os.getpid()}):
            print(f"sse-widgets demo: hub at {url}, publishing to channel 'demo'", flush=True)
            print(f"  watch in a terminal: sse-widgets tail demo --url {url} --token {token}")
            print(f"  or with curl:        curl -N '{url}api/channels/demo/events?token={token}'")
            print(f"  channel list:        {url}api/channels?token={token}", flush=True)
            task = asyncio.create_task(produce(hub))
            try:
                if seconds:
                    await asyncio.sleep(seconds)
                else:
                    await asyncio.Event().wait()
            finally:
                task.cancel()
                server.stop()
                await hub.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken: say so, without a traceback
        raise SystemExit(
            f"sse-widgets demo: cannot listen on port {port}: {exc.strerror or exc}; "
            "pick another with --port (0 picks a free one)"
        ) from None
    return 0
