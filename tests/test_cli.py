"""``sse-widgets serve | publish | tail`` as a user runs them, in separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import start_hub

CLI = [sys.executable, "-m", "sse_widgets.cli"]


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def hub(tmp_path):  # type: ignore[no-untyped-def]
    process = start_hub(tmp_path, token="cli-token")
    try:
        yield process
    finally:
        process.stop()


def test_publish_then_tail_from_start_shows_the_events(hub):
    for n in range(3):
        result = _run(
            "publish",
            "jobs",
            "log",
            json.dumps({"message": f"line {n}"}),
            "--url",
            hub.url,
            "--token",
            hub.token,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(f"-{n + 1}")
    tail = _run(
        "tail",
        "jobs",
        "--from-start",
        "--count",
        "3",
        "--json",
        "--url",
        hub.url,
        "--token",
        hub.token,
    )
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [line["data"]["data"]["message"] for line in lines] == ["line 0", "line 1", "line 2"]


def test_tail_follows_live_events_published_after_it_started(hub):
    env = {"SSE_WIDGETS_URL": hub.url, "SSE_WIDGETS_TOKEN": hub.token}
    tail = subprocess.Popen(
        [*CLI, "tail", "live", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        time.sleep(1.0)  # let tail connect; it only shows what comes after
        for word in ("alpha", "beta"):
            assert _run("publish", "live", "note", json.dumps(word), env=env).returncode == 0
        out, err = tail.communicate(timeout=20)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    assert [line.split(" ", 3)[1:] for line in out.splitlines()] == [
        ["live", "note", '"alpha"'],
        ["live", "note", '"beta"'],
    ]


def test_publish_reads_ndjson_from_stdin(hub):
    result = subprocess.run(
        [*CLI, "publish", "batch", "point", "-", "--url", hub.url, "--token", hub.token],
        input='{"x": 1}\n{"x": 2}\n',
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 2


def test_publish_and_tail_find_a_running_serve_without_flags(hub, tmp_path):
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "SSE_WIDGETS_URL": ""}
    assert _run("publish", "found", "log", '{"ok": true}', env=env).returncode == 0
    tail = _run("tail", "found", "--from-start", "--count", "1", "--json", env=env)
    assert tail.returncode == 0, tail.stderr
    assert json.loads(tail.stdout)["data"]["data"] == {"ok": True}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("publish", "c", "log", "{not json"), "not JSON"),
        (("publish", "bad name", "log", "1"), "invalid channel name"),
        (("publish", "c", "a\nb", "1"), "CR, LF and NUL"),
    ],
)
def test_publish_reports_bad_input_clearly(hub, args, message):
    result = _run(*args, "--url", hub.url, "--token", hub.token)
    assert result.returncode != 0
    assert message in result.stderr


def test_wrong_token_is_refused(hub):
    result = _run("publish", "c", "log", "1", "--url", hub.url, "--token", "wrong")
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr
    tail = _run("tail", "c", "--url", hub.url, "--token", "wrong")
    assert tail.returncode == 1
    assert "403" in tail.stderr


def test_hub_only_demo_publishes_every_kind_of_event(tmp_path):
    from conftest import free_port

    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    with subprocess.Popen(
        [*CLI, "demo", "--hub-only", "--port", str(port), "--seconds", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as demo:
        try:
            assert demo.stdout is not None
            assert f"hub at http://127.0.0.1:{port}/" in demo.stdout.readline()
            tail = subprocess.run(
                [*CLI, "tail", "demo", "--count", "12", "--json"],
                capture_output=True,
                text=True,
                timeout=30,
                env=env,
            )
        finally:
            demo.terminate()
            demo.wait(10)
    assert tail.returncode == 0, tail.stderr
    kinds = {json.loads(line)["event"] for line in tail.stdout.splitlines()}
    assert {"progress", "text", "point"} <= kinds


@pytest.mark.parametrize(
    "command",
    [["serve"], ["demo", "--hub-only"], ["demo", "--no-browser"], ["dashboard", "{notebook}"]],
)
def test_a_taken_port_is_reported_without_a_traceback(command, tmp_path):
    import socket

    notebook = tmp_path / "x.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [arg.format(notebook=notebook) for arg in command]
        result = _run(*args, "--port", str(port))
    assert result.returncode != 0
    assert "cannot listen on port" in result.stderr and "Traceback" not in result.stderr


def test_serve_reads_a_fixed_token_from_a_file(tmp_path):
    import signal
    import socket

    from conftest import free_port

    secret = tmp_path / "token"
    secret.write_text("from-the-file\n")
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("SSE_WIDGETS_URL", None)
    serve = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--token-file", str(secret)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/"
        ok = _run("publish", "c", "log", "1", "--url", url, "--token", "from-the-file")
        assert ok.returncode == 0, ok.stderr
        refused = _run("publish", "c", "log", "1", "--url", url, "--token", "other")
        assert refused.returncode != 0 and "403" in refused.stderr
    finally:
        os.kill(serve.pid, signal.SIGTERM)
        serve.wait(10)
    assert "from-the-file" not in " ".join(serve.args)  # the token is not on the command line


@pytest.mark.parametrize(
    ("content", "extra", "problem"),
    [
        ("", [], "is empty"),
        (None, [], "cannot read --token-file"),
        ("x", ["--token", "y"], "not both"),
    ],
)
def test_serve_token_file_problems_are_named(tmp_path, content, extra, problem):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    result = _run("serve", "--port", "0", "--token-file", str(path), *extra, timeout=20)
    assert result.returncode != 0
    assert problem in result.stderr, result.stderr


def test_version_prints_the_package_version_and_matches_pyproject():
    from pathlib import Path

    import tomllib

    import sse_widgets

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    assert sse_widgets.__version__ == declared
    result = subprocess.run(
        [sys.executable, "-m", "sse_widgets.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"sse-widgets {declared} (Python ")
    assert "tornado" in result.stdout
