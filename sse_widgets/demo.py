"""The demo's sample events, and what ``sse-widgets demo`` opens.

Every kind of event the widgets understand, on channel ``demo``: a progress bar that restarts,
log lines of every level, streamed text and a chart series. ``sse-widgets demo`` publishes
them into the JupyterLab it starts (``publish_demo``) and opens the quickstart notebook
(``find_demo_notebook``); ``sse-widgets demo --hub-only`` serves them from a hub of its own
(``run_demo``). Watch them with ``sse-widgets tail demo`` or any SSE client.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .hub import Hub

if TYPE_CHECKING:
    from .launch import JupyterServer
    from .publisher import Publisher

__all__ = ["find_demo_notebook", "publish_demo", "run_demo"]

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


# -- `sse-widgets demo`: the sample events published into a Jupyter server's hub -------------


class _PublisherAsHub:
    """The two methods of :class:`~sse_widgets.hub.Hub` that ``demo.produce`` calls, sending
    through a :class:`~sse_widgets.publisher.Publisher` to a hub in another process."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def prepare(self, event: str, data: Any) -> tuple[str, Any]:
        return event, data

    async def publish(self, channel: str, items: Sequence[tuple[str, Any]]) -> list[str]:
        for event, data in items:
            self.publisher.send(channel, event, data)
        return []


def publish_demo(server: JupyterServer, channel: str = "demo") -> Callable[[], None]:
    """Publish ``sse_widgets.demo``'s sample events (a bar, logs, text, a chart) into the
    server's hub on ``channel``, from a thread; return the function that stops it."""
    from .publisher import Publisher

    publisher = Publisher(server.hub_url, server.publish_token)
    stopped = threading.Event()

    async def main() -> None:
        task = asyncio.create_task(produce(cast(Hub, _PublisherAsHub(publisher)), channel))
        while not stopped.is_set() and not task.done():
            await asyncio.sleep(0.1)
        task.cancel()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="sse-widgets-demo")
    thread.start()

    def stop() -> None:
        stopped.set()
        thread.join(5)
        publisher.close(timeout=2)  # before the server goes: no "hub unreachable" warnings

    return stop


# What the demo opens when there is no notebooks/quickstart.ipynb (a pip-installed package).
_FALLBACK_CELL = 'import sse_widgets\n\nsse_widgets.show("demo")  # what the demo publishes'
_FALLBACK_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "id": "demo", "source": _FALLBACK_CELL, "metadata": {}}
        | {"outputs": [], "execution_count": None}
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def find_demo_notebook(scratch: Path) -> Path:
    """``notebooks/quickstart.ipynb`` of this directory or of the checkout the package runs
    from; else a one-cell notebook showing the ``demo`` channel, written into ``scratch``."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (base / "notebooks" / "quickstart.ipynb").is_file():
            return base / "notebooks" / "quickstart.ipynb"
    path = scratch / "sse-widgets-demo.ipynb"
    path.write_text(json.dumps(_FALLBACK_NOTEBOOK, indent=1))
    return path
