"""Logs, streamed text and chart points end to end through a real hub."""

from __future__ import annotations

import logging
import math

import anyio
import pytest
from conftest import channel_events

from sse_widgets import Publisher, log_to
from sse_widgets.producer import ChannelPublisher


@pytest.fixture
def pub(hub_process):  # type: ignore[no-untyped-def]
    publisher = Publisher(hub_process.url, hub_process.token)
    yield publisher
    publisher.close()


def test_logging_records_arrive_with_level_logger_message_and_traceback(hub_process, pub):
    logger = logging.getLogger("sse-test.trainer")
    handler = log_to("logs", level=logging.INFO, logger=logger, publisher=pub)
    try:
        assert log_to("logs", logger=logger, publisher=pub) is handler  # no second handler
        logger.debug("hidden")
        logger.info("epoch %d done", 3)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            logger.exception("step failed")
    finally:
        logger.removeHandler(handler)
    assert pub.flush(20)
    events = channel_events(hub_process, "logs", "log")
    assert [(e["level"], e["logger"], e["message"]) for e in events] == [
        ("INFO", "sse-test.trainer", "epoch 3 done"),
        ("ERROR", "sse-test.trainer", "step failed"),
    ]
    assert "ZeroDivisionError" in events[1]["exception"] and "exception" not in events[0]
    assert all(isinstance(e["time"], float) for e in events)


def test_print_style_log_lines(hub_process, pub):
    ChannelPublisher("plain", pub).log("loss", 0.25, "at step", 7, level="warning")
    assert pub.flush(20)
    [event] = channel_events(hub_process, "plain", "log")
    assert (event["level"], event["message"]) == ("WARNING", "loss 0.25 at step 7")


def test_streamed_text_arrives_delta_by_delta_and_resets(hub_process, pub):
    ch = ChannelPublisher("llm", pub)
    tokens = ["Once", " upon", " a", " time", " <b>not bold</b>", " é\u2028🙂"]
    assert ch.stream_text(iter(tokens), stream="answer") == "".join(tokens)
    writer = ch.text("answer")
    writer.reset()
    writer.write("again")
    assert pub.flush(20)
    events = channel_events(hub_process, "llm", "text")
    assert [e.get("delta") for e in events[: len(tokens)]] == tokens
    assert events[len(tokens)] == {"stream": "answer", "reset": True}
    assert events[-1] == {"stream": "answer", "delta": "again"}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_text_streaming_under_asyncio_and_trio(hub_process, pub, backend):
    async def tokens():  # type: ignore[no-untyped-def]
        for word in ["a", "b", "c"]:
            await anyio.sleep(0)
            yield word

    async def main() -> str:
        return await ChannelPublisher(f"t-{backend}", pub).astream_text(tokens(), stream="s")

    assert anyio.run(main, backend=backend) == "abc"
    assert pub.flush(20)
    assert [e["delta"] for e in channel_events(hub_process, f"t-{backend}", "text")] == list("abc")


def test_a_hot_loop_of_points_leaves_as_a_few_columnar_events(hub_process, pub):
    ch = ChannelPublisher("chart", pub)
    before = pub.stats["queued"]
    for step in range(20_000):
        ch.point("loss", step, 1 / (step + 1))
        ch.point("acc", step, step / 20_000)
    ch.point("loss", 20_000, math.nan)  # a gap, not an invalid event
    assert pub.flush(20)
    events = channel_events(hub_process, "chart", "point")
    assert pub.stats["queued"] - before == len(events) < 40_001 / 100
    xs: dict[str, list] = {"loss": [], "acc": []}
    ys: dict[str, list] = {"loss": [], "acc": []}
    for event in events:
        [(name, values)] = event["y"].items()
        xs[name] += event["x"]
        ys[name] += values
    assert xs["acc"] == list(range(20_000)) and xs["loss"] == list(range(20_001))
    assert ys["loss"][:2] == [1.0, 0.5] and ys["loss"][-1] is None


def test_columnar_points_and_bad_points(hub_process, pub):
    ch = ChannelPublisher("cols", pub)
    ch.points(x=[1, 2, 3], y={"loss": [0.5, 0.4, 0.3], "acc": [0.6, 0.7, 0.8]})
    with pytest.raises(ValueError, match="every series needs 3 values"):
        ch.points(x=[1, 2, 3], y={"loss": [0.5]})
    with pytest.raises(TypeError, match="must be a number"):
        ch.point("loss", 1, object())
    assert pub.flush(20)
    [event] = channel_events(hub_process, "cols", "point")
    assert event == {"x": [1, 2, 3], "y": {"loss": [0.5, 0.4, 0.3], "acc": [0.6, 0.7, 0.8]}}


def test_logging_the_root_logger_with_the_embedded_hub_does_not_feed_back():
    """Regression: with ``log_to()`` on the root logger, the embedded hub's own access log
    records were published, each publish logging another request: an endless loop, and
    "Logging error" noise at exit."""
    import json
    import os
    import subprocess
    import sys

    script = """
import json, logging, time, sse_widgets
from sse_widgets.client import EventStream
sse_widgets.log_to("applog")
logging.getLogger("app").info("hello")
assert sse_widgets.get_publisher().flush(10)
time.sleep(0.5)  # time for a feedback loop to show up
import os
stream = EventStream(os.environ["SSE_WIDGETS_URL"], channels=["applog"],
                     token=os.environ["SSE_WIDGETS_TOKEN"], replay="history")
messages = []
for event in stream:
    messages.append(event.json()["data"]["message"])
    break
listing = sse_widgets.get_publisher().stats
print(json.dumps({"first": messages, "queued": listing["queued"]}))
"""
    env = {**os.environ, "SSE_WIDGETS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Logging error" not in result.stderr
    out = json.loads(result.stdout)
    assert out["first"] == ["hello"]
    assert out["queued"] == 1, "more events than the one log record were published"


def test_control_from_python_cancels_a_loop_running_elsewhere(hub_process, pub):
    import threading
    import time

    import sse_widgets

    bar = sse_widgets.progress(range(10**7), channel="remote", mininterval=0, publisher=pub)
    outcome: dict[str, str] = {}

    def run() -> None:
        try:
            for _ in bar:
                time.sleep(0.0005)
        except sse_widgets.Cancelled as exc:
            outcome["message"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    ChannelPublisher("remote", pub).control("cancel", {"bar": bar.id})
    thread.join(10)
    assert "cancelled by a viewer" in outcome.get("message", ""), "the loop was not cancelled"


def test_control_refusals_raise_errors_naming_the_problem(hub_process, pub):
    from sse_widgets import InvalidRequest, NotAuthorized, Publisher

    with pytest.raises(InvalidRequest, match="event"):
        pub.post_control("remote", {"data": 1})
    with pytest.raises(InvalidRequest, match="channel"):
        ChannelPublisher("ok", pub).publisher.post_control("bad name", {"event": "cancel"})
    stranger = Publisher(hub_process.url, "wrong-token", start=False)
    with pytest.raises(NotAuthorized, match="403"):
        ChannelPublisher("remote", stranger).control("cancel", {"bar": "x"})
