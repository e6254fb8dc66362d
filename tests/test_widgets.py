"""The widgets' kernel side: where they tell the browser to go, trait checks, and the kernel
relay against a real hub (the browser side is in js/src/widget.test.js and the e2e tests)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import sse_widgets
from sse_widgets import InvalidRequest, Publisher
from sse_widgets.publisher import connect
from sse_widgets.widgets import ChannelView, LiveChart, LogView, ProgressBar, TextStream, show
from sse_widgets.widgets import endpoint as endpoint_module
from sse_widgets.widgets import relay as relay_module
from sse_widgets.widgets.endpoint import browser_endpoint


@pytest.fixture
def hub_publisher(hub_process, monkeypatch):  # type: ignore[no-untyped-def]
    """The process-wide publisher pointed at a real standalone hub."""
    monkeypatch.delenv("SSE_WIDGETS_BROWSER_PATH", raising=False)
    publisher = connect(hub_process.url, hub_process.token)
    yield publisher
    publisher.flush(10)


class Sent:
    """Records what the kernel sends to the widget's views."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        widget.send = lambda content, buffers=None: self.messages.append(content)

    def frames(self) -> list[list[Any]]:
        return [f for m in self.messages for f in m.get("frames", [])]


def from_view(widget: Any, **content: Any) -> None:
    """A custom message from a browser view, as the comm delivers it."""
    widget._handle_custom_msg({"type": "sse-relay", "view": "v1", **content}, [])


def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_endpoint_external_hub_gives_its_url_and_token():
    publisher = Publisher("http://127.0.0.1:9/x/", "secret", start=False)
    found = browser_endpoint(publisher)
    assert (found.kind, found.url, found.token) == ("external", "http://127.0.0.1:9/x/", "secret")


def test_endpoint_jupyter_gives_the_browser_path_and_no_secret(monkeypatch):
    monkeypatch.setenv("SSE_WIDGETS_URL", "http://127.0.0.1:8888/base/sse-widgets/")
    monkeypatch.setenv("SSE_WIDGETS_BROWSER_PATH", "/base/sse-widgets/")
    publisher = Publisher("http://127.0.0.1:8888/base/sse-widgets", "publish", start=False)
    found = browser_endpoint(publisher)
    assert (found.kind, found.url, found.token) == ("jupyter", "/base/sse-widgets/", "")
    # connect() to another hub in that kernel: that hub, with its token
    other = Publisher("http://127.0.0.1:7000/", "t2", start=False)
    assert browser_endpoint(other).kind == "external"


def test_endpoint_embedded_hub_and_unix_sockets_relay(monkeypatch):
    monkeypatch.setattr(endpoint_module.embedded, "_started", ("http://127.0.0.1:5/", "t"))
    assert browser_endpoint(Publisher("http://127.0.0.1:5/", "t", start=False)).kind == "relay"
    unix = Publisher("http+unix://%2Ftmp%2Fs.sock/sse-widgets/", "t", start=False)
    assert browser_endpoint(unix) == endpoint_module.BrowserEndpoint("relay", "", "")


def test_widgets_carry_their_options_and_endpoint(hub_publisher):
    chart = LiveChart(channel="train", series=["loss", "acc"], window=2_000)
    assert (chart.channel, chart.event, chart.series, chart.window) == (
        "train",
        "point",
        ["loss", "acc"],
        2000,
    )
    assert (chart._hub_kind, chart._hub_url, chart._hub_token) == (
        "external",
        hub_publisher.address.url,
        hub_publisher.token,
    )
    assert ProgressBar("train").event == "progress"
    assert LogView("train", level="INFO").level == "INFO"
    assert TextStream("train", stream="answer").stream == "answer"
    view = show("train", max_lines=50)
    assert isinstance(view, ChannelView) and view.max_lines == 50
    assert sse_widgets.show is show and sse_widgets.LiveChart is LiveChart
    assert (
        "sse_widgets/static/chart.js" in str(type(chart)._module_name and chart._esm) or chart._esm
    )
    explicit = LogView("x", hub_url="http://127.0.0.1:8765/", hub_token="t")
    assert (explicit._hub_kind, explicit._hub_url, explicit._hub_token) == (
        "external",
        "http://127.0.0.1:8765/",
        "t",
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: LogView(channel=""), "channel"),
        (lambda: LogView(channel="a b"), "channel"),
        (lambda: LogView("ok", level="LOUD"), "level"),
        (lambda: LiveChart("ok", window=1), "window"),
        (lambda: ProgressBar("ok", transport="pigeon"), "transport"),
        (lambda: ProgressBar("ok", event=""), "event"),
    ],
)
def test_bad_options_are_refused_with_a_message_naming_them(hub_publisher, make, problem):
    with pytest.raises((InvalidRequest, Exception)) as caught:
        make()
    assert problem in str(caught.value).lower()


def test_relay_forwards_history_then_live_events_in_few_messages(hub_publisher, hub_process):
    channel = sse_widgets.channel("relayed")
    for i in range(100):
        channel.send("log", {"level": "INFO", "message": f"before {i}"})
    assert hub_publisher.flush(10)
    widget = LogView("relayed")
    sent = Sent(widget)
    from_view(widget, action="start", channels=["relayed"], events=["log"], replay="history")
    assert sent.messages[0] == {"type": "sse-relay", "view": "v1", "status": "relay"}
    wait_for(lambda: len(sent.frames()) >= 100)
    for i in range(5000):
        channel.send("log", {"level": "INFO", "message": f"live {i}"})
    channel.send("point", {"series": "s", "x": 1, "y": 2})  # filtered out by the hub
    assert hub_publisher.flush(10)
    wait_for(lambda: len(sent.frames()) >= 5100)
    time.sleep(0.2)
    frames = sent.frames()
    messages = [json.loads(data)["data"]["message"] for name, _id, data in frames if name == "log"]
    assert messages == [f"before {i}" for i in range(100)] + [f"live {i}" for i in range(5000)]
    assert {name for name, _id, _data in frames} == {"log"}
    batches = [m for m in sent.messages if "frames" in m]
    assert len(batches) < 200, "the relay must coalesce: one message per tick, not per event"
    assert all(m["view"] == "v1" for m in sent.messages)
    from_view(widget, action="stop")
    assert not widget._relay.streams
    widget.close()


def test_relay_control_cancels_a_running_loop_and_reports_refusals(hub_publisher):
    import threading

    bar = sse_widgets.progress(range(10**7), channel="jobs", mininterval=0)
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
    widget = ProgressBar("jobs")
    sent = Sent(widget)
    message = {"event": "cancel", "data": {"bar": bar.id}}
    from_view(widget, action="control", channel="jobs", request=7, message=message)
    assert sent.messages[-1] == {"type": "sse-relay", "view": "v1", "reply": 7, "error": None}
    thread.join(10)
    assert "cancelled by a viewer" in outcome.get("message", ""), "the loop was not cancelled"
    from_view(widget, action="control", channel="", request=8, message={})
    assert sent.messages[-1]["reply"] == 8 and "channel" in sent.messages[-1]["error"]
    from_view(widget, action="control", channel="jobs", request=9, message={"event": 5})
    assert sent.messages[-1]["reply"] == 9 and "event" in sent.messages[-1]["error"]
    widget.close()


def test_relay_stops_streams_nobody_pings(hub_publisher, monkeypatch):
    monkeypatch.setattr(relay_module, "STALE_SECONDS", 0.3)
    widget = TextStream("quiet")
    Sent(widget)
    from_view(widget, action="start", channels=["quiet"], events=["text"], replay="none")
    stream = widget._relay.streams["v1"]
    wait_for(lambda: stream not in relay_module.Relay._active, timeout=5)
    wait_for(lambda: not stream.thread.is_alive(), timeout=5)
    widget.close()
