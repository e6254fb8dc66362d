"""Start a Jupyter app with the sse_widgets extension, print its URL, and supervise it.

The engine of ``sse-widgets dashboard`` (Voilà on ``jupyter server``) and ``sse-widgets demo``
(JupyterLab): :func:`start_jupyter` starts the server as a child process on a known port and
waits until it answers; :func:`run_jupyter` also prints what to open and how to publish into it,
and keeps it running until Ctrl-C, forwarding SIGINT/SIGTERM/SIGHUP to the child as one clean
stop (the server then shuts its kernels down).

This module never imports jupyter_server, JupyterLab or Voilà: the child does. So a missing
package or notebook is reported (:class:`LaunchError`, exit code 2) before anything starts.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    pass

__all__ = [
    "JupyterServer",
    "Launch",
    "LaunchError",
    "run_jupyter",
    "start_jupyter",
]

# The Python module each app runs as (the child is ``python -m <module>``, so its PID is the
# server's own: no ``jupyter`` wrapper in between to forward signals through).
_APPS = {"lab": ("jupyterlab", "JupyterLab"), "voila": ("jupyter_server", "Voilà")}


class LaunchError(Exception):
    """The request cannot work (no such notebook, Voilà not installed, port taken).

    Raised before the server starts; ``exit_code`` is what the command should exit with.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Launch:
    """What to start: ``app`` is ``"lab"`` or ``"voila"`` (Voilà on jupyter_server).

    ``notebook`` may be a directory (Lab's file browser, or Voilà's tree). ``port=0`` picks a
    free port; ``token=None`` generates one (``""`` turns Jupyter's authentication off);
    ``publish_token=None`` generates the token producers publish with. ``open_browser=None``
    opens one unless running as root or without a display. ``jupyter_args`` are passed on
    as they are (``--ServerApp.foo=bar``), after ours, so they win. ``port_is_default``: the
    user did not choose the port, so a taken one is replaced by a free one (not an error).
    """

    app: str
    notebook: Path
    host: str = "127.0.0.1"
    port: int = 8866
    port_is_default: bool = False
    token: str | None = None
    publish_token: str | None = None
    base_url: str = "/"
    allow_origins: Sequence[str] = ()
    open_browser: bool | None = None
    jupyter_args: Sequence[str] = ()
    # Jupyter's INFO banner prints URLs of its own (/tree?token=...): ours are the ones to open.
    log_level: str = "WARN"


@dataclass
class JupyterServer:
    """A Jupyter server started by :func:`start_jupyter` (its child process)."""

    process: subprocess.Popen[bytes]
    url: str  # the server's root, base_url included, ends with "/"
    token: str
    publish_token: str
    page: str  # below ``url``: the page to open (``voila/render/x.ipynb``, ``lab/tree/...``)
    root_dir: Path

    @property
    def open_url(self) -> str:
        """The page's URL; with ``?token=`` Jupyter logs the browser in (sets its cookie)."""
        return self.url + self.page + (f"?token={self.token}" if self.token else "")

    @property
    def hub_url(self) -> str:
        """The extension's endpoints: ``SSE_WIDGETS_URL`` for producers."""
        return self.url + "sse-widgets/"

    def stop(self, timeout: float = 20.0, force: Callable[[], bool] = lambda: False) -> None:
        """SIGTERM the server (it shuts its kernels down), SIGKILL after ``timeout`` or as
        soon as ``force()`` says so (a second Ctrl-C)."""
        _signal(self.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline or force():
                _signal(self.process, signal.SIGKILL)
                self.process.wait()
                return
            time.sleep(0.05)


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def _page_for(app: str, notebook: Path) -> str:
    """The page below the server root that shows ``notebook`` (a file or a directory)."""
    name = "" if notebook.is_dir() else quote(notebook.name)
    if app == "voila":
        return f"voila/render/{name}" if name else "voila/tree"
    return f"lab/tree/{name}" if name else "lab"


def _normalize_base_url(base_url: str) -> str:
    return "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"


def _display_host(host: str) -> str:
    """The host a browser on this machine uses for ``host`` (wildcards mean loopback)."""
    if host in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _check_port(host: str, port: int, is_default: bool) -> int:
    """The port to use: a free one for 0, or for a taken default port (`make demo` next to a
    running Jupyter must still work); a taken port the user chose fails now, clearly.

    The child gets ``port_retries=0``: a printed URL must be the one the server listens on.
    """
    bind_host = "" if host in ("0.0.0.0", "*") else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        try:
            probe.bind((bind_host, port))
        except OSError as exc:
            hint = "pick another with --port (0 picks a free one)"
            if exc.errno == errno.EADDRINUSE and is_default:
                print(f"sse-widgets: port {port} is taken; using a free one", file=sys.stderr)
                return _check_port(host, 0, False)
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(
                    f"cannot listen on port {port}: {exc.strerror}; {hint}", exit_code=1
                ) from None
            raise LaunchError(f"cannot listen on {host}:{port}: {exc}; {hint}", 1) from None
        return int(probe.getsockname()[1])


def _can_open_browser() -> bool:
    """Whether opening a browser can work: not as root, and with a display on Linux/BSD.

    (Without a display, Python's ``webbrowser`` would run a text browser in this terminal.)
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def jupyter_command(launch: Launch, port: int, publish_token: str) -> list[str]:
    """The child's command line (the user's token goes in its environment, not here)."""
    module, _ = _APPS[launch.app]
    root = launch.notebook if launch.notebook.is_dir() else launch.notebook.parent
    extensions = ["sse_widgets"] + (["voila.server_extension"] if launch.app == "voila" else [])
    command = [
        sys.executable,
        "-m",
        module,
        "--ServerApp.open_browser=False",
        f"--ServerApp.ip={launch.host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={_normalize_base_url(launch.base_url)}",
        f"--ServerApp.root_dir={root}",
        # Merged with the extensions the packages enable (jupyter_server_config.d); a Dict
        # trait takes one key=value per flag on the command line.
        *(f"--ServerApp.jpserver_extensions={name}=True" for name in extensions),
        f"--ServerApp.log_level={launch.log_level}",
        f"--SSEWidgets.publish_token={publish_token}",
    ]
    if launch.token == "":
        command.append("--IdentityProvider.token=")  # the environment cannot say "empty"
    # Repeated flags build a List trait on the command line (traitlets >= 5).
    command += [f"--SSEWidgets.allow_origins={origin}" for origin in launch.allow_origins]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    return command + list(launch.jupyter_args)


def _validate(launch: Launch) -> None:
    if launch.app not in _APPS:
        raise LaunchError(f"unknown app {launch.app!r}; use one of {', '.join(_APPS)}")
    if not launch.notebook.exists():
        raise LaunchError(f"no such notebook: {launch.notebook}")
    if launch.notebook.is_file() and launch.notebook.suffix != ".ipynb":
        raise LaunchError(f"not a notebook (.ipynb): {launch.notebook}")
    package = "voila" if launch.app == "voila" else "jupyterlab"
    if importlib.util.find_spec(package) is None:
        raise LaunchError(
            f"{_APPS[launch.app][1]} is not installed in this environment ({sys.executable}); "
            f"install it with: {sys.executable} -m pip install {package}"
        )
    for arg in launch.jupyter_args:
        if not arg.startswith("--"):
            raise LaunchError(
                f"unexpected argument {arg!r}: Jupyter options are --Class.name=value"
            )


def start_jupyter(
    launch: Launch, *, timeout: float = 90.0, stopping: Callable[[], bool] = lambda: False
) -> JupyterServer:
    """Start the server and wait until it answers ``api/status`` with the token.

    Raises :class:`LaunchError` if the request cannot work, or if the server exits, does not
    answer within ``timeout`` or ``stopping()`` becomes true first (then it is stopped).
    """
    _validate(launch)
    launch.notebook = launch.notebook.resolve()
    port = _check_port(launch.host, launch.port, launch.port_is_default)
    token = secrets.token_hex(24) if launch.token is None else launch.token
    publish_token = launch.publish_token or secrets.token_urlsafe(32)
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN_FILE", None)  # it would win over JUPYTER_TOKEN
    if token:
        # Not on the command line, where every local user's `ps` would show it.
        env["JUPYTER_TOKEN"] = token
    else:
        env.pop("JUPYTER_TOKEN", None)
    process = subprocess.Popen(
        jupyter_command(launch, port, publish_token),
        env=env,
        stdin=subprocess.DEVNULL,  # no "Shut down this Jupyter server (y/[n])?" prompt
        # Its own session: a terminal's Ctrl-C reaches this process only, which stops the
        # child once, by SIGTERM (a second signal mid-shutdown would cut kernel cleanup short).
        start_new_session=True,
    )
    server = JupyterServer(
        process=process,
        url=f"http://{_display_host(launch.host)}:{port}{_normalize_base_url(launch.base_url)}",
        token=token,
        publish_token=publish_token,
        page=_page_for(launch.app, launch.notebook),
        root_dir=launch.notebook if launch.notebook.is_dir() else launch.notebook.parent,
    )
    try:
        _wait_ready(server, timeout, stopping)
    except BaseException:
        server.stop(timeout=10)
        raise
    return server


def _wait_ready(server: JupyterServer, timeout: float, stopping: Callable[[], bool]) -> None:
    headers = {"Authorization": f"token {server.token}"} if server.token else {}
    request = urllib.request.Request(server.url + "api/status", headers=headers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopping():
            raise LaunchError("interrupted while the server was starting", exit_code=130)
        code = server.process.poll()
        if code is not None:
            raise LaunchError(
                f"the Jupyter server exited with code {code} before answering; "
                "its messages are above",
                exit_code=1,
            )
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise LaunchError(
                    f"the Jupyter server refused our token (HTTP {exc.code}): is a token or "
                    "password set in your Jupyter config? Pass it with --token",
                    exit_code=1,
                ) from None
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    raise LaunchError(f"the Jupyter server did not answer within {timeout:.0f} s", exit_code=1)


class _StopSignals:
    """Counts SIGINT/SIGTERM/SIGHUP while installed; the old handlers come back afterwards."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
    )

    def __init__(self) -> None:
        self.count = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopSignals]:
        previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def describe(server: JupyterServer, command: str, what: str) -> list[str]:
    """The lines printed once the server answers (what to open, how to publish)."""
    lines = [
        f"sse-widgets {command}: {what} at {server.url} (serving {server.root_dir})",
        f"Open {server.open_url} (the link logs the browser in)",
        f"Publish from other shells: export SSE_WIDGETS_URL={server.hub_url} "
        f"SSE_WIDGETS_TOKEN={server.publish_token}",
        "    then run a producer (python producer.py), or: "
        'sse-widgets publish CHANNEL log \'{"message": "hi"}\'',
    ]
    if not server.token:
        lines.append(
            "WARNING: authentication is off (--token ''): anyone who can reach this port can "
            "run code in its kernels."
        )
    return lines


def run_jupyter(
    launch: Launch,
    *,
    command: str,
    what: str,
    on_ready: Callable[[JupyterServer], Callable[[], None]] | None = None,
    extra_lines: Callable[[JupyterServer], list[str]] | None = None,
    seconds: float = 0,
) -> int:
    """Start the server, print its URLs, keep it running until a stop signal, then stop it.

    ``on_ready(server)`` runs once the server answers and returns a function called before
    the server stops (the demo's producer uses it). ``seconds`` > 0 stops by itself after
    that long. Returns the exit code: 0 after a stop signal, the server's own if it ended by
    itself (e.g. File > Shut Down in JupyterLab).
    """
    from .server.standalone import runtime_file

    stops = _StopSignals()
    with stops.installed():
        server = start_jupyter(launch, stopping=lambda: stops.count > 0)
        cleanup: Callable[[], None] = lambda: None  # noqa: E731
        try:
            lines = describe(server, command, what) + (extra_lines(server) if extra_lines else [])
            print("\n".join([*lines, "Stop with Ctrl-C."]), flush=True)
            if launch.open_browser or (launch.open_browser is None and _can_open_browser()):
                import webbrowser

                # Some browsers' launchers block until the browser quits: not in this thread.
                threading.Thread(
                    target=webbrowser.open, args=(server.open_url,), daemon=True
                ).start()
            if on_ready is not None:
                cleanup = on_ready(server)
            # `sse-widgets publish` and `tail` find this server by themselves, as they find a
            # `serve`: `tail` reads with the Jupyter token, `publish` uses the publish token.
            # The file is 0600, like Jupyter's own jpserver-<pid>.json with its token.
            info = {"url": server.hub_url, "token": server.token, "pid": os.getpid()}
            info["publish_token"] = server.publish_token
            with runtime_file(info):
                deadline = time.monotonic() + seconds if seconds > 0 else None
                while server.process.poll() is None and not stops.count:
                    if deadline is not None and time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
        finally:
            ended_by_itself = server.process.poll()
            if ended_by_itself is None:
                print(f"sse-widgets {command}: stopping the server and its kernels", flush=True)
            try:
                cleanup()
            finally:
                first = stops.count  # one more signal from here on: stop without waiting
                server.stop(force=lambda: stops.count > first)
    return ended_by_itself if ended_by_itself is not None else 0
