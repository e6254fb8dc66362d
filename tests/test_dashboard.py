"""``sse-widgets dashboard NOTEBOOK`` as a user runs it: the command prints a Voilà URL and
how to publish; two browsers open the URL (the token in it logs each in), a separate producer
publishes with the printed SSE_WIDGETS_URL/TOKEN, and both viewers show it live. Ctrl-C
(SIGINT to the command's PID) stops the command, the server and the kernels within seconds.

:class:`Command` (start a ``sse-widgets`` command in its own session and read what it prints)
is shared with test_demo_command.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from jupyter_app import (
    _alive,
    _descendants,
    _end,
    chromium,
    new_page,
    scroll_log_to_top,
    wait_widgets,
    widget_state,
)

SSE_WIDGETS = str(Path(sys.executable).with_name("sse-widgets"))
STEPS = 120


class Command:
    """A ``sse-widgets`` command started in its own session, its stdout read by a thread.

    Jupyter gets its own config, data, runtime and IPython directories (no user settings
    leak in). ``stop()`` ends what this started, by PID only.
    """

    def __init__(self, args: list[str], home: Path, cwd: Path | None = None) -> None:
        for name in ("config", "data", "runtime", "ipython"):
            (home / name).mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            IPYTHONDIR=str(home / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        for name in ("SSE_WIDGETS_URL", "SSE_WIDGETS_TOKEN", "SSE_WIDGETS_BROWSER_PATH"):
            env.pop(name, None)
        self.env = env
        self.stderr_path = home / "command-stderr.log"
        with open(self.stderr_path, "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._children: list[int] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.stderr_path.read_text()[-6000:]

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first printed line matching ``pattern`` (fails if the command exits first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                self._reader.join(2)
                if not any(re.search(pattern, line) for line in self.lines):
                    raise AssertionError(f"exited ({self.process.returncode}):\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"nothing matched {pattern!r} in {timeout} s:\n{self.output}")

    def children(self) -> list[int]:
        """The command's descendants now (the server, its kernels); remembered for stop()."""
        self._children = _descendants(self.process.pid)
        return self._children

    def interrupt(self, timeout: float = 15) -> tuple[int, float]:
        """SIGINT, as Ctrl-C would; (exit code, seconds it took)."""
        started = time.monotonic()
        os.kill(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def stop(self) -> None:
        _end(self.process.pid, lambda: self.process.poll() is not None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        for pid in self._children:
            _end(pid, lambda pid=pid: not _alive(pid))
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def subscribers(hub_url: str, token: str, channel: str) -> int:
    channels = get_json(hub_url + "api/channels", token)["channels"]
    return sum(c["subscribers"] for c in channels if c["name"] == channel)


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={"kernelspec": kernelspec},
    )
    nbformat.write(notebook, path)
    return path


PRODUCER = f"""
import time, sse_widgets
ch = sse_widgets.channel("live")
for i in sse_widgets.progress(range({STEPS}), channel="live", desc="nightly", mininterval=0.05):
    ch.log(f"step {{i}}")
    time.sleep(0.03)
assert sse_widgets.get_publisher().flush(30)
"""


def test_dashboard_serves_two_viewers_one_producer_and_stops_on_ctrl_c(tmp_path):
    notebook = write_notebook(
        tmp_path / "report.ipynb",
        [
            "from sse_widgets.widgets import ProgressBar, LogView",
            'ProgressBar(channel="live")',
            'LogView(channel="live", max_lines=500)',
        ],
    )
    port = free_port()
    args = ["--port", str(port), "--base-url", "/team/", "--publish-token", "nightly-secret"]
    command = Command(
        [SSE_WIDGETS, "dashboard", str(notebook), *args, "--no-browser"], tmp_path / "jupyter"
    )
    try:
        opened = command.wait_for(r"^Open (\S+) ")
        url = opened.group(1)
        assert url.startswith(f"http://127.0.0.1:{port}/team/voila/render/report.ipynb?token=")
        token = url.split("?token=", 1)[1]
        published = command.wait_for(r"export SSE_WIDGETS_URL=(\S+) SSE_WIDGETS_TOKEN=(\S+)")
        hub_url, publish_token = published.groups()
        assert hub_url == f"http://127.0.0.1:{port}/team/sse-widgets/"
        # Producers get the publish token (fixed here), never the login token.
        assert publish_token == "nightly-secret" != token
        server_pids = command.children()
        assert server_pids, "no server process"

        with chromium(tmp_path) as browser:
            viewers = [new_page(browser, width=1000, height=700) for _ in range(2)]
            for page in viewers:  # each its own context: the URL's token logs it in
                page.goto(url)
            for page in viewers:
                wait_widgets(page, ["progress", "log"])
            deadline = time.monotonic() + 30
            while subscribers(hub_url, token, "live") < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert subscribers(hub_url, token, "live") == 2

            producer = subprocess.Popen(
                [sys.executable, "-c", PRODUCER],
                env={**command.env, "SSE_WIDGETS_URL": hub_url, "SSE_WIDGETS_TOKEN": publish_token},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                seen: list[set[int]] = [set(), set()]
                while producer.poll() is None and time.monotonic() < deadline + 30:
                    for page, values in zip(viewers, seen, strict=True):
                        values.update(int(bar["value"]) for bar in widget_state(page)["bars"])
                    time.sleep(0.05)
                out, _ = producer.communicate(timeout=30)
                assert producer.returncode == 0, out
            finally:
                if producer.poll() is None:
                    _end(producer.pid, lambda: producer.poll() is not None)

            for page, values in zip(viewers, seen, strict=True):
                page.wait_for_function(
                    "() => document.querySelector('.ssew-bar[data-state=done]')"
                    " && document.querySelector('.ssew-root[data-widget=log]')?.dataset.count"
                    f" === '{STEPS}'",
                    timeout=30_000,
                )
                intermediate = sorted(v for v in values if 0 < v < STEPS)
                assert len(intermediate) >= 3, f"the viewer did not update live: saw {values}"
                scroll_log_to_top(page)
                state = widget_state(page)
                [bar] = state["bars"]
                assert (bar["count"], bar["state"]) == (f"{STEPS}/{STEPS}", "done")
                assert [line["message"] for line in state["lines"]] == [
                    f"step {i}" for i in range(STEPS)
                ]
                assert not page.errors, page.errors

        everything = command.children()  # the server and the viewers' kernels
        assert len(everything) >= 3, "expected the server and two kernels"
        code, took = command.interrupt()
        assert code == 0, command.output
        assert took < 10, f"took {took:.1f} s to stop"
        time.sleep(0.2)
        assert not [pid for pid in everything if _alive(pid)], "the server or a kernel survived"
        assert "stopping the server and its kernels" in command.output
    except BaseException:
        print(command.output)
        raise
    finally:
        command.stop()


def test_a_missing_notebook_is_reported_with_exit_code_2(tmp_path):
    result = subprocess.run(
        [SSE_WIDGETS, "dashboard", str(tmp_path / "nope.ipynb")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"sse-widgets dashboard: no such notebook: {tmp_path / 'nope.ipynb'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_voila_is_reported_with_exit_code_2(tmp_path, monkeypatch, capsys):
    import importlib.util

    from sse_widgets import cli

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "voila" else real_find_spec(name, *a),
    )
    notebook = write_notebook(tmp_path / "x.ipynb", ["1"])
    assert cli.main(["dashboard", str(notebook)]) == 2
    error = capsys.readouterr().err
    assert "sse-widgets dashboard: Voilà is not installed" in error
    assert "pip install voila" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dashboard", "{notebook}", "stray"], "unexpected argument 'stray'"),
        (["dashboard", "{tmp}/notes.txt"], "not a notebook (.ipynb)"),
    ],
)
def test_bad_arguments_are_reported_before_anything_starts(tmp_path, capsys, args, message):
    from sse_widgets import cli

    notebook = write_notebook(tmp_path / "x.ipynb", ["1"])
    (tmp_path / "notes.txt").write_text("")
    argv = [a.format(notebook=notebook, tmp=tmp_path) for a in args]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_taken_default_port_is_replaced_and_a_chosen_one_is_an_error(capsys):
    """`make demo` next to a running Jupyter (8888) still works; `--port 8888` does not move."""
    import socket

    from sse_widgets import launch

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        replaced = launch._check_port("127.0.0.1", port, is_default=True)
        assert replaced not in (port, 0)
        assert f"port {port} is taken; using a free one" in capsys.readouterr().err
        with pytest.raises(launch.LaunchError, match=f"cannot listen on port {port}") as error:
            launch._check_port("127.0.0.1", port, is_default=False)
        assert error.value.exit_code == 1
