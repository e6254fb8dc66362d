"""Shared fixtures: a real Jupyter server (pytest-jupyter), a real standalone hub process,
and a TCP proxy that can cut connections mid-stream.

Both servers use the hub backend the ``hub_backend`` fixture names: ``memory`` unless the test
is marked ``backends`` (the conformance suites mark whole modules), which runs it once per
backend, ``[memory]`` and ``[redis]`` (one real ``redis-server`` for the session, emptied before
each test). Not named ``backend``: tests parametrize that name with anyio's "asyncio"/"trio".

Everything listens on 127.0.0.1 only; every process a fixture starts is ended by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis_server import RedisServer
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]
#: Scripts the tests run as processes: --doctest-modules must not import them.
collect_ignore = ["endpoint_worker.py"]

REPO = Path(__file__).resolve().parent.parent
PUBLISH_TOKEN = "publish-secret-for-tests"

#: The hub backends a ``backends``-marked test runs on (the ids of its ``hub_backend`` param).
BACKENDS = ("memory", "redis")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backends: run the test once per hub backend ([memory], [redis]); the servers of the "
        "jp_serverapp and hub_process fixtures (and start_hub(..., backend=hub_backend)) use it",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("backends")
    if marked and "hub_backend" in metafunc.fixturenames:
        metafunc.parametrize("hub_backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def _backend_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for every ``[redis]`` test (started by the first one)."""
    server = RedisServer(tmp_path_factory.mktemp("backend-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_backend(request: pytest.FixtureRequest) -> str:
    """The hub backend of this test, as ``c.SSEWidgets.backend`` takes it: ``"memory"``, or
    the URL of a redis-server emptied for this test (every key of the hub is under the
    ``{sse_widgets}:`` prefix; FLUSHDB costs 2 ms where a fresh server costs 140)."""
    name = getattr(request, "param", "memory")
    if name == "memory":
        return "memory"
    assert name == "redis", name
    server: RedisServer = request.getfixturevalue("_backend_redis")
    if server.process is None or server.process.poll() is not None:
        server.start()  # a test stopped it: same port, empty
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"FLUSHDB\r\n")
        assert sock.recv(64).startswith(b"+OK")
    return server.url


@pytest.fixture
def jp_server_config(hub_backend: str) -> Config:
    """The extension on, anonymous access off, small limits that the tests can exceed."""
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"sse_widgets": True, "jupyter_server_terminals": False},
                "allow_unauthenticated_access": False,
            },
            "SSEWidgets": {
                "publish_token": PUBLISH_TOKEN,
                "max_body_bytes": 256 * 1024,
                "retry_ms": 50,
                "backend": hub_backend,
            },
        }
    )


@pytest.fixture
def hub_url(jp_serverapp, http_server, http_server_port, jp_base_url) -> str:  # type: ignore[no-untyped-def]
    """Base URL of the extension's endpoints on the test server (ends with ``/``)."""
    port = http_server_port[1]
    return f"http://127.0.0.1:{port}{jp_base_url}sse-widgets/"


@pytest.fixture
def user_token(jp_serverapp) -> str:  # type: ignore[no-untyped-def]
    return str(jp_serverapp.identity_provider.token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HubProcess:
    """A ``sse-widgets serve`` subprocess."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_hub(
    tmp_path: Path,
    *args: str,
    port: int | None = None,
    token: str = "T",
    backend: str = "memory",
) -> HubProcess:
    """Start ``sse-widgets serve`` on a free loopback port and wait until it answers.

    ``backend``: ``"memory"`` or a redis:// URL (the ``hub_backend`` fixture's value)."""
    port = port or free_port()
    if backend != "memory":
        args = ("--backend", backend, *args)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("SSE_WIDGETS_URL", None)
    with open(tmp_path / f"hub-{port}.log", "ab") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sse_widgets.cli",
                "serve",
                "--port",
                str(port),
                "--token",
                token,
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited: {(tmp_path / f'hub-{port}.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return HubProcess(url, token, process, port)
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    raise RuntimeError("hub did not start within 20 s")


@pytest.fixture
def hub_process(tmp_path: Path, hub_backend: str) -> Iterator[HubProcess]:
    """A standalone hub with a fast retry and a roomy history, on the test's backend."""
    hub = start_hub(
        tmp_path,
        "--SSEWidgets.retry_ms=20",
        "--SSEWidgets.history_size=20000",
        backend=hub_backend,
    )
    try:
        yield hub
    finally:
        hub.stop()


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run code in a fresh interpreter (a separate process); return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
    if result.returncode != 0:
        raise AssertionError(f"child failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


async def arun_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """:func:`run_python` that keeps the test's event loop (and an in-process server) running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, **(env or {})),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
    if process.returncode != 0:
        raise AssertionError(f"child failed ({process.returncode}):\n{err.decode()}")
    return out.decode()


def frames_of(raw: bytes) -> list[dict[str, str]]:
    """Split raw SSE bytes (LF line ends, as the hub writes) into field dicts."""
    frames = []
    for block in raw.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data", "retry"):
                fields[name] = value
        if "data" in fields:
            frames.append(fields)
    return frames


def json_error(body: bytes) -> str:
    """The ``error`` message of a JSON error reply."""
    reply = json.loads(body)
    assert set(reply) == {"error", "status"}, reply
    return str(reply["error"])


def rss_bytes(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert match
    return int(match.group(1)) * 1024


@pytest.fixture(autouse=True)
def _restore_hub_environment() -> Iterator[None]:
    """The extension exports SSE_WIDGETS_URL/TOKEN into os.environ; keep tests independent."""
    names = ("SSE_WIDGETS_URL", "SSE_WIDGETS_TOKEN", "SSE_WIDGETS_BROWSER_PATH")
    saved = {k: os.environ.get(k) for k in names}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


async def read_raw_stream(
    port: int, path: str, headers: dict[str, str], *, frames: int, timeout: float = 20
) -> list[dict[str, str]]:
    """A raw HTTP/1.0 reader (no client library): read until ``frames`` data frames arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())
    raw = b""
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                raw += chunk
                status_and_body = raw.split(b"\r\n\r\n", 1)
                if len(status_and_body) == 2 and len(frames_of(status_and_body[1])) >= frames:
                    break
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    assert b" 200 " in status_line, raw[:500]
    headers_raw, _, body = rest.partition(b"\r\n\r\n")
    assert b"text/event-stream" in headers_raw.lower()
    return frames_of(body)


class CuttingProxy:
    """A loopback TCP proxy that can cut its connections at chosen byte offsets.

    ``cut_points`` are offsets in the server-to-client byte stream (counted across all
    connections): the proxy forwards exactly up to each point, mid-frame if that is where it
    falls, then aborts that connection in both directions, as a network fault would.
    """

    def __init__(self, target_port: int, cut_points: list[int] | None = None) -> None:
        self.target_port = target_port
        self.cut_points = sorted(cut_points or [])
        self.forwarded = 0
        self.cuts = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()

    def cut_all(self) -> None:
        """Abort every open connection now."""
        for writer in list(self._writers):
            writer.transport.abort()
        self.cuts += 1

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        pair = {client_w, server_w}
        self._writers |= pair

        async def pipe(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, down: bool
        ) -> None:
            try:
                while chunk := await reader.read(65536):
                    if down and self.cut_points:
                        room = self.cut_points[0] - self.forwarded
                        if room <= len(chunk):
                            self.cut_points.pop(0)
                            writer.write(chunk[: max(room, 0)])
                            self.forwarded += max(room, 0)
                            await writer.drain()
                            self.cuts += 1
                            for w in pair:
                                w.transport.abort()
                            return
                    if down:
                        self.forwarded += len(chunk)
                    writer.write(chunk)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in pair:
                    w.transport.abort()
                self._writers -= pair

        await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True))


def channel_info(hub: HubProcess, channel: str) -> dict:
    """The hub's listing entry of a channel."""
    import urllib.request

    request = urllib.request.Request(
        hub.url + "api/channels", headers={"Authorization": f"Bearer {hub.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        channels = {c["name"]: c for c in json.load(reply)["channels"]}
    return dict(channels[channel])


def channel_events(hub: HubProcess, channel: str, name: str) -> list:
    """The data of every ``name`` event of a channel, in order: an exact replay from the start
    of the hub's history up to the channel's newest event."""
    from sse_widgets.client import EventStream

    epoch, _, last = channel_info(hub, channel)["last_id"].rpartition("-")
    stream = EventStream(hub.url, channels=[channel], token=hub.token, last_event_id=f"{epoch}-0")
    events = []
    for event in stream:
        if event.event == name:
            events.append(event.json()["data"])
        if int(event.id.rsplit("-", 1)[1]) >= int(last):
            break
    stream.close()
    return events
