"""The standalone page of ``sse-widgets serve``: ``GET /`` behind the token, the login cookie
that replaces ``?token=``, the CSRF guard on cookie-authenticated changes, the built modules,
and (in real headless Chromium) a publishing script's bars and logs shown live."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, HubProcess, free_port, json_error, start_hub

from sse_widgets.server.page import PAGE_CSP
from sse_widgets.server.standalone import cookie_value

PAGE_JS = REPO / "sse_widgets" / "static" / "page.js"


def _get(
    hub: HubProcess,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    try:
        connection.request(method, path, body, headers or {})
        reply = connection.getresponse()
        return reply.status, reply.headers, reply.read()
    finally:
        connection.close()


def _cookie(hub: HubProcess) -> dict[str, str]:
    """The Cookie header the browser sends after ``GET /?token=``."""
    status, headers, _ = _get(hub, f"/?token={hub.token}")
    assert status == 302
    name_value = headers["Set-Cookie"].split(";")[0]
    return {"Cookie": name_value}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    process = start_hub(tmp_path, "--allow-origin", "https://app.example")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def built_page() -> Path:
    assert PAGE_JS.exists(), "build the JS first (npm run build in js/, or pip install -e .)"
    return PAGE_JS


@pytest.mark.parametrize(
    "headers_or_query",
    [{}, "?token=wrong", {"Cookie": "sse_widgets_token=nope"}, {"Authorization": "Bearer no"}],
)
def test_the_page_without_a_valid_token_is_a_403_page_pointing_to_the_printed_url(
    hub, headers_or_query
):
    query = headers_or_query if isinstance(headers_or_query, str) else ""
    headers = headers_or_query if isinstance(headers_or_query, dict) else {}
    status, reply_headers, body = _get(hub, "/" + query, headers=headers)
    assert status == 403
    assert reply_headers["Content-Type"].startswith("text/html")
    assert "Set-Cookie" not in reply_headers
    assert "sse-widgets serve" in body.decode() and "/?token=" in body.decode()
    assert "frame-ancestors 'none'" in reply_headers["Content-Security-Policy"]


def test_the_token_in_the_url_becomes_an_httponly_cookie_and_leaves_the_address_bar(hub):
    status, headers, _ = _get(hub, f"/?token={hub.token}")
    assert status == 302
    assert headers["Location"] == "./"
    cookie = headers["Set-Cookie"]
    name, _, value = cookie.split(";")[0].partition("=")
    assert name == f"sse_widgets_token_{hub.port}"  # browsers share cookies across ports
    assert value == cookie_value(hub.token) and hub.token not in cookie
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= attributes
    assert "secure" not in attributes  # plain http on loopback: a Secure cookie would be lost
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_cookie_grants_the_page_its_module_the_listing_and_the_stream(hub, built_page):
    cookie = _cookie(hub)
    status, headers, body = _get(hub, "/", headers=cookie)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == PAGE_CSP
    assert '<script type="module" src="static/page.js"></script>' in body.decode()

    status, headers, body = _get(hub, "/static/page.js", headers=cookie)
    assert status == 200 and body == built_page.read_bytes()
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache" and headers["ETag"]
    status, _, body = _get(
        hub, "/static/page.js", headers={**cookie, "If-None-Match": headers["ETag"]}
    )
    assert (status, body) == (304, b"")

    status, _, body = _get(hub, "/api/channels", headers=cookie)
    assert status == 200 and "channels" in json.loads(body)

    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        head = f"GET /api/events?channel=a HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n"
        sock.sendall(f"{head}Cookie: {cookie['Cookie']}\r\n\r\n".encode())
        raw = b""
        while b"retry:" not in raw:
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 200") and b"text/event-stream" in raw


def test_a_cookie_for_another_port_is_not_this_hubs_login(hub):
    # Another hub on the same host sets its own cookie, which the browser sends here too.
    other = {"Cookie": f"sse_widgets_token_1={cookie_value(hub.token)}"}
    assert _get(hub, "/api/channels", headers=other)[0] == 403
    assert _get(hub, "/", headers=other)[0] == 403


@pytest.mark.parametrize(
    "name", ["Page.js", "page.css", "..%2F__init__.py", "page.js.map", "a/page.js", "", "x.js"]
)
def test_static_serves_only_built_modules_and_answers_others_with_404_json(hub, name):
    status, headers, body = _get(hub, f"/static/{name}", headers=_cookie(hub))
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert json_error(body)


@pytest.mark.parametrize("path", ["/static/page.js", "/static/nothing.js", "/static/../x"])
def test_static_needs_the_token_too(hub, path):
    status, _, body = _get(hub, path)
    assert status == 403 and "token" in json_error(body)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},  # another port of the same host: same site
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://app.example"},  # allowed for CORS, but only with the token
    ],
)
def test_a_cookie_authenticated_change_from_another_origin_is_refused(hub, headers):
    message = json.dumps({"event": "cancel", "data": {"bar": "b1"}}).encode()
    json_type = {"Content-Type": "application/json"}
    cookie = _cookie(hub)
    status, _, body = _get(
        hub, "/api/channels/job/control", "POST", {**cookie, **json_type, **headers}, message
    )
    assert status == 403 and "cross-origin" in json_error(body)
    status, _, body = _get(hub, "/api/channels/job", "DELETE", {**cookie, **headers})
    assert status == 403 and "cross-origin" in json_error(body)
    # Reading is not a change: the same request shape may list channels.
    assert _get(hub, "/api/channels", headers={**cookie, **headers})[0] == 200


def test_a_cookie_authenticated_change_from_the_page_itself_is_accepted(hub):
    message = json.dumps({"event": "cancel", "data": {"bar": "b1"}}).encode()
    own = {
        "Origin": f"http://127.0.0.1:{hub.port}",
        "Sec-Fetch-Site": "same-origin",
        "Content-Type": "application/json",
    }
    status, _, body = _get(
        hub, "/api/channels/job/control", "POST", {**_cookie(hub), **own}, message
    )
    assert status == 200 and len(json.loads(body)["ids"]) == 1


def test_the_token_in_a_header_still_works_from_any_allowed_origin(hub):
    message = json.dumps({"event": "cancel", "data": {"bar": "b1"}}).encode()
    headers = {
        "Authorization": f"Bearer {hub.token}",
        "Origin": "https://app.example",
        "Content-Type": "application/json",
    }
    status, _, _ = _get(hub, "/api/channels/job/control", "POST", headers, message)
    assert status == 200
    status, _, _ = _get(hub, "/", headers={"Authorization": f"Bearer {hub.token}"})
    assert status == 200


def test_without_authentication_configured_the_page_is_open(tmp_path):
    hub = start_hub(tmp_path, token="")
    try:
        status, headers, _ = _get(hub, "/")
        assert status == 200 and headers["Content-Security-Policy"] == PAGE_CSP
        status, headers, _ = _get(hub, "/?token=anything")
        assert status == 302 and "Set-Cookie" not in headers
    finally:
        hub.stop()


def test_serve_prints_the_page_url_with_its_token(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "sse_widgets.cli", "serve", "--port", str(port)]
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(2)]
        finally:
            process.terminate()
            process.wait(10)
    match = re.search(rf"Open (http://127\.0\.0\.1:{port}/\?token=([0-9a-f]+)) ", lines[1])
    assert match, lines
    assert len(match.group(2)) >= 32
