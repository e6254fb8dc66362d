"""The kernel relay in a real JupyterLab whose server does NOT run our extension: the kernel
publishes to its embedded hub, which no browser can reach, so the widgets get their events
as widget messages through the kernel, and still end exact.
"""

from __future__ import annotations

from jupyter_app import (
    StreamRequests,
    chromium,
    execute_in_kernel,
    new_page,
    open_notebook,
    run_all_cells,
    running_jupyter,
    scroll_log_to_top,
    transports,
    wait_widgets,
    widget_state,
)

TOKENS = [f"wörd{i} " for i in range(200)]

# Defined in the notebook, started by the test once the widgets are up: a background thread
# in the kernel, so the kernel stays free to serve the relay while it publishes.
PRODUCER_CELL = f"""
import threading, time, sse_widgets

def produce():
    ch = sse_widgets.channel("relay")
    answer = ch.text("answer")
    tokens = {TOKENS!r}
    for i in sse_widgets.progress(range(400), channel="relay", desc="relayed"):
        ch.log(f"line {{i}}")
        if i % 2 == 0:
            answer.write(tokens[i // 2])
        ch.point("loss", i, 1 / (1 + i))
        ch.point("acc", i, i / 400)
        time.sleep(0.005)
    sse_widgets.get_publisher().flush(30)

def start():
    threading.Thread(target=produce, name="e2e-producer", daemon=True).start()
"""


def test_widgets_fall_back_to_the_kernel_relay(tmp_path):
    with (
        running_jupyter(tmp_path, extensions={"sse_widgets": False}) as server,
        chromium(tmp_path) as browser,
    ):
        assert server.status_of("sse-widgets/api/channels") == 404, "the extension is on"
        notebook = server.write_notebook(
            "relay.ipynb",
            [
                "from sse_widgets.widgets import ProgressBar, LogView, TextStream, LiveChart",
                PRODUCER_CELL,
                'ProgressBar(channel="relay")',
                'LogView(channel="relay")',
                'TextStream(channel="relay")',
                'LiveChart(channel="relay", series=["loss", "acc"])',
            ],
        )
        page = new_page(browser)
        streams = StreamRequests(page)
        open_notebook(page, server, notebook)
        run_all_cells(page)
        wait_widgets(page, ["progress", "log", "text", "chart"])
        assert transports(page) == {k: "relay" for k in ("progress", "log", "text", "chart")}

        execute_in_kernel(page, "start()")
        page.wait_for_function(
            """() => {
              const q = (s) => document.querySelector(s);
              return q(".ssew-bar[data-state=done]")
                && q(".ssew-root[data-widget=log]")?.dataset.count === "400"
                && q(".ssew-root[data-widget=chart]")?.dataset.points === "800"
                && q(".ssew-text-stream[data-stream=answer]");
            }""",
            timeout=60_000,
        )
        expected_text = "".join(TOKENS)
        page.wait_for_function(
            "(n) => Number(document.querySelector('.ssew-text-stream')?.dataset.chars) >= n",
            arg=len(expected_text),
            timeout=10_000,
        )
        scroll_log_to_top(page)  # the log keeps only its tail in the DOM while following
        state = widget_state(page)
        [bar] = state["bars"]
        assert (bar["count"], bar["state"]) == ("400/400", "done")
        assert [line["message"] for line in state["lines"]] == [f"line {i}" for i in range(400)]
        assert state["log_count"] == 400
        assert state["texts"] == {"answer": {"chars": len(expected_text), "body": expected_text}}
        assert state["chart_points"] == 800
        assert transports(page) == {k: "relay" for k in ("progress", "log", "text", "chart")}
        assert streams.started == [], "the page tried a hub stream the server does not have"
        assert not page.errors, page.errors
