"""Binder: what ``binder/`` builds works, checked without a Docker engine.

- repo2docker (installed from pip) reads ``binder/`` and prints the Dockerfile it would build:
  it installs ``binder/requirements.txt``, runs ``binder/postBuild``, and starts from its base
  environment for ``binder/runtime.txt``'s Python, whose conda-forge Node.js (>= 20) is what
  postBuild's JS build uses on Binder.
- A fresh virtual environment made from ``binder/requirements.txt`` and ``binder/postBuild``
  alone, in a clean copy of the repository, serves JupyterLab (under a JupyterHub-like base
  URL, as on Binder) where the quickstart notebook, opened at the badge's ``urlpath``, runs
  and its widgets stream live in Chromium.

Here the JS build uses the machine's Node.js (scripts/setup.sh installs Debian's); pip's and
npm's caches are used as they are. Nothing is skipped: under ``CI=true`` a missing tool fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import require_chromium
from conftest import REPO, free_port
from jupyter_app import (
    JupyterApp,
    chromium,
    new_page,
    run_all_cells,
    wait_lab_idle,
    wait_widgets,
    widget_state,
)

# Building the venv (about a minute with warm pip and npm caches) counts against the first test
# that uses it; a cold cache takes longer.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

QUICKSTART = "notebooks/quickstart.ipynb"
# What the README's badge opens (mybinder.org serves the server under /user/<name>/).
BADGE_URLPATH = f"lab/tree/{QUICKSTART}"
BASE_URL = "/user/binder-test/"
TOKEN = "binder-test-token"
# Variables of this test process that must not reach the fresh environment's processes.
_FOREIGN_ENV = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PIP_REQUIRE_VIRTUALENV",
    "SSE_WIDGETS_URL",
    "SSE_WIDGETS_TOKEN",
    "SSE_WIDGETS_BROWSER_PATH",
    "JUPYTER_TOKEN",
    "JUPYTER_PATH",
    "JUPYTER_CONFIG_PATH",
)


@pytest.fixture(scope="module")
def clean_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as Git would hand it to Binder: its files that are not ignored (no
    .venv, node_modules or built modules), copied with their modes from the working tree."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    target = tmp_path_factory.mktemp("binder") / "repo"
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted in the working tree stays out
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _run(command: list[str], *, timeout: float, **options: Any) -> str:
    """Run a command; its combined output, or a failure that shows it."""
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **options,
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}"
    return result.stdout


# -- repo2docker reads binder/ ------------------------------------------------------------------


def test_repo2docker_builds_from_binder_files(clean_repo: Path, tmp_path: Path) -> None:
    repo2docker = Path(sys.executable).with_name("repo2docker")
    result = subprocess.run(
        [
            str(repo2docker),
            "--no-build",
            "--no-run",
            "--debug",
            "--user-id=1000",  # as on mybinder.org, not this machine's root
            "--user-name=jovyan",
            str(clean_repo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # repo2docker also looks for its own config in the working directory
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = result.stdout

    # requirements.txt first (a cached layer), then the whole repository, then postBuild.
    lines = [line.strip() for line in dockerfile.splitlines()]
    requirements = lines.index(
        'RUN ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt"'
    )
    copy_repo = lines.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/")
    post_build = lines.index("RUN ./binder/postBuild")
    assert requirements < copy_repo < post_build
    assert "COPY --chown=1000:1000 src/binder/requirements.txt" in dockerfile
    # With binder/, repo2docker ignores the root's pyproject.toml: postBuild installs the package.
    assert "pip install --no-cache-dir .\n" not in dockerfile

    # The base environment for runtime.txt's Python, and the Node.js it brings for postBuild.
    python = (clean_repo / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"Building conda environment for python={python}" in result.stderr
    lock_name = f"environment.py-{python}-linux-64.lock"
    escaped = "".join(c if c.isalnum() else f"-{ord(c):02x}" for c in lock_name)
    assert escaped in dockerfile.lower(), f"{lock_name} is not the base environment"
    spec = importlib.util.find_spec("repo2docker")  # found, not imported (it warns)
    assert spec and spec.origin
    lock = Path(spec.origin).parent / "buildpacks" / "conda" / lock_name
    node = re.search(r"/nodejs-(\d+)\.(\d+)\.(\d+)-", lock.read_text())
    assert node, "repo2docker's base environment has no Node.js any more: see binder/postBuild"
    assert int(node.group(1)) >= 20, f"Node.js {node.group(0)} is older than js/ needs"


# -- a fresh environment from binder/ alone ------------------------------------------------------


def _fresh_env(venv: Path, home: Path) -> dict[str, str]:
    """Environment of the fresh venv's processes: its bin/ first on PATH (as repo2docker puts
    its environment's), nothing of this test's venv, Jupyter directories of its own."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    ours = str(REPO / ".venv")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(ours)]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    for name in ("config", "data", "runtime", "ipython"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def binder_venv(clean_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``python -m venv``, ``pip install -r binder/requirements.txt``, ``binder/postBuild``."""
    if shutil.which("npm") is None:
        message = "npm is missing (binder/postBuild builds js/): run scripts/setup.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("binder-venv")
    venv = base / "venv"
    env = _fresh_env(venv, base / "jupyter")
    python = getattr(sys, "_base_executable", sys.executable)
    _run([python, "-m", "venv", str(venv)], timeout=120, env=env)
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-r", "binder/requirements.txt"],
        timeout=600,
        env=env,
        cwd=clean_repo,
    )
    _run([str(clean_repo / "binder" / "postBuild")], timeout=600, env=env, cwd=clean_repo)
    yield venv


def test_postbuild_installs_the_package_and_enables_the_extension(
    clean_repo: Path, binder_venv: Path, tmp_path: Path
) -> None:
    env = _fresh_env(binder_venv, tmp_path / "jupyter")
    site = _run(
        [
            str(binder_venv / "bin" / "python"),
            "-c",
            "import sse_widgets; print(sse_widgets.__file__)",
        ],
        timeout=60,
        env=env,
        cwd=tmp_path,  # not the checkout: the installed package
    )
    static = Path(site.strip()).parent / "static"
    assert (static / "progress.js").is_file() and (static / "connection.js").is_file()
    assert Path(site.strip()).is_relative_to(binder_venv)
    # Enabled by the wheel's jupyter_server_config.d/ entry, not by postBuild.
    jupyter = str(binder_venv / "bin" / "jupyter")
    listing = _run([jupyter, "server", "extension", "list"], timeout=60, env=env)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listing)
    assert re.search(r"sse_widgets\s+enabled", plain), plain
    assert "sse_widgets 0" in plain and "OK" in plain
    assert not (clean_repo / "js" / "node_modules").exists()
    # The extras the notebooks use (long-cell-progress shows the tqdm drop-in).
    _run([str(binder_venv / "bin" / "python"), "-c", "import tqdm"], timeout=60, env=env)


def test_every_notebook_runs_in_fresh_binder_env(
    clean_repo: Path, binder_venv: Path, tmp_path: Path
) -> None:
    """Binder's file browser offers all of notebooks/: each runs to the end in that environment
    (its kernel's own embedded hub here, as nbconvert starts no server)."""
    env = _fresh_env(binder_venv, tmp_path / "jupyter")
    notebooks = sorted(str(p.relative_to(clean_repo)) for p in clean_repo.glob("notebooks/*.ipynb"))
    assert QUICKSTART in notebooks
    _run(
        [
            str(binder_venv / "bin" / "jupyter"),
            "nbconvert",
            "--to=notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=120",
            f"--output-dir={tmp_path / 'executed'}",
            *notebooks,
        ],
        timeout=400,
        env=env,
        cwd=clean_repo,
    )
    assert sorted(p.name for p in (tmp_path / "executed").iterdir()) == [
        Path(n).name for n in notebooks
    ]


@contextlib.contextmanager
def _binder_lab(venv: Path, repo: Path, tmp_path: Path) -> Iterator[JupyterApp]:
    """``jupyter lab`` of the fresh venv, rooted at the checkout as on Binder."""
    home = tmp_path / "jupyter"
    env = _fresh_env(venv, home)
    # Test-only: every cell stays in the DOM (no virtual scrolling), so all widgets are readable.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    log_path = tmp_path / f"binder-lab-{port}.log"
    command = [
        str(venv / "bin" / "jupyter"),
        "lab",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={BASE_URL}",
        f"--ServerApp.root_dir={repo}",
        "--ServerApp.allow_unauthenticated_access=False",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",  # run_all_cells() drives Lab's commands
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=repo,
            start_new_session=True,
        )
    server = JupyterApp(
        url=f"http://127.0.0.1:{port}{BASE_URL}",
        root=repo,
        process=process,
        log_path=log_path,
        token=TOKEN,
    )
    try:
        deadline = time.monotonic() + 60
        while _status_of(server, "api/status") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the fresh venv's jupyter lab did not start")
            time.sleep(0.2)
        yield server
    except BaseException:
        print(f"--- server log ({log_path}) ---\n{server.log_text()[-20000:]}")
        raise
    finally:
        server.stop()


def _status_of(server: JupyterApp, path: str) -> int:
    with contextlib.suppress(OSError):
        return server.status_of(path)
    return 0


def _kernel_pythons(server: JupyterApp) -> list[str]:
    import psutil

    pythons = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmdline = child.cmdline()
            if any("ipykernel" in part for part in cmdline):
                pythons.append(cmdline[0])
    return pythons


def test_quickstart_widgets_render_live_in_fresh_binder_env(
    clean_repo: Path, binder_venv: Path, tmp_path: Path
) -> None:
    require_chromium()
    assert (clean_repo / QUICKSTART).is_file(), f"the badge opens {QUICKSTART}"
    with _binder_lab(binder_venv, clean_repo, tmp_path) as server, chromium(tmp_path) as browser:
        page = new_page(browser)
        # The address the badge opens (with the token a Binder launch carries in its cookie).
        page.goto(f"{server.url}{BADGE_URLPATH}?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        wait_lab_idle(page)
        # The kernel is the fresh venv's Python, not this test's.
        assert [Path(p).parent for p in _kernel_pythons(server)] == [binder_venv / "bin"]
        assert not page.query_selector(".jp-Dialog"), "a dialog covers the notebook"

        run_all_cells(page)
        wait_widgets(page, ["progress"])
        # Watch the bar move while the loop runs: several values between start and end.
        seen: list[tuple[str, ...]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = widget_state(page)
            seen.append(tuple(f"{b['value']}/{b['total']}:{b['state']}" for b in state["bars"]))
            settled = state["bars"] and all(b["state"] != "running" for b in state["bars"])
            if settled and set(server.kernel_states()) == {"idle"}:
                break
            time.sleep(0.1)
        server.wait_kernels_idle()
        moving = {s for s in seen if s and any(":running" in bar for bar in s)}
        assert len(moving) >= 3, f"the bar did not move while the loop ran: {seen}"

        state = widget_state(page)
        assert state["bars"] and all(
            b["state"] == "done" and b["value"] == b["total"] for b in state["bars"]
        ), state["bars"]
        # Every widget reads the extension's stream itself (through the base URL), live.
        roots = page.evaluate(
            "() => [...document.querySelectorAll('.ssew-root[data-transport]')]"
            ".map(e => [e.dataset.widget, e.dataset.transport, [e, ...e.querySelectorAll("
            "'.ssew-root')].map(r => r.dataset.status).filter(Boolean)])"
        )  # a channel view (activity) has the status on its sections
        kinds = {kind for kind, _, _ in roots}
        assert {"progress", "activity"} <= kinds, roots
        assert all(t == "direct" and s and set(s) == {"live"} for _, t, s in roots), roots
        if "chart" in kinds:
            assert state["chart_points"] and state["chart_points"] > 0, state
        if "log" in kinds:
            assert state["log_count"] and state["log_count"] > 0, state
        wait_widgets(page, ["activity"])
        # show() was created after the loop: it starts from the channel's history.
        activity = page.text_content(".ssew-root[data-widget='activity'][data-transport]") or ""
        assert activity.strip(), "the channel view is empty"
        assert not page.errors, page.errors
