"""The widgets in Voilà served by jupyter_server next to our extension, under a base URL
with a character that needs care (``/a@b/``): two viewers, each its own browser context
logged in once with the token (then only the cookie), both see a separate producer
process's events live, and both end with the final values.
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

STEPS = 150

# A bar and a log line per step over ~4.5 s: slow enough for viewers to see it move.
PRODUCER = f"""
import time, sse_widgets
ch = sse_widgets.channel("live")
for i in sse_widgets.progress(range({STEPS}), channel="live", desc="voila", mininterval=0.05):
    ch.log(f"step {{i}}")
    time.sleep(0.03)
assert sse_widgets.get_publisher().flush(30)
"""


def test_two_voila_viewers_see_the_events_live(tmp_path):
    with (
        running_jupyter(
            tmp_path, app="server", extensions={"voila.server_extension": True}, base_url="/a@b/"
        ) as server,
        chromium(tmp_path) as browser,
    ):
        notebook = server.write_notebook(
            "live.ipynb",
            [
                "from sse_widgets.widgets import ProgressBar, LogView",
                'ProgressBar(channel="live")',
                'LogView(channel="live", max_lines=500)',
            ],
        )
        viewers = []
        for _ in range(2):
            page = new_page(browser, width=1000, height=700)
            login(page, server)
            page.goto(server.voila_url(notebook))
            viewers.append(page)
        for page in viewers:
            wait_widgets(page, ["progress", "log"])
        server.wait_subscribers("live", 2)

        producer = server.start_producer(PRODUCER)
        seen: list[set[int]] = [set(), set()]
        deadline = time.monotonic() + 60
        while producer.poll() is None and time.monotonic() < deadline:
            for page, values in zip(viewers, seen, strict=True):
                values.update(int(bar["value"]) for bar in widget_state(page)["bars"])
            time.sleep(0.05)
        server.wait_producer(producer, timeout=30)

        for page, values in zip(viewers, seen, strict=True):
            page.wait_for_function(
                "() => document.querySelector('.ssew-bar[data-state=done]')"
                f" && document.querySelector('.ssew-root[data-widget=log]')?.dataset.count"
                f" === '{STEPS}'",
                timeout=30_000,
            )
            intermediate = sorted(v for v in values if 0 < v < STEPS)
            assert len(intermediate) >= 3, f"the viewer did not update live: saw {values}"
            scroll_log_to_top(page)  # the log keeps only its tail in the DOM while following
            state = widget_state(page)
            [bar] = state["bars"]
            assert (bar["count"], bar["state"]) == (f"{STEPS}/{STEPS}", "done")
            assert [line["message"] for line in state["lines"]] == [
                f"step {i}" for i in range(STEPS)
            ]
            assert page.url.startswith(server.voila_url(notebook)), "the page left Voilà"
            assert not page.errors, page.errors
        # Each viewer holds one stream.
        assert server.subscribers("live") == 2
