"""A shared Voilà dashboard served by two replicas (two jupyter_server + Voilà processes on
one real redis-server, as behind a load balancer): one producer publishing through replica A
feeds a Chromium viewer of each replica live and exactly, and Cancel pressed on the viewer of
replica B stops the producer's loop, which listens on A.
"""

from __future__ import annotations

import time

from jupyter_app import (
    chromium,
    login,
    new_page,
    running_jupyter,
    scroll_log_to_top,
    wait_widgets,
    widget_state,
)
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401

STEPS = 120

PRODUCER = f"""
import time, sse_widgets
ch = sse_widgets.channel("board")
for i in sse_widgets.progress(range({STEPS}), channel="board", desc="shared", mininterval=0.05):
    ch.log(f"step {{i}}")
    time.sleep(0.03)
try:
    for _ in sse_widgets.progress(range(100_000), channel="board", desc="long"):
        time.sleep(0.01)
except sse_widgets.Cancelled:
    print("CANCELLED", flush=True)
else:
    raise SystemExit("the loop was not cancelled")
assert sse_widgets.get_publisher().flush(30)
"""


def test_one_producer_feeds_viewers_on_two_voila_replicas(tmp_path, redis_url):
    voila = {"voila.server_extension": True}
    args = [f"--SSEWidgets.backend={redis_url}"]
    with (
        running_jupyter(tmp_path / "a", app="server", extensions=voila, args=args) as a,
        running_jupyter(tmp_path / "b", app="server", extensions=voila, args=args) as b,
        chromium(tmp_path) as browser,
    ):
        cells = [
            "from sse_widgets.widgets import ProgressBar, LogView",
            'ProgressBar(channel="board")',
            'LogView(channel="board", max_lines=500)',
        ]
        viewers = []
        for server in (a, b):
            notebook = server.write_notebook("board.ipynb", cells)
            page = new_page(browser, width=1000, height=700)
            login(page, server)
            page.goto(server.voila_url(notebook))
            viewers.append(page)
        for page in viewers:
            wait_widgets(page, ["progress", "log"])
        a.wait_subscribers("board", 1)  # each replica counts its own streams
        b.wait_subscribers("board", 1)

        producer = a.start_producer(PRODUCER)
        seen: list[set[int]] = [set(), set()]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for page, values in zip(viewers, seen, strict=True):
                values.update(
                    int(bar["value"])
                    for bar in widget_state(page)["bars"]
                    if "shared" in bar["text"]
                )
            if all(STEPS in values for values in seen):
                break
            time.sleep(0.05)
        for page, values in zip(viewers, seen, strict=True):
            page.wait_for_function(
                "() => document.querySelector('.ssew-root[data-widget=log]')?.dataset.count"
                f" === '{STEPS}'",
                timeout=30_000,
            )
            intermediate = sorted(v for v in values if 0 < v < STEPS)
            assert len(intermediate) >= 3, f"the viewer did not update live: saw {values}"
            scroll_log_to_top(page)
            state = widget_state(page)
            shared = [bar for bar in state["bars"] if "shared" in bar["text"]]
            assert [(bar["count"], bar["state"]) for bar in shared] == [
                (f"{STEPS}/{STEPS}", "done")
            ]
            assert [line["message"] for line in state["lines"]] == [
                f"step {i}" for i in range(STEPS)
            ]

        # Cancel on replica B's page; the producer's publisher reads control on replica A.
        page_b = viewers[1]
        page_b.click(".ssew-bar[data-state=running] button.ssew-cancel")
        a.wait_producer(producer, timeout=30)
        assert b"CANCELLED" in a.log_path.with_name("producer-0.log").read_bytes()
        for page in viewers:
            page.wait_for_selector(".ssew-bar[data-state=cancelled]", timeout=10_000)
            assert not page.errors, page.errors
