"""The standalone page of ``sse-widgets serve``: ``GET /`` behind the token, the login cookie
that replaces ``?token=``, the CSRF guard on cookie-authenticated changes, the built modules,
and (in real headless Chromium) a publishing script's bars and logs shown live.

``SSE_WIDGETS_SCREENSHOTS=1`` makes the browser test refresh docs/images/standalone-page.png.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO, HubProcess, free_port, json_error, run_python, start_hub

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


# -- the page in a real browser (acceptance test f) -------------------------------------------

SCREENSHOT_ENV = "SSE_WIDGETS_SCREENSHOTS"

# A cron-job-like script: logging and a bar, paced so that a viewer sees the bar move. It
# waits for the test's go-ahead (a file) so that the page is showing its channel first.
PRODUCER = """
import logging, os, time
from pathlib import Path
import sse_widgets

sse_widgets.channel("aaa-earlier").log("a channel listed before 'job'")
log = logging.getLogger("nightly")
sse_widgets.log_to("job", logger="nightly")
log.info("waiting for the viewer")
assert sse_widgets.get_publisher().flush(30)
go, deadline = Path(os.environ["GO_FILE"]), time.monotonic() + 60
while not go.exists():
    assert time.monotonic() < deadline, "the test never said go"
    time.sleep(0.02)
job = sse_widgets.channel("job")
summary = job.text("summary")
for i in sse_widgets.progress(range(300), channel="job", desc="nightly"):
    if i % 60 == 0:
        log.info("batch %d of 300", i)
        summary.write(f"batch {i}: ok. ")
    job.point("loss", i, 1 / (1 + i / 40))
    time.sleep(0.015)
log.warning("nightly run finished: 300 items, 0 failed")
assert sse_widgets.get_publisher().flush(30)
"""

# Records every text the first bar's count shows, as the page draws it.
WATCH_COUNTS = """() => {
  window.seenCounts = [];
  const note = () => {
    const count = document.querySelector(".ssew-bar-count");
    if (count && window.seenCounts.at(-1) !== count.textContent) {
      window.seenCounts.push(count.textContent);
    }
  };
  new MutationObserver(note).observe(document.body,
    { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def test_the_page_shows_a_publishing_scripts_bars_and_logs_live(hub_process, tmp_path, built_page):
    from browser import chromium_page

    hub = hub_process
    go = tmp_path / "go"
    env = {"SSE_WIDGETS_URL": hub.url, "SSE_WIDGETS_TOKEN": hub.token, "GO_FILE": str(go)}
    with ThreadPoolExecutor(1) as pool, chromium_page() as page:
        producer = pool.submit(run_python, PRODUCER, env=env, timeout=120)
        try:
            _watch_the_job_live(page, hub, go, tmp_path)
        finally:
            go.touch()  # never leave the producer waiting
        producer.result()


def _watch_the_job_live(page, hub: HubProcess, go: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Playwright eval()s string predicates, which the page's CSP forbids: every predicate
    # here is a function, which it calls without eval.
    page.set_viewport_size({"width": 1100, "height": 760})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{hub.url}?token={hub.token}")
    assert page.url.split("#")[0] == hub.url, "the token stayed in the address bar"
    page.wait_for_selector(".ssew-page", timeout=20_000)
    assert page.title() == f"sse_widgets — 127.0.0.1:{hub.port}"

    # The first channel is shown by default; the viewer picks "job" in the sidebar.
    page.wait_for_function("() => location.hash === '#channel=aaa-earlier'", timeout=20_000)
    link = page.locator('.ssew-page-channel[data-channel="job"]')
    link.wait_for(timeout=20_000)
    link.click()
    page.wait_for_function("() => location.hash === '#channel=job'", timeout=5_000)
    assert link.get_attribute("aria-current") == "page"
    page.locator(".ssew-log-msg", has_text="waiting for the viewer").wait_for(timeout=20_000)

    page.evaluate(WATCH_COUNTS)
    go.touch()
    page.wait_for_function(
        "() => document.querySelector('.ssew-bar')?.dataset.state === 'done'", timeout=60_000
    )
    last_line = "nightly run finished: 300 items, 0 failed"
    page.locator(".ssew-log-msg", has_text=last_line).wait_for(timeout=20_000)

    assert page.locator(".ssew-bar-count").text_content() == "300/300"
    seen = page.evaluate("() => window.seenCounts")
    assert seen[-1] == "300/300"
    live = [count for count in seen if count != "300/300"]
    assert len(set(live)) >= 2, f"the bar did not move live: {seen}"
    assert page.locator(".ssew-page-status").text_content() == "live"
    assert errors == []

    page.wait_for_timeout(300)  # the chart's next frame, for the picture
    screenshot = tmp_path / "standalone-page.png"
    if os.environ.get(SCREENSHOT_ENV):
        screenshot = REPO / "docs" / "images" / "standalone-page.png"
        screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)


# A loop that runs until a viewer cancels it (or a minute passes).
CANCELLABLE = """
import time
import sse_widgets

try:
    for _ in sse_widgets.progress(range(6000), channel="long-job", desc="long"):
        time.sleep(0.01)
except sse_widgets.Cancelled:
    print("cancelled")
assert sse_widgets.get_publisher().flush(30)
"""


def test_the_pages_cancel_button_reaches_the_script_through_the_login_cookie(hub_process):
    """The page's POST to the control endpoint is same-origin: the CSRF guard lets it in."""
    from browser import chromium_page

    hub = hub_process
    env = {"SSE_WIDGETS_URL": hub.url, "SSE_WIDGETS_TOKEN": hub.token}
    with ThreadPoolExecutor(1) as pool, chromium_page() as page:
        producer = pool.submit(run_python, CANCELLABLE, env=env, timeout=120)
        # The channel named in the URL is shown on load (the fragment survives the redirect).
        page.goto(f"{hub.url}?token={hub.token}#channel=long-job")
        assert page.url == f"{hub.url}#channel=long-job"
        page.wait_for_function(
            "() => document.querySelector('.ssew-bar')?.dataset.state === 'running'",
            timeout=20_000,
        )
        page.locator(".ssew-cancel").click()
        page.wait_for_function(
            "() => document.querySelector('.ssew-bar')?.dataset.state === 'cancelled'",
            timeout=20_000,
        )
        assert producer.result().strip() == "cancelled"
        assert page.locator(".ssew-cancel-error").text_content() == ""
