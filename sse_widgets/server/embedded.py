"""An in-process hub for places with no reachable server extension (VS Code, Colab, scripts).

It is the standalone application, served on a loopback port by a daemon thread with its own
event loop, so it keeps running while the main thread is busy in a long cell. Its URL and
token are exported to ``os.environ`` so child processes (``multiprocessing``, subprocesses)
publish to the same hub.
"""

from __future__ import annotations

import asyncio
import os
import threading

from .config import SSEWidgets

__all__ = ["embedded_hub", "start_embedded_hub"]

_lock = threading.Lock()
_started: tuple[str, str] | None = None
_app = None


def start_embedded_hub() -> tuple[str, str]:
    """Start the embedded hub once per process; return its (URL, token)."""
    global _started
    with _lock:
        if _started is not None:
            return _started
        ready = threading.Event()
        result: dict[str, object] = {}

        def run() -> None:
            from .standalone import start_server

            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                global _app
                _server, app, url, token = await start_server(
                    SSEWidgets(), host="127.0.0.1", access_log=False
                )
                app.settings["sse_widgets"].hub.start()
                _app = app
                result["url"], result["token"] = url, token

            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                result["error"] = exc
                ready.set()
                return
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="sse-widgets-embedded-hub", daemon=True).start()
        ready.wait(30)
        if "error" in result:
            raise RuntimeError(f"could not start the embedded hub: {result['error']}")
        url, token = str(result["url"]), str(result["token"])
        os.environ["SSE_WIDGETS_URL"], os.environ["SSE_WIDGETS_TOKEN"] = url, token
        _started = (url, token)
        return _started


def embedded_hub():  # type: ignore[no-untyped-def]
    """The embedded hub's Hub object, or None when none was started (for the kernel relay)."""
    return None if _app is None else _app.settings["sse_widgets"].hub
