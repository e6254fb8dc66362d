"""The page connection module (js/src/connection.js, as built into sse_widgets/static/) in
real headless Chromium against a real hub: several widgets share ONE EventSource, get their
channels' events, and a widget added later gets its channel's history without disturbing
the others. Cross-origin, as with an external hub: the page is served from another port and
the hub allows that origin."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from browser import chromium_page
from conftest import REPO, channel_info, free_port, start_hub

from sse_widgets import Publisher

PAGE = """<!doctype html><meta charset="utf-8"><title>connection</title>
<script type="module">
import { subscribe } from "./connection.js";
const params = new URLSearchParams(location.search);
const hub = params.get("hub"), token = params.get("token");
window.received = {};
window.widget = (name, channels, replay) => {
  window.received[name] = [];
  return subscribe({ url: hub, token, channels, replay,
    onEvent(event, payload, meta) { window.received[name].push([meta.channel, payload.n]); } });
};
window.widget("w1", ["a"]);
window.widget("w2", ["b"]);
window.widget("w3", ["a", "b"]);
window.ready = true;
</script>"""


@pytest.fixture
def page_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    built = REPO / "sse_widgets" / "static" / "connection.js"
    assert built.exists(), "build the JS first (scripts/setup.sh, or npm run build in js/)"
    shutil.copy(built, tmp_path / "connection.js")
    (tmp_path / "index.html").write_text(PAGE)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_widgets_share_one_stream_and_a_late_widget_gets_history(page_server, tmp_path):
    hub = start_hub(tmp_path, "--allow-origin", page_server, "--SSEWidgets.retry_ms=100")
    publisher = Publisher(hub.url, hub.token)
    try:
        with chromium_page() as page:
            page.goto(f"{page_server}/index.html?hub={hub.url}&token={hub.token}")
            page.wait_for_function("window.ready === true", timeout=20_000)
            page.wait_for_function("true", timeout=1000)
            _wait_subscribers(hub, {"a": 1, "b": 1})
            for n in range(50):
                publisher.send("ab"[n % 2], "log", {"n": n})
            assert publisher.flush(20)
            page.wait_for_function(
                "window.received.w3.length === 50 && window.received.w1.length === 25"
                " && window.received.w2.length === 25",
                timeout=20_000,
            )
            got = page.evaluate("window.received")
            assert [n for _, n in got["w3"]] == list(range(50))
            assert got["w1"] == [["a", n] for n in range(0, 50, 2)]
            assert got["w2"] == [["b", n] for n in range(1, 50, 2)]
            # Three widgets, one stream: each channel has exactly one subscriber at the hub.
            assert (
                channel_info(hub, "a")["subscribers"],
                channel_info(hub, "b")["subscribers"],
            ) == (1, 1)

            # (An expression that evaluates to a function is called by Playwright: the
            # unsubscribe function widget() returns must not be the expression's value.)
            page.evaluate("() => { window.widget('late', ['a'], 'history'); }")
            page.wait_for_function("window.received.late.length === 25", timeout=20_000)
            publisher.send("a", "log", {"n": 50})
            assert publisher.flush(20)
            page.wait_for_function("window.received.w3.length === 51", timeout=20_000)
            got = page.evaluate("window.received")
            assert [n for _, n in got["late"]] == list(range(0, 52, 2))[:26]
            assert [n for _, n in got["w3"]] == list(range(51)), (
                "the others saw a duplicate or a gap"
            )
            assert [n for _, n in got["w1"]] == list(range(0, 51, 2))
            _wait_subscribers(hub, {"a": 1, "b": 1})
    finally:
        publisher.close()
        hub.stop()


def _wait_subscribers(hub, expected: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if all(channel_info(hub, c)["subscribers"] == n for c, n in expected.items()):
                return
        except KeyError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"subscribers never became {expected}")
