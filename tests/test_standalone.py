"""``sse-widgets serve``: its token, CORS allow-list, stream headers, heartbeats, the control
round trip (on every backend) and its configuration errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import free_port, start_hub

from sse_widgets.client import EventStream


def _request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# Each test with a running hub runs on every backend; start-up and configuration tests need none.
pytestmark = pytest.mark.backends


@pytest.fixture
def hub(tmp_path, hub_backend):  # type: ignore[no-untyped-def]
    process = start_hub(
        tmp_path,
        "--allow-origin",
        "https://app.example",
        "--SSEWidgets.ping_interval=0.2",
        backend=hub_backend,
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize(
    "headers_or_query",
    [
        {"Authorization": "Bearer T"},
        {"Authorization": "token T"},
        {"X-SSE-Widgets-Token": "T"},
        "?token=T",
    ],
)
def test_the_token_is_accepted_in_each_documented_form(hub, headers_or_query):
    if isinstance(headers_or_query, str):
        status, _, _ = _request(hub.url + "api/channels" + headers_or_query)
    else:
        status, _, _ = _request(hub.url + "api/channels", headers=headers_or_query)
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "api/channels"),
        ("GET", "api/events?channel=a"),
        ("GET", "api/channels/a/events"),
        ("POST", "api/channels/a/events"),
        ("POST", "api/events"),
        ("DELETE", "api/channels/a"),
        ("GET", "api/channels/a/control"),
        ("GET", "nothing/here"),
    ],
)
def test_every_endpoint_refuses_a_missing_or_wrong_token(hub, method, path):
    body = b'{"event": "log"}' if method == "POST" else None
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        status, reply_headers, reply = _request(hub.url + path, method, headers, body)
        assert status == 403
        assert reply_headers["Content-Type"].startswith("application/json")
        assert "token" in json.loads(reply)["error"]


def test_cors_allows_only_the_listed_origin(hub):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, headers, _ = _request(hub.url + "api/channels/a/events", "OPTIONS", preflight)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Last-Event-ID" in headers["Access-Control-Allow-Headers"]
    status, headers, _ = _request(
        hub.url + "api/channels",
        "GET",
        {"Origin": "https://app.example", "Authorization": "Bearer T"},
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example"
    # an endpoint call's id and resume path are readable by the allowed page (EndpointForm)
    assert set(headers["Access-Control-Expose-Headers"].split(", ")) == {
        "X-SSE-Widgets-Call",
        "Location",
    }
    status, headers, _ = _request(
        hub.url + "api/channels/a/events", "OPTIONS", {"Origin": "https://evil.example"}
    )
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


def test_a_stream_answers_at_once_with_sse_headers_and_heartbeats(hub):
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(
            b"GET /api/channels/quiet/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T\r\n\r\n"
        )
        started = time.monotonic()
        raw = b""
        while b"retry:" not in raw:
            raw += sock.recv(65536)
        first_bytes_after = time.monotonic() - started
        while raw.count(b": ping") < 2:  # ping_interval is 0.2 s in this fixture
            raw += sock.recv(65536)
    head = raw.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert first_bytes_after < 1.0
    assert "content-type: text/event-stream; charset=utf-8" in head
    assert "cache-control: no-cache" in head
    assert "x-accel-buffering: no" in head


def test_a_viewer_control_message_reaches_the_producers_control_stream(hub):
    stream = EventStream(hub.url + "api/channels/job/control", token="T")
    status, _, reply = _request(
        hub.url + "api/channels/job/control",
        "POST",
        {"Authorization": "Bearer T", "Content-Type": "application/json"},
        json.dumps({"event": "cancel", "data": {"bar": "b1"}}).encode(),
    )
    assert status == 200 and len(json.loads(reply)["ids"]) == 1
    # The producer connects after the fact and asks for what it missed.
    stream = EventStream(hub.url + "api/channels/job/control?replay=history", token="T")
    event = next(iter(stream))
    stream.close()
    assert (event.event, event.json()) == ("cancel", {"bar": "b1"})
    status, _, reply = _request(hub.url + "api/channels", headers={"Authorization": "Bearer T"})
    assert [c["name"] for c in json.loads(reply)["channels"]] == []  # control is not a channel


def test_serve_prints_its_url_with_the_token_and_listens_on_loopback(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "sse_widgets.cli", "serve", "--port", str(port)]
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            second = process.stdout.readline()
        finally:
            process.terminate()
            process.wait(10)
    assert first.strip() == f"sse-widgets hub serving at http://127.0.0.1:{port}/"
    assert "?token=" in second and len(second.split("?token=")[1].strip()) >= 32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--SSEWidgets.history_size=0"], "history_size must be at least 1"),
        (["--SSEWidgets.nonsense=1"], "nonsense"),
        (["--bogus"], "unknown argument"),
    ],
)
def test_serve_refuses_bad_configuration_with_a_clear_message(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "sse_widgets.cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert message in result.stderr
