"""A real ``redis-server`` for tests: free loopback port, tmp dir, stopped by its PID.

Import the fixtures into a test module
(``from redis_server import redis_server_fixture, redis_url_fixture``) or use
:class:`RedisServer` directly. Without persistence by default; ``appendonly=True`` keeps the
data across :meth:`RedisServer.restart` (AOF, fsync always, so nothing accepted is lost).
A missing ``redis-server`` skips the tests, except under ``CI=true``, where it fails them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = [
    "RedisServer",
    "redis_server_fixture",
    "redis_url_fixture",
    "require_redis_server",
]

_READY_TIMEOUT = 10.0


def require_redis_server() -> str:
    """The path of ``redis-server``; skip (fail under CI=true) when it is not installed."""
    path = shutil.which("redis-server")
    if path is None:
        message = "redis-server is not installed: apt-get install -y redis-server"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on 127.0.0.1, data in ``directory``."""

    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        self.executable = require_redis_server()
        self.directory = directory
        self.appendonly = appendonly
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (same port as before) and wait until it answers PING."""
        args = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--dir", str(self.directory), "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} not ready in {_READY_TIMEOUT} s")

    def stop(self) -> None:
        """End the server by its PID (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)

    def restart(self) -> None:
        """Stop and start again on the same port (data kept only with ``appendonly``)."""
        self.stop()
        self.start()


# Registered under their short names; the functions have others so that a test module can
# import them without its test parameters shadowing the import.
@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server without persistence, stopped after the test."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="redis_url")
def redis_url_fixture(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:<port>/0`` of a fresh redis-server for this test."""
    return redis_server.url
