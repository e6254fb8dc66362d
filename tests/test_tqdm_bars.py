"""The tqdm drop-in end to end through a real hub: the same ``progress`` events as our own bars,
tqdm's throttling, nesting, error and cancel ends, the concurrent maps, no terminal output, and
the lazy, optional import from the package."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from sse_widgets import Cancelled, Publisher
from sse_widgets.client import EventStream
from sse_widgets.progress import progress
from sse_widgets.tqdm_bars import process_map, thread_map, tqdm, trange

FIELDS = {
    "bar",
    "value",
    "total",
    "desc",
    "unit",
    "rate",
    "elapsed",
    "eta",
    "parent",
    "state",
    "message",
}


def _head(hub) -> str:  # type: ignore[no-untyped-def]
    request = urllib.request.Request(
        hub.url + "api/channels", headers={"Authorization": f"Bearer {hub.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return str(json.load(reply)["head"])


def progress_events(hub, channel: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every progress event of the channel, in order (an exact replay from the start)."""
    epoch, _, last = _head(hub).rpartition("-")
    stream = EventStream(hub.url, channels=[channel], token=hub.token, last_event_id=f"{epoch}-0")
    events = []
    for event in stream:
        if event.event == "progress":
            events.append(event.json()["data"])
        if int(event.id.rsplit("-", 1)[1]) >= int(last):
            break
    stream.close()
    return events


def cancel(hub, channel: str, bar_id: str) -> None:  # type: ignore[no-untyped-def]
    """What a viewer's Cancel button does."""
    request = urllib.request.Request(
        hub.url + f"api/channels/{channel}/control",
        method="POST",
        data=json.dumps({"event": "cancel", "data": {"bar": bar_id}}).encode(),
        headers={"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def finals(events: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    """The last event of each bar."""
    return {e["bar"]: e for e in events}


@pytest.fixture
def pub(hub_process):  # type: ignore[no-untyped-def]
    publisher = Publisher(hub_process.url, hub_process.token)
    yield publisher
    publisher.close()


def test_a_500_step_loop_streams_monotonic_values_and_ends_done(hub_process, pub):
    bar = tqdm(range(500), channel="t1", desc="steps", unit="item", mininterval=0.01, publisher=pub)
    for _ in bar:
        time.sleep(0.0005)
    assert pub.flush(20)
    events = progress_events(hub_process, "t1")
    assert all(set(e) == FIELDS and e["bar"] == bar.id for e in events)
    values = [e["value"] for e in events]
    assert values == sorted(values) and len(events) >= 5, values  # throttled, not one per step
    assert len(events) < 100, len(events)
    assert all(e["total"] == 500 and e["desc"] == "steps" and e["unit"] == "item" for e in events)
    assert all(e["parent"] is None for e in events)
    running = [e for e in events if e["state"] == "running" and e["value"] > 0]
    assert running and all(e["rate"] > 0 and e["eta"] is not None for e in running)
    last = events[-1]
    assert (last["state"], last["value"], last["eta"]) == ("done", 500, None)
    assert last["rate"] > 0 and last["elapsed"] >= 0.25
    assert [e["state"] for e in events].count("done") == 1 and bar.state == "done"


def test_manual_bar_carries_total_desc_unit_and_postfix(hub_process, pub):
    bar = tqdm(total=10, channel="t2", desc="fetch", unit="B", mininterval=0, publisher=pub)
    bar.update(3)
    bar.set_description("download")  # tqdm shows "download: "; the event keeps the name
    bar.set_postfix(loss=0.5)
    bar.update(4)
    bar.close()
    bar.close()  # a second close sends nothing
    with tqdm(total=None, channel="t2", desc="crawl", publisher=pub) as unknown:
        unknown.update(2)
    quiet = tqdm(range(3), channel="t2", disable=True, publisher=pub)
    assert list(quiet) == [0, 1, 2]
    assert pub.flush(20)
    events = progress_events(hub_process, "t2")
    assert {e["bar"] for e in events} == {bar.id, unknown.id}  # a disabled bar sends nothing
    mine = [e for e in events if e["bar"] == bar.id]
    assert [e["value"] for e in mine] == [0, 3, 3, 3, 7, 7]
    assert mine[-1]["state"] == "done" and mine[-2]["state"] == "running"
    assert (mine[-1]["total"], mine[-1]["desc"], mine[-1]["unit"]) == (10, "download", "B")
    assert mine[-1]["message"] == "loss=0.5"
    last = finals(events)[unknown.id]
    assert (last["total"], last["eta"], last["value"], last["state"]) == (None, None, 2, "done")


def test_nested_bars_link_to_their_parent(hub_process, pub):
    with tqdm(range(3), channel="t3", desc="outer", publisher=pub) as outer:
        for _ in outer:
            for _ in trange(4, channel="t3", desc="inner", publisher=pub):
                pass
            ours = progress(range(2), channel="t3", desc="our bar", publisher=pub)
            for _ in ours:
                pass
    with progress(total=1, channel="t3", desc="our outer", publisher=pub) as our_outer:
        adopted = tqdm(total=1, channel="t3", desc="adopted", publisher=pub)
        adopted.close()
        orphan = tqdm(total=1, channel="t3", desc="orphan", parent=None, publisher=pub)
        orphan.close()
    ids: dict[str, str] = {}

    def worker() -> None:  # another thread: not a child of the loop running meanwhile
        bar = tqdm(range(2), channel="t3", desc="thread", publisher=pub)
        ids["thread"] = bar.id
        list(bar)

    for _ in tqdm(range(1), channel="t3", desc="busy", publisher=pub):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    after = tqdm(total=1, channel="t3", desc="after", publisher=pub)
    after.close()
    assert pub.flush(20)
    final = finals(progress_events(hub_process, "t3"))
    inner = [e for e in final.values() if e["desc"] == "inner"]
    assert len(inner) == 3 and all(e["parent"] == outer.id and e["value"] == 4 for e in inner)
    assert final[outer.id]["parent"] is None and final[outer.id]["value"] == 3
    assert final[ours.id]["parent"] == outer.id  # our own bars nest under tqdm bars ...
    assert final[adopted.id]["parent"] == our_outer.id  # ... and tqdm bars under ours
    assert final[orphan.id]["parent"] is None
    assert final[ids["thread"]]["parent"] is None
    assert final[after.id]["parent"] is None  # the loops are over: nothing is current


def test_an_exception_in_a_with_block_ends_the_bar_with_error(hub_process, pub):
    boom = ValueError("disk full")
    with pytest.raises(ValueError) as caught, tqdm(range(10), channel="t4", publisher=pub) as bar:
        for step in bar:
            if step == 4:
                raise boom
    assert caught.value is boom and caught.type is ValueError
    assert str(caught.value) == "disk full" and caught.value.__cause__ is None
    with pytest.raises(KeyError), tqdm(total=5, channel="t4", publisher=pub) as manual:
        manual.update(2)
        raise KeyError("gone")
    assert pub.flush(20)
    final = finals(progress_events(hub_process, "t4"))
    last = final[bar.id]
    # tqdm counts finished iterations: step 4 was handed out, not finished
    assert (last["state"], last["message"], last["value"]) == ("error", "ValueError: disk full", 4)
    last = final[manual.id]
    assert (last["state"], last["message"], last["value"]) == ("error", "KeyError: 'gone'", 2)


def test_an_exception_from_the_iterable_ends_the_bar_with_error(hub_process, pub):
    def items():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise OSError("stream broken")

    with pytest.raises(OSError, match="stream broken"):
        for _ in tqdm(items(), channel="t5", publisher=pub):
            pass
    assert pub.flush(20)
    last = progress_events(hub_process, "t5")[-1]
    assert (last["state"], last["message"]) == ("error", "OSError: stream broken")


@pytest.mark.parametrize("style", ["loop", "slowed-down loop", "manual"])
def test_a_viewer_cancels_a_running_loop_within_a_second(hub_process, pub, style):
    outcome: dict[str, object] = {}
    bar = tqdm(range(10**9) if "loop" in style else None, channel="t6", publisher=pub)

    def run() -> None:
        give_up = time.monotonic() + 15  # a failing test must not leave the loop running
        slow_from = time.monotonic() + 0.3
        try:
            if style == "loop":
                for _ in bar:
                    time.sleep(0.0001)
                    if time.monotonic() > give_up:
                        break
            elif style == "slowed-down loop":
                # fast steps first: tqdm then checks the clock only every ~10**5 steps
                for _ in bar:
                    if time.monotonic() > slow_from:
                        time.sleep(0.02)
                        if time.monotonic() > give_up:
                            break
            else:
                while time.monotonic() < give_up:
                    time.sleep(0.0001)
                    bar.update()
        except Cancelled as exc:
            outcome["cancelled_at"] = time.monotonic()
            outcome["message"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    posted = time.monotonic()
    cancel(hub_process, "t6", bar.id)
    thread.join(20)
    assert "cancelled_at" in outcome, "the loop was not cancelled"
    assert float(outcome["cancelled_at"]) - posted < 1.0  # type: ignore[arg-type]
    assert "cancelled by a viewer" in str(outcome["message"])
    assert pub.flush(20)
    events = progress_events(hub_process, "t6")
    assert events[-1]["state"] == "cancelled" and events[-1]["value"] == bar.n > 0
    assert "cancelled by a viewer" in events[-1]["message"]
    assert [e["state"] for e in events].count("cancelled") == 1


def test_cancelling_the_outer_bar_stops_the_inner_loop(hub_process, pub):
    outcome: dict[str, object] = {}
    outer = tqdm(total=3, channel="t7", desc="outer", publisher=pub)
    give_up = time.monotonic() + 15

    def run() -> None:
        try:
            with outer:
                for _ in tqdm(range(10**9), channel="t7", desc="inner", publisher=pub):
                    time.sleep(0.0001)
                    if time.monotonic() > give_up:
                        break
        except Cancelled:
            outcome["cancelled_at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    posted = time.monotonic()
    cancel(hub_process, "t7", outer.id)
    thread.join(20)
    assert float(outcome["cancelled_at"]) - posted < 1.0  # type: ignore[arg-type]
    assert pub.flush(20)
    final = finals(progress_events(hub_process, "t7"))
    assert {e["desc"]: e["state"] for e in final.values()} == {
        "outer": "cancelled",
        "inner": "cancelled",
    }


def test_thread_map_returns_the_results_with_a_streamed_bar(hub_process, pub):
    results = thread_map(
        lambda x: x * x, range(50), max_workers=4, channel="t8", desc="squares", publisher=pub
    )
    assert results == [x * x for x in range(50)]
    assert pub.flush(20)
    events = progress_events(hub_process, "t8")
    values = [e["value"] for e in events]
    assert values == sorted(values)
    last = events[-1]
    assert (last["state"], last["value"], last["total"], last["desc"]) == (
        "done",
        50,
        50,
        "squares",
    )


def test_a_viewer_cancels_a_thread_map(hub_process, pub):
    started: list[int] = []
    outcome: dict[str, object] = {}

    def slow(x: int) -> int:
        started.append(x)
        time.sleep(0.02)
        return x

    def run() -> None:
        try:
            outcome["result"] = thread_map(
                slow, range(500), max_workers=2, channel="t9", publisher=pub
            )
        except Cancelled as exc:
            outcome["cancelled_at"] = time.monotonic()
            outcome["message"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:  # the bar exists before any item runs
        time.sleep(0.01)
    assert pub.flush(20)
    events = progress_events(hub_process, "t9")
    time.sleep(0.3)
    posted = time.monotonic()
    cancel(hub_process, "t9", events[0]["bar"])
    thread.join(20)
    assert "cancelled_at" in outcome, outcome.keys()
    assert float(outcome["cancelled_at"]) - posted < 1.0  # type: ignore[arg-type]
    assert "cancelled by a viewer" in str(outcome["message"])
    assert len(started) < 200  # the items not yet started did not run
    assert pub.flush(20)
    assert progress_events(hub_process, "t9")[-1]["state"] == "cancelled"


# tqdm's process lock comes from the default (fork) context, so the pool has to use it too;
# Python 3.12+ warns about forking a process with threads (the publisher's).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_process_map_returns_the_results_with_a_streamed_bar(hub_process, pub):
    results = process_map(abs, [-3, -2, -1, 0, 1], max_workers=2, channel="t10", publisher=pub)
    assert results == [3, 2, 1, 0, 1]
    assert pub.flush(20)
    last = progress_events(hub_process, "t10")[-1]
    assert (last["state"], last["value"], last["total"]) == ("done", 5, 5)


def test_nothing_is_written_to_the_terminal_unless_a_file_is_given(hub_process, pub, capsys):
    with tqdm(range(200), channel="t11", desc="quiet", mininterval=0, publisher=pub) as bar:
        for _ in bar:
            for _ in trange(3, channel="t11", leave=False, publisher=pub):
                pass
    bar = tqdm(total=2, channel="t11", disable=None, publisher=pub)  # None: "off unless a TTY"
    bar.update(2)
    bar.close()
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == ("", "")
    text = io.StringIO()
    for _ in tqdm(range(3), channel="t11", desc="echoed", file=text, publisher=pub):
        pass
    assert "echoed" in text.getvalue() and "3/3" in text.getvalue()
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == ("", "")
    assert pub.flush(20)
    final = finals(progress_events(hub_process, "t11"))
    assert [e["state"] for e in final.values()].count("done") == 1 + 200 + 1 + 1


def test_the_package_exposes_tqdm_lazily_and_only_when_installed():
    code = (
        "import sys, sse_widgets; "
        "print('tqdm' in sys.modules, 'tqdm' in dir(sse_widgets), 'tqdm' in sse_widgets.__all__); "
        "from sse_widgets import tqdm, trange; "
        "import sse_widgets.tqdm_bars as m; "
        "print(tqdm is m.tqdm and trange is m.trange and sse_widgets.tqdm is m.tqdm)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "True"]
    missing = (
        "import sys; sys.modules['tqdm'] = None; import sse_widgets\n"
        "try:\n    from sse_widgets import tqdm\n"
        "except ImportError as exc:\n    print(repr(str(exc)), exc.name)\n"
        "print(hasattr(sse_widgets, 'no_such_name'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", missing], capture_output=True, text=True, check=True
    )
    message, name, has = out.stdout.strip().rsplit(maxsplit=2)
    assert "pip install sse_widgets[tqdm]" in message and name == "tqdm" and has == "False"


def test_leave_false_and_nested_default_tell_viewers_to_drop_finished_bars(hub_process, pub):
    with tqdm(range(1), channel="t9", desc="outer", publisher=pub) as outer:
        for _ in outer:
            for _ in trange(2, channel="t9", desc="inner default", publisher=pub, leave=None):
                pass
            for _ in trange(2, channel="t9", desc="inner kept", publisher=pub):
                pass
    for _ in trange(2, channel="t9", desc="top gone", publisher=pub, leave=False):
        pass
    assert pub.flush(20)
    final = {e["desc"]: e for e in progress_events(hub_process, "t9")}
    assert "leave" not in final["outer"] and "leave" not in final["inner kept"]
    assert final["inner default"]["leave"] is False  # tqdm: None keeps only top-level bars
    assert final["top gone"]["leave"] is False
