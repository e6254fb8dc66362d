"""Progress bars end to end through a real hub: values, rate and ETA, throttling, nesting,
phases, batch results, errors, cancel from a viewer, async iteration."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import anyio
import pytest
from conftest import channel_events

from sse_widgets import Cancelled, Publisher
from sse_widgets.progress import aprogress, progress


def progress_events(hub, channel: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return channel_events(hub, channel, "progress")


@pytest.fixture
def pub(hub_process):  # type: ignore[no-untyped-def]
    publisher = Publisher(hub_process.url, hub_process.token)
    yield publisher
    publisher.close()


def test_a_thousand_step_loop_reports_monotonic_values_rate_eta_and_done(hub_process, pub):
    for _ in progress(range(1000), channel="p1", desc="steps", mininterval=0.01, publisher=pub):
        time.sleep(0.0003)
    assert pub.flush(20)
    events = progress_events(hub_process, "p1")
    values = [e["value"] for e in events]
    assert values == sorted(values) and len(events) >= 5
    assert events[-1]["state"] == "done" and events[-1]["value"] == 1000
    assert events[-1]["total"] == 1000 and events[-1]["desc"] == "steps"
    running = [e for e in events if e["state"] == "running" and e["value"] > 0]
    assert running and all(e["rate"] > 0 and e["eta"] is not None for e in running)
    assert events[-1]["elapsed"] >= 0.3


def test_nested_and_concurrent_bars_keep_their_parent_links(hub_process, pub):
    with progress(range(3), channel="p2", desc="outer", publisher=pub) as outer:
        for _ in outer:
            for _ in progress(range(5), channel="p2", desc="inner", publisher=pub):
                pass
    ids: dict[str, str] = {}

    def worker(name: str) -> None:
        bar = progress(range(50), channel="p2", desc=name, publisher=pub)
        ids[name] = bar.id
        for _ in bar:
            time.sleep(0.001)

    threads = [threading.Thread(target=worker, args=(f"thread-{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    explicit = progress(total=2, channel="p2", desc="adopted", parent=outer, publisher=pub)
    explicit.close()
    assert pub.flush(20)
    final = {e["bar"]: e for e in progress_events(hub_process, "p2") if e["state"] != "running"}
    inner = [e for e in final.values() if e["desc"] == "inner"]
    assert len(inner) == 3 and all(e["parent"] == outer.id for e in inner)
    assert final[outer.id]["parent"] is None and final[outer.id]["value"] == 3
    for name, bar_id in ids.items():
        assert final[bar_id]["parent"] is None and final[bar_id]["desc"] == name
        assert final[bar_id]["value"] == 50
    assert final[explicit.id]["parent"] == outer.id


def test_ten_million_steps_send_at_most_one_update_per_mininterval(hub_process, pub):
    started = time.monotonic()
    bar = progress(range(10_000_000), channel="p3", mininterval=0.1, publisher=pub)
    for _ in bar:
        pass
    elapsed = time.monotonic() - started
    assert pub.flush(20)
    events = [e for e in progress_events(hub_process, "p3") if e["bar"] == bar.id]
    assert len(events) <= elapsed / 0.1 + 2, (len(events), elapsed)
    assert events[-1]["value"] == 10_000_000 and events[-1]["state"] == "done"


def test_an_exception_ends_the_bar_with_error_and_reaches_the_caller_unchanged(hub_process, pub):
    boom = ValueError("disk full")
    with (
        pytest.raises(ValueError) as caught,
        progress(range(10), channel="p4", publisher=pub) as bar,
    ):
        for step in bar:
            if step == 4:
                raise boom
    assert caught.value is boom
    assert pub.flush(20)
    last = progress_events(hub_process, "p4")[-1]
    assert (last["state"], last["message"], last["value"]) == ("error", "ValueError: disk full", 5)


def test_break_ends_the_bar_done_where_it_stopped(hub_process, pub):
    for step in progress(range(100), channel="p5", publisher=pub):
        if step == 9:
            break
    assert pub.flush(20)
    last = progress_events(hub_process, "p5")[-1]
    assert (last["state"], last["value"]) == ("done", 10)


def test_a_viewer_cancels_a_running_loop_within_a_second(hub_process, pub):
    outcome: dict[str, object] = {}
    bar = progress(range(10**9), channel="p6", desc="forever", publisher=pub)

    def run() -> None:
        try:
            for _ in bar:
                time.sleep(0.0001)
        except Cancelled as exc:
            outcome["cancelled_at"] = time.monotonic()
            outcome["message"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    request = urllib.request.Request(
        hub_process.url + "api/channels/p6/control",
        method="POST",
        data=json.dumps({"event": "cancel", "data": {"bar": bar.id}}).encode(),
        headers={
            "Authorization": f"Bearer {hub_process.token}",
            "Content-Type": "application/json",
        },
    )
    posted = time.monotonic()
    urllib.request.urlopen(request, timeout=10).close()
    thread.join(10)
    assert "cancelled_at" in outcome, "the loop was not cancelled"
    assert float(outcome["cancelled_at"]) - posted < 1.0  # type: ignore[arg-type]
    assert "cancelled by a viewer" in str(outcome["message"])
    assert pub.flush(20)
    assert progress_events(hub_process, "p6")[-1]["state"] == "cancelled"


def test_phases_weight_the_overall_progress(hub_process, pub):
    with progress(
        phases={"load": 10, "train": 70, "save": 20},
        channel="p7",
        desc="job",
        publisher=pub,
        mininterval=0,
    ) as job:
        for _ in job.phase_bar("load", range(2)):
            pass
        for _ in job.phase_bar("train", range(7)):
            pass
        middle = job.n
        for _ in job.phase_bar("save", range(4)):
            pass
    assert middle == pytest.approx(80)
    assert pub.flush(20)
    mine = [e for e in progress_events(hub_process, "p7") if e["bar"] == job.id]
    values = [e["value"] for e in mine]
    assert values == sorted(values) and values[-1] == pytest.approx(100)
    assert mine[-1]["total"] == 100 and mine[-1]["phases"] == {"load": 10, "train": 70, "save": 20}
    assert any(e["phase"] == "train" and 10 < e["value"] < 80 for e in mine)


def test_batch_results_travel_with_the_bar(hub_process, pub):
    with progress(range(6), channel="p8", publisher=pub) as bar:
        for item in bar:
            if item % 3 == 0:
                bar.fail(KeyError(f"item {item}"))
            else:
                bar.ok()
    assert pub.flush(20)
    last = progress_events(hub_process, "p8")[-1]
    assert (last["ok"], last["failed"]) == (4, 2)
    assert last["errors"] == ["KeyError: 'item 0'", "KeyError: 'item 3'"]


def test_manual_bar_with_update_set_and_indeterminate_total(hub_process, pub):
    bar = progress(channel="p9", desc="crawl", unit="page", publisher=pub, mininterval=0)
    for _ in range(5):
        bar.update()
    bar.set(desc="crawl (slow site)", message="retrying")
    bar.close()
    assert pub.flush(20)
    last = progress_events(hub_process, "p9")[-1]
    assert last["total"] is None and last["eta"] is None and last["unit"] == "page"
    assert (last["value"], last["desc"], last["message"]) == (5, "crawl (slow site)", "retrying")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_iteration_under_asyncio_and_trio(hub_process, pub, backend):
    async def numbers():  # type: ignore[no-untyped-def]
        for n in range(20):
            await anyio.sleep(0)
            yield n

    async def main() -> list[int]:
        got = []
        async with aprogress(numbers(), total=20, channel=f"pa-{backend}", publisher=pub) as bar:
            async for n in bar:
                got.append(n)
        return got

    assert anyio.run(main, backend=backend) == list(range(20))
    assert pub.flush(20)
    last = progress_events(hub_process, f"pa-{backend}")[-1]
    assert (last["state"], last["value"]) == ("done", 20)


def test_a_script_whose_plain_loop_raises_ends_the_bar_with_the_error(hub_process):
    import os
    import subprocess
    import sys

    script = (
        "import sse_widgets\n"
        "for step in sse_widgets.progress(range(10), channel='script', desc='job'):\n"
        "    if step == 5:\n"
        "        raise KeyError('missing column')\n"
    )
    env = {**os.environ, "SSE_WIDGETS_URL": hub_process.url, "SSE_WIDGETS_TOKEN": "T"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1 and "KeyError: 'missing column'" in result.stderr
    last = progress_events(hub_process, "script")[-1]
    assert (last["state"], last["message"], last["value"]) == (
        "error",
        "KeyError: 'missing column'",
        6,
    )


def test_cancelling_a_parent_names_it_and_ends_every_bar_down_to_the_loop(hub_process, pub):
    # Plain for loops (no `with`): the outer loop only sees GeneratorExit, yet must end
    # `cancelled`, and the message names the bar the viewer cancelled, not the inner one.
    outer = progress(range(5), channel="p7", desc="epochs", publisher=pub, mininterval=0)
    caught: list[str] = []
    try:
        for epoch in outer:
            for _ in progress(range(10**6), channel="p7", desc=f"epoch {epoch}", publisher=pub):
                outer.on_control("cancel", {"bar": outer.id})  # as the control listener does
    except Cancelled as exc:
        caught.append(str(exc))
    assert caught == ["progress bar 'epochs' was cancelled by a viewer"]
    assert pub.flush(20)
    final = {e["desc"]: e for e in progress_events(hub_process, "p7")}
    assert final["epochs"]["state"] == "cancelled"
    assert final["epoch 0"]["state"] == "cancelled"
    assert final["epochs"]["message"] == final["epoch 0"]["message"] == caught[0]


def test_leave_false_is_said_in_the_events_so_viewers_drop_the_finished_bar(hub_process, pub):
    for _ in progress(range(3), channel="p8", desc="kept", publisher=pub):
        pass
    for _ in progress(range(3), channel="p8", desc="gone", publisher=pub, leave=False):
        pass
    assert pub.flush(20)
    final = {e["desc"]: e for e in progress_events(hub_process, "p8")}
    assert "leave" not in final["kept"]
    assert final["gone"]["leave"] is False and final["gone"]["state"] == "done"
