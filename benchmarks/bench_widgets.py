"""Benchmark the widgets in a real browser: 10,000 events/s for 10 s into a LogView and a
LiveChart on one page.

What it measures, in one run:

- A hub subprocess (``python -m sse_widgets.cli serve`` on 127.0.0.1, a free port, a random
  token, ``--allow-origin`` for the page's origin), killed by PID at the end.
- Headless Debian Chromium (Playwright, the project's flags) opens a page served by a small
  HTTP server of this script on another loopback port (the page and ``sse_widgets/static/``):
  the real widget modules (``log.js``, ``chart.js``, the anywidget ESM the notebook loads),
  rendered with a minimal stand-in for anywidget's model, connected directly to the hub
  (cross-origin, token), so both widgets share one EventSource as they do in a notebook.
  A ``requestAnimationFrame`` loop in the page counts frames and records their times.
- Baseline, same page, same run: frames per second over 3 s with the widgets connected and
  no events.
- Load: a producer subprocess (``sse_widgets.channel("bench").send``) publishes 100 events
  every 10 ms for 10 s: alternately a ``log`` event and a ``point`` event (series ``a`` and
  ``b`` alternating, x = step): 5,000 of each per second, each its own event (no client-side
  coalescing). The page's frame count over the producer's own 10 s window gives fps under
  load; the frame-time list gives the worst gap between frames.
- Counted: the widgets' ``data-count`` (events each took), which must reach 50,000 each;
  ``lag`` = time from the producer's last send until both counts are complete.

Prints a table and writes ``benchmarks/results/bench_widgets.json``. Every loop is bounded
in count, every wait in time (the run is capped at 120 s).

    .venv/bin/python benchmarks/bench_widgets.py            # full run, about 30 s
    .venv/bin/python benchmarks/bench_widgets.py --quick    # 2 s of load, smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "sse_widgets" / "static"
RESULTS = Path(__file__).resolve().parent / "results"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RATE = 10_000  # events per second, all kinds
TICK = 0.01

PAGE = """<!doctype html>
<meta charset="utf-8"><title>bench</title>
<style>body { margin: 16px; width: 900px; }</style>
<div id="log"></div><div id="chart"></div>
<script type="module">
import log from "/static/log.js";
import chart from "/static/chart.js";
const HUB = %(hub)s, TOKEN = %(token)s;
class Model {
  constructor(traits) { this.traits = traits; this.listeners = new Map(); }
  get(name) { return this.traits[name]; }
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }
  off(name, fn) { this.listeners.get(name)?.delete(fn); }
  send() {}
}
const common = { channel: "bench", transport: "direct", replay: "none",
                 _hub_kind: "external", _hub_url: HUB, _hub_token: TOKEN };
log.render({ model: new Model({ ...common, event: "log", level: "DEBUG", max_lines: 1000,
                                height: "300px", search: "" }),
             el: document.getElementById("log") });
chart.render({ model: new Model({ ...common, event: "point", series: [], window: 2000,
                                  height: 300, title: "bench", x_label: "", y_label: "",
                                  paused: false }),
               el: document.getElementById("chart") });
window.__frames = [];
const tick = (t) => { window.__frames.push(t); requestAnimationFrame(tick); };
requestAnimationFrame(tick);
</script>
"""

PRODUCER = r"""
import json, sys, time
import sse_widgets
url, token = sys.argv[1], sys.argv[2]
seconds, rate, tick = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
pub = sse_widgets.connect(url, token)
ch = sse_widgets.channel("bench")
per_tick = int(rate * tick)
ticks = int(seconds / tick)
n = 0
start = time.time()
for k in range(ticks):
    delay = start + k * tick - time.time()
    if delay > 0:
        time.sleep(delay)
    for _ in range(per_tick // 2):
        line = {"level": "INFO", "logger": "bench", "message": f"line {n}", "time": time.time()}
        ch.send("log", line)
        ch.send("point", {"series": "ab"[n % 2], "x": n // 2, "y": (n % 100) / 100})
        n += 1
end = time.time()
pub.flush(30)
print(json.dumps({"start": start, "end": end, "flushed": time.time(), "pairs": n}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hub(token: str, origin: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sse_widgets.cli",
            "serve",
            "--port",
            str(port),
            "--token",
            token,
            "--allow-origin",
            origin,
            "--history-size",
            "1000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    raise RuntimeError("the hub did not start within 20 s")


def serve_page(port: int, hub: str, token: str) -> ThreadingHTTPServer:
    """The bench page and the built modules, on a loopback port, from a daemon thread.

    A real server, not Playwright routing: Chrome's local-network rules let a loopback page
    reach the loopback hub, not a page whose address it does not know.
    """
    html = (PAGE % {"hub": json.dumps(hub), "token": json.dumps(token)}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            name = path[len("/static/") :]
            if path == "/":
                body, kind = html, "text/html"
            elif path.startswith("/static/") and "/" not in name and (STATIC / name).is_file():
                body, kind = (STATIC / name).read_bytes(), "text/javascript"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def counts(page: Any) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            """() => ["log", "chart"].map(
                 (w) => Number(document.querySelector(`.ssew-root[data-widget=${w}]`)
                                ?.dataset.count ?? 0))"""
        )
    )


def frames_between(frames: list[float], t0: float, t1: float) -> list[float]:
    return [t for t in frames if t0 <= t <= t1]


def run(seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    token = secrets.token_hex(16)
    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    hub, url = start_hub(token, origin)
    server = serve_page(page_port, url, token)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 800})
                streams: list[str] = []
                page.on(
                    "request",
                    lambda r: streams.append(r.url) if "api/events" in r.url else None,
                )
                page.goto(f"{origin}/")
                page.wait_for_function(
                    """() => [...document.querySelectorAll('.ssew-root')]
                         .filter((e) => e.dataset.status === 'live').length === 2""",
                    timeout=20_000,
                )
                # Baseline: the same page, connected, no events.
                t0 = page.evaluate("performance.now()")
                time.sleep(3)
                t1 = page.evaluate("performance.now()")
                idle = frames_between(page.evaluate("window.__frames"), t0, t1)
                idle_fps = len(idle) * 1000 / (t1 - t0)

                producer = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        PRODUCER,
                        url,
                        token,
                        str(seconds),
                        str(RATE),
                        str(TICK),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                out, _ = producer.communicate(timeout=seconds + 60)
                timing = json.loads(out)
                expected = timing["pairs"]
                deadline = time.monotonic() + float(os.environ.get("BENCH_COUNT_WAIT", 30))
                while counts(page) != (expected, expected) and time.monotonic() < deadline:
                    time.sleep(0.05)
                complete_wall = time.time()
                got = counts(page)
                # Page clock <-> wall clock: performance.timeOrigin is wall ms at 0.
                origin = page.evaluate("performance.timeOrigin")
                frames = page.evaluate("window.__frames")
                load_t0 = timing["start"] * 1000 - origin
                load_t1 = timing["end"] * 1000 - origin
                loaded = frames_between(frames, load_t0, load_t1)
                gaps = [b - a for a, b in itertools.pairwise(loaded)]
                page.screenshot(path=str(RESULTS / "bench_widgets.png"))
                return {
                    "events_per_second": RATE,
                    "seconds": seconds,
                    "published": {"log": expected, "point": expected},
                    "counted": {"log": got[0], "point": got[1]},
                    "producer_rate": 2 * expected / (timing["end"] - timing["start"]),
                    "idle_fps": idle_fps,
                    "load_fps": len(loaded) * 1000 / (load_t1 - load_t0),
                    "max_frame_gap_ms": max(gaps) if gaps else None,
                    "p95_frame_gap_ms": statistics.quantiles(gaps, n=20)[-1] if gaps else None,
                    "lag_seconds": complete_wall - timing["end"],
                    "event_streams_opened": len(streams),
                }
            finally:
                browser.close()
    finally:
        server.shutdown()
        if hub.poll() is None:
            os.kill(hub.pid, signal.SIGTERM)
            hub.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s of load instead of 10 s")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    result = run(2.0 if args.quick else 10.0)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    ok = result["counted"] == result["published"] and result["load_fps"] >= 30
    result["pass"] = ok
    print(f"published {result['published']} at {result['producer_rate']:.0f} events/s")
    print(f"counted   {result['counted']}  (lag {result['lag_seconds']:.2f} s after the last send)")
    print(f"fps idle  {result['idle_fps']:.1f}")
    print(
        f"fps load  {result['load_fps']:.1f}  ({result['load_fps'] / result['idle_fps']:.2f}x idle)"
        f", worst frame gap {result['max_frame_gap_ms']:.0f} ms"
        f", p95 {result['p95_frame_gap_ms']:.0f} ms"
    )
    print(f"EventSource requests: {result['event_streams_opened']}")
    print("PASS" if ok else "FAIL")
    (RESULTS / "bench_widgets.json").write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
