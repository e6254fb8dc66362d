"""Request-scoped endpoints over real HTTP: a standalone hub process, a worker process serving
``tests/endpoint_worker.py``, and raw HTTP calls (docs/endpoints.md)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HubProcess, channel_events, json_error, start_hub

from sse_widgets.protocol import Event, EventParser

WORKER = Path(__file__).with_name("endpoint_worker.py")


# Calls never touch the backend's channels, but their events come in the publisher's
# batches, which a Redis hub handles differently: every test runs on both backends.
pytestmark = pytest.mark.backends


@pytest.fixture
def hub(tmp_path: Path, hub_backend: str) -> Iterator[HubProcess]:
    process = start_hub(tmp_path, "--SSEWidgets.endpoint_retention=30", backend=hub_backend)
    try:
        yield process
    finally:
        process.stop()


def start_worker(hub: HubProcess, marks: Path, concurrency: int = 2) -> subprocess.Popen[str]:
    marks.mkdir(exist_ok=True)
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), hub.url, hub.token, str(marks), str(concurrency)],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


@pytest.fixture
def worker(hub: HubProcess, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = start_worker(hub, tmp_path / "marks")
    try:
        yield process
    finally:
        stop_worker(process)


def stop_worker(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


_open: list[Call] = []


@pytest.fixture(autouse=True)
def _close_calls() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


class Call:
    """One raw HTTP call: its response and the events read so far (closed after the test)."""

    def __init__(
        self, hub: HubProcess, path: str, body: object = None, method: str = "POST", **headers: str
    ) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=15)
        _open.append(self)
        sent = {"Authorization": f"Bearer {hub.token}", **headers}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        self.connection.request(method, path, data, sent)
        self.response = self.connection.getresponse()
        self.parser = EventParser()
        self.events: list[Event] = []

    @property
    def status(self) -> int:
        return self.response.status

    def read(self, count: int | None = None) -> list[Event]:
        """Read until ``count`` more events arrived (None: until the stream ends)."""
        wanted = None if count is None else len(self.events) + count
        while wanted is None or len(self.events) < wanted:
            chunk = self.response.read1(65536)
            if not chunk:
                break
            self.events.extend(self.parser.feed(chunk))
        return self.events

    def close(self) -> None:
        """Hang up, as a browser tab closing does."""
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self.connection.close()


def call(hub: HubProcess, name: str, body: object = None, query: str = "") -> Call:
    return Call(hub, f"/api/endpoints/{name}{query}", {} if body is None else body)


def payloads(events: list[Event], kind: str = "message") -> list[object]:
    return [e.json() for e in events if e.event == kind]


def test_endpoints_are_listed_with_signature_and_docstring(hub, worker):
    listed = Call(hub, "/api/endpoints", method="GET")
    assert listed.status == 200
    found = {e["name"]: e for e in json.loads(listed.response.read())["endpoints"]}
    assert {"count", "steps", "agen", "acoro", "fails", "forever", "quiet"} <= set(found)
    count = found["count"]
    assert count["signature"] == "(n: int, delay: float = 0.0, tag: str = '')"
    assert count["doc"] == "Yield n numbers, then return their sum."
    assert count["parameters"][0] == {"name": "n", "required": True, "annotation": "int"}
    assert count["parameters"][1]["default"] == 0.0
    assert count["max_concurrency"] == 2
    assert count["workers"] == 1
    # helper parameters are not the caller's to send
    assert [p["name"] for p in found["steps"]["parameters"]] == ["items"]
    one = Call(hub, "/api/endpoints/count", method="GET")
    assert json.loads(one.response.read())["name"] == "count"


def test_a_generator_call_streams_each_value_then_complete(hub, worker):
    c = call(hub, "count", {"n": 4, "tag": "a"})
    assert c.status == 200
    assert c.response.getheader("Content-Type").startswith("text/event-stream")
    call_id = c.response.getheader("X-SSE-Widgets-Call")
    location = c.response.getheader("Location")
    assert location == f"/api/endpoints/count/calls/{call_id}/events"
    events = c.read()
    assert payloads(events) == [{"i": i, "tag": "a"} for i in range(4)]
    assert [e.id for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert events[-1].event == "complete"
    assert events[-1].json() == {"sum": 6, "tag": "a"}
    assert [e.event for e in events].count("complete") == 1


def test_plain_function_with_progress_and_log_helpers(hub, worker):
    events = call(hub, "steps", {"items": ["a", "b", "c"]}).read()
    states = payloads(events, "progress")
    assert states[0]["state"] == "running" and states[0]["total"] == 3
    assert states[-1]["state"] == "done" and states[-1]["value"] == 3
    assert [line["message"] for line in payloads(events, "log")] == [
        "handling a",
        "handling b",
        "handling c",
    ]
    assert payloads(events, "log")[0]["level"] == "DEBUG"
    assert events[-1].event == "complete" and events[-1].json() == ["A", "B", "C"]


def test_async_generator_and_coroutine(hub, worker):
    events = call(hub, "agen", {"words": ["once", "upon"]}).read()
    assert payloads(events) == ["once", "upon"]
    assert [t["delta"] for t in payloads(events, "text")] == ["once ", "upon "]
    assert events[-1].event == "complete" and events[-1].json() is None
    assert call(hub, "acoro", {"x": 1.5}).read()[-1].json() == 3.0


def test_an_exception_ends_the_stream_with_an_error_event(hub, worker):
    events = call(hub, "fails", {"message": "no such file"}).read()
    assert payloads(events) == ["about to fail"]
    assert events[-1].event == "error"
    assert events[-1].json() == {"type": "ValueError", "message": "no such file"}
    events = call(hub, "unserializable").read()
    assert events[-1].event == "error" and events[-1].json()["type"] == "TypeError"
    assert "JSON" in events[-1].json()["message"]


def test_call_events_and_channel_events_share_the_workers_batches(hub, worker):
    events = call(hub, "mixed", {"n": 50}).read()
    assert payloads(events) == list(range(50)) and events[-1].json() == "done"
    logged = channel_events(hub, "side", "log")
    assert [line["message"] for line in logged] == [f"side {i}" for i in range(50)]
    listing = json.loads(Call(hub, "/api/channels", method="GET").response.read())
    assert [c["name"] for c in listing["channels"]] == ["side"]  # calls are not channels


def test_var_keyword_endpoints_take_any_argument(hub, worker):
    assert call(hub, "anything", {"a": 1, "b": [2]}).read()[-1].json() == {"a": 1, "b": [2]}


@pytest.mark.parametrize(
    ("name", "body", "status", "says"),
    [
        ("count", b"{not json", 400, "malformed JSON"),
        ("count", [1, 2], 400, "JSON object of keyword arguments"),
        ("count", {"n": 1, "colour": "red"}, 400, "no parameter(s) ['colour']"),
        ("count", {}, 400, "missing argument(s) ['n']"),
        ("steps", {"items": [], "progress": 1}, 400, "no parameter(s) ['progress']"),
        ("nowhere", {}, 404, "no endpoint named 'nowhere'"),
        ("bad name!", {}, 400, "channel name"),
    ],
)
def test_bad_calls_get_a_json_error(hub, worker, name, body, status, says):
    c = call(hub, name.replace(" ", "%20"), body)
    assert c.status == status
    assert says in json_error(c.response.read())


def test_wrong_content_type_and_resume_window(hub, worker):
    c = Call(hub, "/api/endpoints/count", b"n=1", **{"Content-Type": "text/plain"})
    assert c.status == 415
    c = call(hub, "count", {"n": 1}, "?resume_window=soon")
    assert c.status == 400 and "resume_window" in json_error(c.response.read())
    c = call(hub, "count", {"n": 1}, "?resume_window=100000")
    assert c.status == 400 and "endpoint_resume_window" in json_error(c.response.read())


def test_nothing_is_reachable_without_the_token(hub, worker):
    for method, path in [
        ("GET", "/api/endpoints"),
        ("POST", "/api/endpoints/count"),
        ("POST", "/api/endpoints/count/workers"),
        ("DELETE", "/api/endpoints/count/calls/x"),
        ("GET", "/api/endpoints/count/calls/x/events"),
    ]:
        connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
        connection.request(method, path, b"{}", {"Content-Type": "application/json"})
        reply = connection.getresponse()
        assert reply.status == 403, (method, path)
        json_error(reply.read())
        connection.close()


def test_the_caller_going_away_cancels_the_function_within_a_second(hub, worker, tmp_path):
    for name in ("forever", "quiet"):
        c = call(hub, name)
        c.read(2)  # running
        closed = time.time()
        c.close()
        mark = tmp_path / "marks" / f"{name}.cancelled"
        deadline = time.monotonic() + 5
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        noticed_at, message = mark.read_text().split("\n", 1)
        assert float(noticed_at) - closed < 1.0, name
        assert "the caller went away" in message


def test_delete_cancels_a_call_and_its_stream_says_so(hub, worker):
    c = call(hub, "forever")
    c.read(1)
    call_id = c.response.getheader("X-SSE-Widgets-Call")
    deleted = Call(hub, f"/api/endpoints/forever/calls/{call_id}", method="DELETE")
    assert deleted.status == 204
    events = c.read()
    assert events[-1].event == "error"
    assert events[-1].json()["type"] == "Cancelled"
    assert "cancelled by request" in events[-1].json()["message"]
    gone = Call(hub, "/api/endpoints/forever/calls/nope", method="DELETE")
    assert gone.status == 404


def test_concurrent_calls_each_get_their_own_stream(hub, worker):
    results: dict[str, list[object]] = {}

    def run(tag: str) -> None:
        results[tag] = call(hub, "count", {"n": 20, "delay": 0.005, "tag": tag}).read()

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for tag, events in results.items():
        assert payloads(events) == [{"i": i, "tag": tag} for i in range(20)]  # type: ignore[arg-type]
        assert events[-1].json() == {"sum": 190, "tag": tag}  # type: ignore[union-attr]


def test_over_the_concurrency_limit_answers_429_until_a_call_ends(hub, worker):
    running = [call(hub, "forever") for _ in range(2)]
    for c in running:
        assert c.status == 200
        c.read(1)
    refused = call(hub, "forever")
    assert refused.status == 429
    assert "limit" in json_error(refused.response.read())
    listed = json.loads(Call(hub, "/api/endpoints/forever", method="GET").response.read())
    assert listed["running"] == 2
    running[0].close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        again = call(hub, "forever")
        if again.status == 200:
            break
        again.response.read()
        time.sleep(0.05)
    assert again.status == 200
    again.close()
    running[1].close()


def test_a_call_with_a_resume_window_survives_a_reload_and_resumes_by_id(hub, worker):
    c = call(hub, "count", {"n": 30, "delay": 0.02}, "?resume_window=10")
    first = c.read(3)
    location = c.response.getheader("Location")
    c.close()
    time.sleep(0.2)  # the call goes on meanwhile
    resumed = Call(hub, location, method="GET", **{"Last-Event-ID": first[-1].id or ""})
    assert resumed.status == 200
    rest = resumed.read()
    ids = [int(e.id or 0) for e in first + rest]
    assert ids == list(range(1, len(ids) + 1))  # nothing lost, nothing twice
    assert payloads(first + rest) == [{"i": i, "tag": ""} for i in range(30)]
    assert rest[-1].event == "complete"
    # a finished call can still be read again, then it is forgotten after the retention
    again = Call(hub, location, method="GET", **{"Last-Event-ID": "30"})
    assert [e.event for e in again.read()] == ["complete"]


def test_without_a_resume_window_a_reload_finds_the_call_cancelled(hub, worker):
    c = call(hub, "forever")
    c.read(1)
    location = c.response.getheader("Location")
    c.close()
    resumed = Call(hub, location, method="GET")
    events = resumed.read()
    assert events[-1].event == "error" and events[-1].json()["type"] == "Cancelled"


def test_a_worker_that_dies_fails_its_calls_with_worker_gone(hub, tmp_path):
    process = start_worker(hub, tmp_path / "marks")
    c = call(hub, "forever")
    c.read(1)
    stop_worker(process)
    events = c.read()
    assert events[-1].event == "error"
    assert events[-1].json()["type"] == "WorkerGone"
    # after the grace the endpoint is no longer listed
    listed = json.loads(Call(hub, "/api/endpoints", method="GET").response.read())
    assert "forever" not in {e["name"] for e in listed["endpoints"]}
    assert call(hub, "forever").status == 404


def test_the_form_widgets_kernel_relay_makes_the_call_for_its_view(hub, worker, monkeypatch):
    # Where the browser cannot reach the hub, EndpointForm's kernel side calls it and
    # forwards the events as custom messages (sse_widgets/widgets/endpoint_form.py).
    from sse_widgets import Publisher
    from sse_widgets.widgets import endpoint_form

    publisher = Publisher(hub.url, hub.token, start=False)
    monkeypatch.setattr(endpoint_form, "get_publisher", lambda: publisher)
    form = endpoint_form.EndpointForm("count", transport="relay", resume_window=0)
    sent: list[dict] = []
    monkeypatch.setattr(form, "send", sent.append)

    def until(predicate, timeout: float = 15) -> list[dict]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return sent
            time.sleep(0.01)
        raise AssertionError(f"the relay sent {sent}")

    def events(view: str) -> list[dict]:
        return [e for m in sent if m["view"] == view and m["type"] == "events" for e in m["events"]]

    relay = form._relay
    relay._on_message(form, {"type": "describe", "view": "v1", "request": 1}, [])
    until(lambda: any(m["type"] == "info" for m in sent))
    assert next(m for m in sent if m["type"] == "info")["info"]["name"] == "count"

    relay._on_message(form, {"type": "call", "view": "v1", "request": 2, "args": {"n": 3}}, [])
    until(lambda: any(e["event"] == "complete" for e in events("v1")))
    assert [json.loads(e["data"]) for e in events("v1") if e["event"] == "message"] == [
        {"i": i, "tag": ""} for i in range(3)
    ]
    assert next(m["type"] for m in sent if m.get("request") == 2) == "started"

    relay._on_message(form, {"type": "call", "view": "v2", "request": 3, "args": {}}, [])
    until(lambda: any(m["type"] == "failed" for m in sent))
    failed = next(m for m in sent if m["type"] == "failed")
    assert failed["status"] == 400 and "missing argument(s) ['n']" in failed["error"]
    form.close()
