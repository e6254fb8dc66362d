"""The README's first command, run the way a user runs it: ``.venv/bin/sse-widgets demo``
from the repository root (what ``make demo`` runs once set up), on a free port so that it
cannot collide with another server.

It must print a JupyterLab URL with its token that answers and opens the quickstart notebook
in a browser, publish the sample events live into that server's hub (channel ``demo``, found
by ``sse-widgets tail`` with no flags), and stop cleanly, with its server, on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

from conftest import REPO, free_port
from jupyter_app import _alive, chromium, new_page, wait_lab_idle, wait_widgets, widget_state
from test_dashboard import SSE_WIDGETS, Command, get_json

# Insert a cell below the active one with this code, and run it (not awaited in the page).
ADD_AND_RUN_CELL = """(code) => {
  const app = window.jupyterapp;
  app.commands.execute('notebook:insert-cell-below').then(() => {
    app.shell.currentWidget.content.activeCell.model.sharedModel.setSource(code);
    app.commands.execute('notebook:run-cell');
  });
}"""

DEMO_BAR_CELL = 'import sse_widgets\nsse_widgets.ProgressBar(channel="demo")'


def run_cli(command: Command, *args: str) -> subprocess.CompletedProcess[str]:
    """``sse-widgets ARGS`` with no hub flags, next to ``command`` (same runtime directory)."""
    return subprocess.run(
        [SSE_WIDGETS, *args], capture_output=True, text=True, timeout=30, env=command.env
    )


def test_make_demo_command_serves_lab_with_live_demo_events(tmp_path):
    port = free_port()
    quickstart = REPO / "notebooks" / "quickstart.ipynb"
    original = quickstart.read_bytes()
    # The test adds a cell to the repository's notebook in the page: Lab must never save it.
    settings = tmp_path / "jupyter/config/lab/user-settings/@jupyterlab/docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    # As `make demo` runs it, plus --port: no display here, so no browser is opened.
    command = Command(
        # Plus a Jupyter option, passed through: the test drives Lab's commands from the page.
        [SSE_WIDGETS, "demo", "--port", str(port), "--LabApp.expose_app_in_browser=True"],
        tmp_path / "jupyter",
        cwd=REPO,
    )
    try:
        url = command.wait_for(r"^Open (\S+) ").group(1)
        root = f"http://127.0.0.1:{port}/"
        assert url.startswith(f"{root}lab/tree/quickstart.ipynb?token="), url
        token = url.split("?token=", 1)[1]
        assert command.wait_for(r"to channel 'demo'")
        server_pids = command.children()

        with urllib.request.urlopen(url, timeout=30) as page:  # the token in the URL logs in
            assert page.status == 200
            assert "JupyterLab" in page.read().decode()
        notebook = get_json(f"{root}api/contents/quickstart.ipynb?content=0", token)
        assert (notebook["type"], notebook["path"]) == ("notebook", "quickstart.ipynb")

        # The demo's events arrive live in the Lab server's hub; `tail` finds the demo by its
        # runtime file, as the demo's output says.
        tail = run_cli(command, "tail", "demo", "--count", "12", "--json")
        assert tail.returncode == 0, tail.stderr
        events = [json.loads(line) for line in tail.stdout.splitlines()]
        assert {"progress", "text", "point"} <= {e["event"] for e in events}
        values = [e["data"]["data"]["value"] for e in events if e["event"] == "progress"]
        assert len(set(values)) >= 2, f"the demo bar does not move: {values}"
        # `publish` finds it too (with the publish token; `tail` reads with Jupyter's).
        published = run_cli(command, "publish", "found", "log", '{"message": "hi"}')
        assert published.returncode == 0, published.stderr
        found = run_cli(command, "tail", "found", "--from-start", "--count", "1")
        assert found.returncode == 0, found.stderr
        assert found.stdout.split(" ", 3)[1:3] == ["found", "log"], found.stdout

        with chromium(tmp_path) as browser:
            page = new_page(browser)
            page.goto(url)
            # The quickstart's title, rendered from its first (markdown) cell.
            page.wait_for_selector(
                ".jp-Notebook .jp-MarkdownOutput h1:has-text('sse_widgets in one minute')",
                timeout=60_000,
            )
            # A bar of the demo channel, in a cell added to the notebook, moves by itself.
            wait_lab_idle(page)
            page.evaluate(ADD_AND_RUN_CELL, DEMO_BAR_CELL)
            wait_widgets(page, ["progress"], timeout=30)
            seen: set[str] = set()
            deadline = time.monotonic() + 15
            while len(seen) < 3 and time.monotonic() < deadline:
                seen.update(bar["value"] for bar in widget_state(page)["bars"])
                time.sleep(0.1)
            assert len(seen) >= 3, f"the demo bar did not move in the notebook: {seen}"
            assert not page.errors, page.errors

        everything = command.children()
        code, took = command.interrupt()
        assert code == 0, command.output
        assert took < 10, f"took {took:.1f} s to stop"
        time.sleep(0.2)
        assert server_pids and not [pid for pid in everything if _alive(pid)]
        assert quickstart.read_bytes() == original
    except BaseException:
        print(command.output)
        raise
    finally:
        command.stop()


def test_without_a_checkout_the_demo_opens_a_notebook_showing_its_channel(tmp_path, monkeypatch):
    """A pip-installed package has no notebooks/: the demo writes a one-cell notebook."""
    import nbformat

    from sse_widgets import demo

    monkeypatch.setattr(demo, "__file__", str(tmp_path / "site-packages/sse_widgets/x.py"))
    monkeypatch.chdir(tmp_path)
    path = demo.find_demo_notebook(tmp_path)
    assert path.parent == tmp_path
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert 'sse_widgets.show("demo")' in notebook.cells[0].source


def test_make_demo_runs_the_command_tested_above():
    """`make demo` (the README's first command) ends by running exactly what the test above
    starts: set-up, the JS build, then `.venv/bin/sse-widgets demo`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    planned = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env,  # as from a shell, not from inside `make test`
    ).stdout.strip().splitlines()
    program, *args = planned[-1].split()
    assert args == ["demo"], planned
    assert str(REPO / program) == SSE_WIDGETS, (program, SSE_WIDGETS)
