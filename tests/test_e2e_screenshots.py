"""Each widget in JupyterLab with realistic content: a training run with nested bars, mixed
log levels, an LLM-like answer and loss/accuracy curves, shown by the four widgets and by
``sse_widgets.show()``.

The test checks that the content renders as published (nesting, levels, curves drawn). With
``SSE_WIDGETS_SCREENSHOTS=<dir>`` it also saves element screenshots there: progress.png,
log.png, text.png, chart.png, channel-view.png (light theme, as the README shows them).
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_app import (
    chromium,
    new_page,
    open_notebook,
    run_all_cells,
    running_jupyter,
    wait_widgets,
    widget_state,
)

ANSWER = (
    "Training is converging well. Over the first two epochs the validation loss fell from "
    "2.31 to 0.48 and accuracy rose to 91.2%. The gradient-norm warnings at step 212 came "
    "from the learning-rate warm-up ending; clipping kept them harmless.\n\n"
    "Suggestion: keep the current schedule for epoch 3, then lower the learning rate to "
    "1e-4 for fine-tuning."
)

LOG_LINES = [
    ("INFO", "data", "loaded 48,000 training and 6,000 validation examples"),
    ("INFO", "trainer", "model: 12 layers, 85.6M parameters, lr=3e-4, batch 64"),
    ("INFO", "trainer", "epoch 1/3 started"),
    ("WARNING", "trainer", "grad norm 12.4 > 10.0 at step 212: clipped"),
    ("INFO", "trainer", "epoch 1/3 done: loss 0.912, val_loss 0.874, val_acc 0.803"),
    ("INFO", "checkpoint", "saved checkpoints/epoch-1.pt (342 MB)"),
    ("INFO", "trainer", "epoch 2/3 started"),
    ("ERROR", "checkpoint", "upload to s3://runs/ft-17 failed: timeout after 30 s (retrying)"),
    ("INFO", "checkpoint", "upload retry succeeded"),
    ("INFO", "trainer", "epoch 2/3 done: loss 0.501, val_loss 0.482, val_acc 0.912"),
    ("INFO", "trainer", "epoch 3/3 started"),
    ("WARNING", "data", "37 examples longer than 512 tokens were truncated"),
]

STEPS_PER_EPOCH = 200
DONE_STEPS = 2 * STEPS_PER_EPOCH + 137

# Publishes a run caught mid-way (epoch 3 at batch 137), then waits to be ended: the bars
# stay running while the screenshots are taken.
PRODUCER = f"""
import math, random, time, sse_widgets
random.seed(7)
ch = sse_widgets.channel("train")
# Paced so that rates and ETAs read like a real (small) run.
with sse_widgets.progress(total=48000, channel="train", desc="tokenize dataset", unit="docs",
                          mininterval=0) as tokenize:
    for _ in range(48):
        time.sleep(0.01)
        tokenize.update(1000)
lines = {LOG_LINES!r}
for level, logger, message in lines[:2]:
    ch.log(message, level=level, logger=logger)
step = 0
with sse_widgets.progress(total=3, desc="training", unit="epoch", channel="train",
                          mininterval=0) as epochs:
    for epoch in range(3):
        batches = sse_widgets.progress(total={STEPS_PER_EPOCH}, desc=f"epoch {{epoch + 1}}/3",
                                       unit="batch", channel="train", mininterval=0)
        with batches:
            last = {STEPS_PER_EPOCH} if epoch < 2 else 137
            for _ in range(last):
                loss = 2.2 * math.exp(-step / 140) + 0.3 + random.gauss(0, 0.03)
                acc = 0.93 - 0.75 * math.exp(-step / 110) + random.gauss(0, 0.008)
                ch.point("loss", step, round(loss, 4))
                ch.point("acc", step, round(acc, 4))
                time.sleep(0.004 if epoch < 2 or batches.n < 117 else 0.05)
                batches.update()
                step += 1
            logged = {{0: lines[2:6], 1: lines[6:10], 2: lines[10:]}}[epoch]
            for level, logger, message in logged:
                ch.log(message, level=level, logger=logger)
            if epoch == 2:
                answer = ch.text("answer")
                for word in {ANSWER!r}.split(" "):
                    answer.write(word + " ")
                sse_widgets.get_publisher().flush(30)
                print("ready", flush=True)
                time.sleep(600)
        epochs.update()
"""

SHOTS = {
    "progress": "progress.png",
    "log": "log.png",
    "text": "text.png",
    "chart": "chart.png",
    "activity": "channel-view.png",
}


def test_realistic_run_renders_in_every_widget(tmp_path):
    with running_jupyter(tmp_path) as server, chromium(tmp_path) as browser:
        notebook = server.write_notebook(
            "showcase.ipynb",
            [
                "import sse_widgets\n"
                "from sse_widgets.widgets import ProgressBar, LogView, TextStream, LiveChart",
                'ProgressBar(channel="train")',
                'LogView(channel="train", height="260px")',
                'TextStream(channel="train", stream="answer")',
                'LiveChart(channel="train", series=["loss", "acc"], height=260,'
                ' title="training", x_label="step")',
                'sse_widgets.widgets.show("train")',
            ],
        )
        page = new_page(browser, width=1200, height=1400)
        open_notebook(page, server, notebook)
        page.evaluate(
            "() => { window.jupyterapp.commands.execute('application:toggle-left-area'); }"
        )
        run_all_cells(page)
        wait_widgets(page, list(SHOTS))
        server.wait_subscribers("train", 1)
        server.start_producer(PRODUCER)
        page.wait_for_function(
            """([points, lines, chars]) => {
              const root = (k) => document.querySelector(`.ssew-root[data-widget=${k}]`);
              return Number(root('chart')?.dataset.points) === points
                && Number(root('log')?.dataset.count) === lines
                && Number(document.querySelector('.ssew-text-stream')?.dataset.chars) >= chars
                && root('progress')?.querySelector('.ssew-bar[data-value="137"]');
            }""",
            arg=[2 * DONE_STEPS, len(LOG_LINES), len(ANSWER)],
            timeout=60_000,
        )
        page.wait_for_timeout(300)  # let the last frame paint

        state = widget_state(page)
        bars = {(b["state"], b["count"]) for b in state["bars"]}
        assert {
            ("done", "48000/48000"),
            ("running", "2/3"),
            ("done", "200/200"),
            ("running", "137/200"),
        } <= bars, state["bars"]
        assert [line["level"] for line in state["lines"]] == [lvl for lvl, _, _ in LOG_LINES]
        assert state["texts"]["answer"]["body"].strip() == ANSWER.strip()
        assert state["chart_points"] == 2 * DONE_STEPS and state["chart_frames"] >= 1
        # Nesting: the three epoch bars are children of the training bar.
        depths = {bar["text"].split(" ")[0]: bar["depth"] for bar in state["bars"]}
        assert sorted(bar["depth"] for bar in state["bars"]) == [0, 0, 1, 1, 1], depths

        target = os.environ.get("SSE_WIDGETS_SCREENSHOTS")
        if target:
            directory = Path(target)
            directory.mkdir(parents=True, exist_ok=True)
            # A white margin reads better than a crop at the widget's border: pad the
            # widget's container (anywidget's element) and shoot that.
            page.add_style_tag(content=".ssew-shot { padding: 14px; background: #fff; }")
            for kind, name in SHOTS.items():
                root = page.locator(f".ssew-root[data-widget={kind}][data-transport]")
                root.evaluate("(e) => e.parentElement.classList.add('ssew-shot')")
                frame = root.locator("xpath=..")
                frame.scroll_into_view_if_needed()
                frame.screenshot(path=str(directory / name), animations="disabled")
