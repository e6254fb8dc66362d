"""A real ``jupyter lab`` / ``jupyter server`` (with Voilà) subprocess for the browser
end-to-end tests, and the few page helpers those tests share.

Each server runs on a free loopback port with its own config, data, runtime and IPython
directories (so no user settings leak in), a fixed Jupyter token, a fixed publish token and
anonymous access off. It is started in its own session (``setsid``) and stopped by PID: the
server and the kernels it started, never anything else.

This module starts and drives; it asserts nothing about sse_widgets (the tests do).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browser import CHROMIUM, FLAGS, require_chromium
from conftest import free_port

USER_TOKEN = "e2e-user-token"
PUBLISH_TOKEN = "e2e-publish-token"
JUPYTER = str(Path(sys.executable).with_name("jupyter"))

# Lab's "news" announcement popup would cover the notebook in screenshots and steal clicks.
_DISABLED_LAB_PLUGINS = {"@jupyterlab/apputils-extension:announcements": True}


@dataclass
class JupyterApp:
    """A running Jupyter server started by :func:`start_jupyter`."""

    url: str  # server root including base_url, ends with "/"
    root: Path  # the notebook directory
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str = USER_TOKEN
    publish_token: str = PUBLISH_TOKEN
    _producers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- addresses ----------------------------------------------------------------------------

    @property
    def hub_url(self) -> str:
        """The extension's endpoints (what ``SSE_WIDGETS_URL`` says to kernels)."""
        return self.url + "sse-widgets/"

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}lab/tree/{notebook}?token={self.token}&reset"

    def voila_url(self, notebook: str) -> str:
        return f"{self.url}voila/render/{notebook}"

    def producer_env(self) -> dict[str, str]:
        """Environment for a separate producer process publishing to this server's hub."""
        return {"SSE_WIDGETS_URL": self.hub_url, "SSE_WIDGETS_TOKEN": self.publish_token}

    # -- REST ---------------------------------------------------------------------------------

    def get_json(self, path: str, timeout: float = 10) -> Any:
        """``GET {url}{path}`` with the user's token; the decoded JSON reply."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.load(reply)

    def status_of(self, path: str) -> int:
        """HTTP status of ``GET {url}{path}`` with the user's token."""
        try:
            request = urllib.request.Request(
                self.url + path, headers={"Authorization": f"token {self.token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def channels(self) -> dict[str, dict[str, Any]]:
        """The hub's channel listing, by name (``GET sse-widgets/api/channels``)."""
        return {c["name"]: c for c in self.get_json("sse-widgets/api/channels")["channels"]}

    def subscribers(self, channel: str) -> int:
        """Streams the hub serves for ``channel`` now (0 if it has none or does not exist)."""
        return int(self.channels().get(channel, {}).get("subscribers", 0))

    def wait_subscribers(self, channel: str, count: int, timeout: float = 30) -> None:
        """Wait until the hub serves exactly ``count`` streams for ``channel``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.subscribers(channel) == count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{channel!r} never had {count} subscriber(s): {self.channels()}")

    def kernel_states(self) -> list[str]:
        """``execution_state`` of every kernel the server runs."""
        return [k["execution_state"] for k in self.get_json("api/kernels")]

    def wait_kernels_idle(self, timeout: float = 30) -> float:
        """Wait until every kernel is idle; return the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            states = self.kernel_states()
            if states and all(s == "idle" for s in states):
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"kernels not idle after {timeout} s: {self.kernel_states()}")

    # -- notebooks and producers ----------------------------------------------------------------

    def write_notebook(self, name: str, cells: Sequence[str]) -> str:
        """Write a notebook of code cells (no outputs) into the root; return its name."""
        import nbformat

        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(source) for source in cells],
            metadata={
                "kernelspec": {
                    "name": "python3",
                    "display_name": "Python 3 (ipykernel)",
                    "language": "python",
                }
            },
        )
        nbformat.write(notebook, self.root / name)
        return name

    def start_producer(self, code: str) -> subprocess.Popen[bytes]:
        """Run ``code`` in a separate Python process that publishes to this server's hub."""
        env = dict(os.environ, **self.producer_env())
        log = open(self.log_path.with_name(f"producer-{len(self._producers)}.log"), "wb")  # noqa: SIM115
        with log:
            process = subprocess.Popen(
                [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self._producers.append(process)
        return process

    def wait_producer(self, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        """Wait for a producer to end; fail with its output if it failed."""
        code = process.wait(timeout)
        if code != 0:
            index = self._producers.index(process)
            output = self.log_path.with_name(f"producer-{index}.log").read_text()
            raise AssertionError(f"producer failed ({code}):\n{output}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- shutdown -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the producers, the kernels and the server this object started (by PID)."""
        for producer in self._producers:
            _end(producer.pid, lambda p=producer: p.poll() is not None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                producer.wait(5)
        children = _descendants(self.process.pid)
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                request = urllib.request.Request(
                    self.url + "api/shutdown",
                    method="POST",
                    data=b"",
                    headers={"Authorization": f"token {self.token}"},
                )
                urllib.request.urlopen(request, timeout=5).close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                _end(self.process.pid, lambda: self.process.poll() is not None)
                self.process.wait(10)
        for pid in children:
            _end(pid, lambda pid=pid: not _alive(pid))


def start_jupyter(
    tmp_path: Path,
    *,
    app: str = "lab",
    extensions: dict[str, bool] | None = None,
    args: Sequence[str] = (),
    base_url: str = "/",
    timeout: float = 60,
) -> JupyterApp:
    """Start ``jupyter <app>`` (``lab`` or ``server``) and wait until it answers.

    ``extensions`` is merged into ``ServerApp.jpserver_extensions``; the sse_widgets
    extension is on unless it says ``{"sse_widgets": False}``.
    """
    home = tmp_path / "jupyter"
    root = tmp_path / "notebooks"
    for name in ("config", "data", "runtime", "ipython"):
        (home / name).mkdir(parents=True, exist_ok=True)
    root.mkdir(exist_ok=True)
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": _DISABLED_LAB_PLUGINS})
    )
    # Every cell stays in the DOM (no virtual scrolling), so off-screen widgets are readable.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    enabled = {"sse_widgets": True, "jupyter_server_terminals": False, **(extensions or {})}
    # The user config file wins over the packages' jupyter_server_config.d/ entries and
    # leaves the other extensions they enable (jupyterlab, voila ...) as they are.
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": enabled}})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    for name in (
        "SSE_WIDGETS_URL",
        "SSE_WIDGETS_TOKEN",
        "SSE_WIDGETS_BROWSER_PATH",
        "JUPYTER_TOKEN",
    ):
        env.pop(name, None)
    port = free_port()
    command = [
        JUPYTER,
        app,
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_unauthenticated_access=False",
        f"--IdentityProvider.token={USER_TOKEN}",
        f"--SSEWidgets.publish_token={PUBLISH_TOKEN}",
        "--SSEWidgets.history_size=20000",
    ]
    if app == "lab":
        command += [
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
        ]
    command += list(args)
    log_path = tmp_path / f"jupyter-{port}.log"
    with open(log_path, "wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    server = JupyterApp(
        url=f"http://127.0.0.1:{port}{base_url}", root=root, process=process, log_path=log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter {app} exited:\n{server.log_text()}")
        with contextlib.suppress(OSError):
            if server.status_of("api/status") == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"jupyter {app} did not answer within {timeout} s:\n{server.log_text()}")


@contextmanager
def running_jupyter(tmp_path: Path, **options: Any) -> Iterator[JupyterApp]:
    """:func:`start_jupyter` as a context manager; on failure the server log is printed."""
    server = start_jupyter(tmp_path, **options)
    try:
        yield server
    except BaseException:
        print(f"--- server log ({server.log_path}) ---\n{server.log_text()[-20000:]}")
        for index in range(len(server._producers)):
            path = server.log_path.with_name(f"producer-{index}.log")
            if path.exists():
                print(f"--- producer {index} ---\n{path.read_text()[-5000:]}")
        raise
    finally:
        server.stop()


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        # A zombie is dead for our purpose (its parent, not us, reaps it).
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3]
    return False


def _end(pid: int, ended: Any) -> None:
    """SIGTERM, then SIGKILL after 5 s, one process by its PID."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if ended():
            return
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not ended():
            time.sleep(0.05)


# -- browser --------------------------------------------------------------------------------


@contextmanager
def chromium(artifacts: Path | None = None) -> Iterator[Any]:
    """A headless Chromium browser (its own process, closed afterwards).

    If the block fails, every page made by :func:`new_page` is described on stdout (errors,
    console, widget roots, cell outputs) and, with ``artifacts``, screenshotted there.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        browser.test_pages = []
        try:
            yield browser
        except BaseException:
            for index, page in enumerate(browser.test_pages):
                _describe(page, index, artifacts)
            raise
        finally:
            browser.close()


def new_page(browser: Any, width: int = 1280, height: int = 1000) -> Any:
    """A page in a fresh context (own cookies); page errors are collected in ``page.errors``,
    console messages in ``page.console``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.errors = []
    page.console = []
    page.on("pageerror", lambda error: page.errors.append(f"{error}\n{error.stack or ''}"))
    page.on("console", lambda message: page.console.append(f"{message.type}: {message.text}"))
    if hasattr(browser, "test_pages"):
        browser.test_pages.append(page)
    return page


_DESCRIBE_JS = """() => ({
  roots: [...document.querySelectorAll('.ssew-root')].map((e) =>
    JSON.stringify({ ...e.dataset }) + ' ' + e.textContent.slice(0, 300)),
  outputs: [...document.querySelectorAll('.jp-OutputArea-output, .jp-RenderedText')]
    .map((e) => e.textContent.slice(-3000)),
})"""


def _describe(page: Any, index: int, artifacts: Path | None) -> None:
    print(f"--- page {index}: {page.url}")
    print("errors:", page.errors)
    print("console:", "\n  ".join(page.console[-60:]))
    with contextlib.suppress(Exception):
        found = page.evaluate(_DESCRIBE_JS)
        print("widget roots:", "\n  ".join(found["roots"]))
        print("outputs:", "\n  ".join(found["outputs"]))
    if artifacts is not None:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(artifacts / f"failure-page-{index}.png"), full_page=True)
            print(f"screenshot: {artifacts / f'failure-page-{index}.png'}")


def open_notebook(page: Any, server: JupyterApp, notebook: str, timeout: float = 60) -> None:
    """Open a notebook in JupyterLab and wait until its kernel is idle."""
    page.goto(server.lab_url(notebook))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    wait_lab_idle(page, timeout)


def wait_lab_idle(page: Any, timeout: float = 60) -> None:
    """Wait until Lab's status bar says the kernel is idle."""
    page.wait_for_function(
        "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')",
        timeout=timeout * 1000,
    )


def run_all_cells(page: Any) -> None:
    """Run every cell of the current notebook (does not wait for them)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def login(page: Any, server: JupyterApp) -> None:
    """Log the page's context in with the token once, so later pages rely on the cookie."""
    page.goto(f"{server.url}api/status?token={server.token}")
    cookies = page.context.cookies()
    assert any(c["name"].startswith("username-") for c in cookies), cookies


def execute_in_kernel(page: Any, code: str) -> None:
    """Run ``code`` in the current notebook's kernel without a cell (does not wait)."""
    page.evaluate(
        "(code) => { window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        ".requestExecute({ code, silent: false, store_history: false }); }",
        code,
    )


def save_notebook(page: Any, server: JupyterApp, notebook: str, timeout: float = 30) -> None:
    """Save the current notebook and wait until the file on disk has widget outputs."""
    page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:save'); }")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if "application/vnd.jupyter.widget-view+json" in (server.root / notebook).read_text():
                return
        time.sleep(0.1)
    raise AssertionError(f"{notebook} was not saved with its widget outputs within {timeout} s")


# -- sse_widgets on the page ----------------------------------------------------------------


def wait_widgets(page: Any, kinds: Sequence[str], timeout: float = 60) -> None:
    """Wait until a connected widget root (``data-transport`` set) of each kind is shown."""
    for kind in kinds:
        page.wait_for_selector(
            f".ssew-root[data-widget='{kind}'][data-transport]",
            state="attached",  # a ChannelView stays empty (hidden) until events come
            timeout=timeout * 1000,
        )


def transports(page: Any) -> dict[str, str]:
    """``data-widget`` -> ``data-transport`` of every widget root on the page."""
    return dict(
        page.evaluate(
            "() => [...document.querySelectorAll('.ssew-root')]"
            ".map(e => [e.dataset.widget, e.dataset.transport || ''])"
        )
    )


# What the tests read off the page: one round trip for every widget's state.
_WIDGET_STATE_JS = """() => {
  // The first top-level widget of a kind (a ChannelView's sections have no data-transport).
  const root = (kind) =>
    document.querySelector(`.ssew-root[data-widget='${kind}'][data-transport]`);
  const all = (kind, selector) => [...(root(kind)?.querySelectorAll(selector) ?? [])];
  const bars = all('progress', '.ssew-bar').map((b) => ({
    id: b.dataset.bar, state: b.dataset.state, value: b.dataset.value, total: b.dataset.total,
    depth: Number(b.dataset.depth || 0),
    count: b.querySelector('.ssew-bar-count')?.textContent ?? null, text: b.textContent }));
  const lines = all('log', '.ssew-log-line').map((l) => ({
    level: l.dataset.level, message: l.querySelector('.ssew-log-msg')?.textContent ?? null }));
  const texts = Object.fromEntries(all('text', '.ssew-text-stream').map((s) => [
    s.dataset.stream,
    { chars: Number(s.dataset.chars), body: s.querySelector('.ssew-text-body')?.textContent },
  ]));
  const number = (kind, key) => (root(kind) ? Number(root(kind).dataset[key]) : null);
  return {
    bars, lines, texts,
    log_count: number('log', 'count'),
    chart_points: number('chart', 'points'),
    chart_frames: number('chart', 'frames'),
  };
}"""


def widget_state(page: Any) -> dict[str, Any]:
    """Bars, log lines, text streams and chart counters as the page shows them now."""
    return dict(page.evaluate(_WIDGET_STATE_JS))


def scroll_log_to_top(page: Any, timeout: float = 10) -> None:
    """Scroll the (first top-level) LogView up to its first line, as a reader would.

    While it follows the tail a LogView keeps only the newest lines in the DOM; scrolling up
    stops following and puts every kept line in. A view that stopped following earlier
    first follows again, so the lines that came since are drawn too. Needs more lines than
    the view shows (a log that does not scroll has all its lines in the DOM anyway).
    """
    root = ".ssew-root[data-widget=log][data-transport]"
    follow = page.locator(f"{root} .ssew-log-follow")
    if follow.get_attribute("aria-pressed") == "false":
        follow.click()
        page.wait_for_selector(f"{root} .ssew-log-follow[aria-pressed=true]", timeout=5000)
    page.locator(f"{root} .ssew-log-lines").evaluate("(list) => { list.scrollTop = 0; }")
    page.wait_for_selector(
        f"{root} .ssew-log-follow[aria-pressed=false]", state="attached", timeout=timeout * 1000
    )


class StreamRequests:
    """The page's requests to the hub's multiplexed stream, and which of them are still open.

    A streaming response never "finishes" while it is open: a request counts as open from
    ``request`` until ``requestfinished`` / ``requestfailed``.
    """

    def __init__(self, page: Any, path: str = "sse-widgets/api/events") -> None:
        self.path = path
        self.started: list[Any] = []
        self.ended: list[Any] = []
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_end)
        page.on("requestfailed", self._on_end)

    def _on_request(self, request: Any) -> None:
        if self.path in request.url:
            self.started.append(request)

    def _on_end(self, request: Any) -> None:
        if self.path in request.url:
            self.ended.append(request)

    @property
    def open(self) -> list[str]:
        return [r.url for r in self.started if not any(r is e for e in self.ended)]


def cell_prompts(page: Any) -> list[str]:
    """The input prompts of the notebook's cells: ``[*]:`` while queued or running."""
    return list(
        page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell .jp-InputPrompt')]"
            ".map((e) => e.textContent.trim())"
        )
    )
