"""Two `sse-widgets serve --backend redis://...` processes on one real Redis: a producer
publishes to A over HTTP, readers on A and B get every event in the same order with the
same cursors, and a reader that moves from A to B with its cursor loses and repeats nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import start_hub
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401

from sse_widgets import Publisher
from sse_widgets.client import EventStream


def read(url: str, token: str, count: int, **options: object) -> list[tuple[str, int]]:
    stream = EventStream(url, channels=["shared"], token=token, **options)  # type: ignore[arg-type]
    got: list[tuple[str, int]] = []
    for event in stream:
        if event.event == "log":
            got.append((str(event.id), int(event.json()["data"]["n"])))
            if len(got) == count:
                break
    stream.close()
    return got


def test_two_servers_share_channels_ids_and_history(tmp_path, redis_url):
    a = start_hub(tmp_path, "--backend", redis_url, token="T")
    b = start_hub(tmp_path, "--backend", redis_url, token="T")
    try:
        publisher = Publisher(a.url, a.token)
        for n in range(300):
            publisher.send("shared", "log", {"n": n})
        assert publisher.flush(20)
        on_a = read(a.url, a.token, 300, replay="history")
        on_b = read(b.url, b.token, 300, replay="history")
        assert [n for _, n in on_b] == list(range(300))
        assert on_a == on_b  # same events, same cursors, same order
        # a viewer that read 120 events on A resumes on B with its cursor
        cursor = on_a[119][0]
        for n in range(300, 350):
            publisher.send("shared", "log", {"n": n})
        assert publisher.flush(20)
        resumed = read(b.url, b.token, 230, last_event_id=cursor)
        assert [n for _, n in resumed] == list(range(120, 350))
        publisher.close()
    finally:
        a.stop()
        b.stop()


def test_serve_with_an_unreachable_redis_says_so_once(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sse_widgets.cli",
            "serve",
            "--port",
            "0",
            "--backend",
            "redis://:secret@127.0.0.1:1/0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "sse-widgets serve:" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "secret" not in result.stderr  # the password is scrubbed
    assert result.stderr.count("sse-widgets serve:") == 1


def test_without_the_redis_package_the_backend_option_says_how_to_install_it() -> None:
    # `redis` made unimportable, as on a machine without the [redis] extra: the default
    # (memory) needs nothing of it; asking for Redis names the package and the install line.
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import sse_widgets, sse_widgets.server.standalone\n"
        "from sse_widgets.cli import main\n"
        "sys.argv = ['sse-widgets', 'serve', '--port', '0', '--backend', 'redis://127.0.0.1:1/0']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "pip install sse_widgets[redis]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
