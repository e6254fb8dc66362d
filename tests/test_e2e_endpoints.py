"""Endpoints in Chromium: a Voilà dashboard (jupyter_server, base URL ``/a@b/``) whose notebook
defines an endpoint and puts ``EndpointForm`` in front of it. Each viewer runs its own calls
and sees only their own progress, log and result; a third call beyond the limit gets 429;
Cancel and a closed page cancel the function (it sees ``Cancelled`` within a second); an
exception shows as an error; a reloaded page resumes its running call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jupyter_app import chromium, login, new_page, running_jupyter

# The dashboard's worker: a separate long-lived process (a Voilà viewer's kernel ends when
# its page is closed or reloaded, so shared endpoints that must outlive a page live here).
WORKER = """
import os, time, sse_widgets
MARKS = {marks!r}

@sse_widgets.endpoint("job", max_concurrency=3)
def job(steps: int = 20, fail: bool = False, progress=None, log=None):
    "A job of a few steps."
    try:
        for i in progress(range(steps), desc="job"):
            log("step", i)
            time.sleep(0.05)
            yield {{"step": i}}
        if fail:
            raise ValueError("the job failed on purpose")
        return {{"steps": steps}}
    except sse_widgets.Cancelled as exc:
        with open(os.path.join(MARKS, f"{{time.time():.6f}}"), "w") as mark:
            mark.write(str(exc))
        raise

print("ready", flush=True)
while True:
    time.sleep(3600)
"""

# An endpoint defined in the dashboard itself: every viewer's kernel serves it.
IN_KERNEL = """
import sse_widgets

@sse_widgets.endpoint("shout")
def shout(text: str = "hello", times: int = 3, progress=None):
    for i in progress(range(times), desc="shouting"):
        yield text.upper() + "!" * i
    return {"said": text.upper(), "times": times}
"""

JOB, NOW = 1, 2  # the forms of "job" (index 0 is the form of "shout")


def form(page: Any, index: int = 0) -> Any:
    return page.locator("[data-testid=endpoint-form]").nth(index)


def wait_state(page: Any, state: str, index: int = 0, timeout: float = 30) -> None:
    page.wait_for_function(
        "([i, s]) => document.querySelectorAll('[data-testid=endpoint-form]')[i]"
        "?.dataset.state === s",
        arg=[index, state],
        timeout=timeout * 1000,
    )


def run(page: Any, steps: int, index: int = 0, fail: bool = False) -> None:
    root = form(page, index)
    root.locator("[data-testid=endpoint-input-steps]").fill(str(steps))
    checkbox = root.locator("[data-testid=endpoint-input-fail]")
    if checkbox.is_checked() != fail:
        checkbox.click()
    root.locator("[data-testid=endpoint-run]").click()


def marks_since(marks: Path, since: float) -> list[float]:
    return sorted(t for t in (float(p.name) for p in marks.iterdir()) if t >= since)


def wait_mark(marks: Path, since: float, timeout: float = 5) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = marks_since(marks, since)
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError("the function never saw Cancelled")


def shown(page: Any, index: int = 0) -> dict[str, Any]:
    return form(page, index).evaluate(
        """(root) => ({
          values: [...root.querySelectorAll('[data-testid=endpoint-value]')].length,
          lines: root.querySelectorAll('.ssew-log-line').length,
          result: root.querySelector('[data-testid=endpoint-result] pre')?.textContent ?? null,
          errorType: root.querySelector('.ssew-ef-error-type')?.textContent ?? null,
          errorMessage: root.querySelector('.ssew-ef-error-message')?.textContent ?? null,
          progress: root.querySelector('[data-testid=endpoint-progress] [role=progressbar]')
            ?.getAttribute('aria-valuenow') ?? null,
        })"""
    )


def test_each_viewer_calls_the_endpoint_from_a_voila_form(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    with (
        running_jupyter(
            tmp_path, app="server", extensions={"voila.server_extension": True}, base_url="/a@b/"
        ) as server,
        chromium(tmp_path) as browser,
    ):
        server.start_producer(WORKER.format(marks=str(marks)))
        notebook = server.write_notebook(
            "endpoint.ipynb",
            [
                IN_KERNEL,
                "from sse_widgets import EndpointForm\n"
                'EndpointForm("shout", arguments={"times": 2}, fields=["text", "times"])',
                'EndpointForm("job", arguments={"steps": 20})',
                'EndpointForm("job", resume_window=0, button="Run now")',
            ],
        )
        viewers = []
        for _ in range(3):
            page = new_page(browser, width=1000, height=1400)
            login(page, server)
            page.goto(server.voila_url(notebook))
            viewers.append(page)
        for page in viewers:
            page.wait_for_selector("[data-testid=endpoint-input-steps]", timeout=60_000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            endpoints = server.get_json("sse-widgets/api/endpoints")["endpoints"]
            listed = {e["name"]: e for e in endpoints}
            if listed.get("shout", {}).get("workers") == 3 and "job" in listed:
                break
            time.sleep(0.1)
        assert listed["shout"]["workers"] == 3, listed  # each viewer's kernel serves it
        assert listed["job"]["signature"] == "(steps: int = 20, fail: bool = False)"
        a, b, c = viewers

        # 0. the endpoint the dashboard's kernels define, from a viewer's form
        shout = form(a, 0)
        shout.locator("[data-testid=endpoint-input-text]").fill("hi")
        shout.locator("[data-testid=endpoint-run]").click()
        wait_state(a, "complete", index=0)
        values = [v.text_content() for v in shout.locator("[data-testid=endpoint-value]").all()]
        assert values == ["HI", "HI!"]  # strings shown as text
        assert '"times": 2' in shown(a, 0)["result"]

        # 1. two viewers at once: each sees their own call only
        run(a, 30, index=JOB)
        run(b, 10, index=JOB)
        for page in (a, b):
            wait_state(page, "complete", index=JOB)
        seen_a, seen_b = shown(a, JOB), shown(b, JOB)
        assert (seen_a["values"], seen_a["lines"], seen_a["progress"]) == (20, 30, "100")
        assert (seen_b["values"], seen_b["lines"], seen_b["progress"]) == (10, 10, "100")
        assert '"steps": 30' in seen_a["result"] and '"steps": 10' in seen_b["result"]
        seen_c = shown(c, JOB)  # the third viewer saw none of it
        assert (seen_c["result"] or "", seen_c["values"], seen_c["lines"]) == ("", 0, 0)

        # 2. an exception ends the call with its type and message
        run(c, 3, index=JOB, fail=True)
        wait_state(c, "error", index=JOB)
        assert (shown(c, JOB)["errorType"], shown(c, JOB)["errorMessage"]) == (
            "ValueError",
            "the job failed on purpose",
        )

        # 3. the limit: the worker runs three calls at once; a fourth gets 429
        for page in viewers:
            run(page, 400, index=JOB)
        for page in viewers:
            wait_state(page, "running", index=JOB)
        run(a, 400, index=NOW)
        wait_state(a, "error", index=NOW)
        assert shown(a, NOW)["errorType"] == "HTTP 429"
        assert "limit" in shown(a, NOW)["errorMessage"]

        # 4. Cancel aborts the request and the function sees Cancelled within a second
        clicked = time.time()
        form(a, JOB).locator("[data-testid=endpoint-cancel]").click()
        wait_state(a, "cancelled", index=JOB)
        assert wait_mark(marks, clicked) - clicked < 1.0

        # 5. a page reloaded mid-call resumes it (resume_window 60 s) and sees all of it
        form(b, JOB).locator("[data-testid=endpoint-cancel]").click()
        wait_state(b, "cancelled", index=JOB)
        time.sleep(0.2)
        run(b, 40, index=JOB)
        b.wait_for_function(
            "() => document.querySelectorAll('[data-testid=endpoint-form]')[1]"
            ".querySelectorAll('[data-testid=endpoint-value]').length >= 5"
        )
        reloaded = time.time()
        b.reload()
        wait_state(b, "running", index=JOB, timeout=60)
        wait_state(b, "complete", index=JOB, timeout=60)
        assert '"steps": 40' in shown(b, JOB)["result"]
        assert shown(b, JOB)["lines"] == 40  # replayed from the first event after the reload
        assert marks_since(marks, reloaded) == []  # the reload did not cancel it

        # 6. resume_window=0: closing the page cancels the call at once
        form(c, JOB).locator("[data-testid=endpoint-cancel]").click()
        wait_state(c, "cancelled", index=JOB)
        time.sleep(0.2)
        run(c, 400, index=NOW)
        wait_state(c, "running", index=NOW)
        c.wait_for_function(
            "() => document.querySelectorAll('[data-testid=endpoint-form]')[2]"
            ".querySelectorAll('[data-testid=endpoint-value]').length >= 2"
        )
        closed = time.time()
        c.close()
        assert wait_mark(marks, closed) - closed < 1.0
        for page in (a, b):
            assert not page.errors, page.errors
