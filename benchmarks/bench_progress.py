"""Benchmark ``sse_widgets.progress()`` against tqdm: loop overhead, and cost in a real kernel.

What it measures, in one run (a hub subprocess on 127.0.0.1, started with
``python -m sse_widgets.cli serve --port 0 --token <random>``, and killed by PID at the end):

1. Per-iteration overhead, in this process, of an empty loop of N steps (10 million in the
   full run), in three forms:

   - ``range``: ``for _ in progress(range(N), mininterval=0.1, publisher=pub): pass`` against
     ``for _ in tqdm(range(N), file=io.StringIO(), mininterval=0.1): pass`` and the bare
     ``for _ in range(N): pass``;
   - ``generator``: the same over a generator ``(i for i in range(N))`` (no ``len``), against
     the bare loop over such a generator;
   - ``manual``: ``bar.update()`` once per step of ``for _ in range(N)`` against tqdm's
     ``update()``, against the bare ``for _ in range(N): pass``.

   ``pub`` is ``Publisher(hub_url, token)``, so ours really sends its throttled updates. The
   clock covers creating the bar, the loop and closing it. Each (form, system) runs R times
   (5 in the full run), interleaved (the order rotates every repeat); overhead per step =
   (median time - median time of the bare loop) / N, in ns; ratio = ours / tqdm.

2. The cost of one bar update in a real IPython kernel (``jupyter_client.KernelManager``, with
   ``SSE_WIDGETS_URL`` / ``SSE_WIDGETS_TOKEN`` pointing at the hub subprocess), for ours
   against ``tqdm.notebook``. Three executions per system and repeat: create the bar
   (``sse_widgets.progress(total=K, mininterval=0, channel=...)`` or
   ``tqdm.notebook.tqdm(total=K, mininterval=0)``), K ``bar.update()`` calls (timed in the
   kernel with ``perf_counter``, and ``thread_time`` for the main thread's CPU; ours then also
   times ``get_publisher().flush()``), and close. Repeats alternate which system goes first.
   A ``KernelClient`` reads the IOPub channel until each execution's ``idle`` status and counts
   the messages of that execution by ``msg_type``. For ours an ``EventStream`` subscriber in
   this process counts the events the hub delivers on the bar's channel (K + 2 expected:
   creation, K updates, close). End to end: wall clock (``time.time()``, same machine) from the
   start of the update loop in the kernel until the last update is received: by the SSE
   subscriber for ours, by the kernel client (as its last IOPub message) for tqdm.

Prints a table and writes ``benchmarks/results/bench_progress.json``. Every loop is bounded
in count, every wait in time; the run is capped (180 s, 30 s with ``--quick``).

    .venv/bin/python benchmarks/bench_progress.py            # full run, about 40 s
    .venv/bin/python benchmarks/bench_progress.py --quick    # smoke run, about 5 s (< 30 s)
    .venv/bin/python benchmarks/bench_progress.py --skip-kernel   # loop overhead only
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import gc
import io
import json
import os
import platform
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT))  # benchmark the checkout this script lives in

#: Targets of the issue. Loop overhead: ratio ours / tqdm (at most 1.0, aim 0.5). Kernel:
#: per-update cost of ours in microseconds, and IOPub messages per update.
TARGETS = {"loop_ratio_max": 1.0, "loop_ratio_aim": 0.5, "kernel_us": 10.0, "kernel_iopub": 0}
FORMS = ("range", "generator", "manual")
SYSTEMS = ("bare", "ours", "tqdm")
#: IOPub messages every execution gets whatever it does (not counted per update).
FRAMING = ("status", "execute_input")


@dataclass(frozen=True)
class Plan:
    steps: int  # N, steps of each timed loop
    repeats: int  # R, timed loops per (form, system)
    loop_budget: float  # seconds for part 1; later repeats are skipped past it
    kernel_reserve: float  # seconds kept for part 2 (the loop budget shrinks to leave them)
    updates: int  # K, bar updates per kernel measurement
    kernel_repeats: int
    total_cap: float  # seconds for the whole run


FULL = Plan(
    steps=10_000_000,
    repeats=5,
    loop_budget=100.0,
    kernel_reserve=40.0,
    updates=2_000,
    kernel_repeats=5,
    total_cap=180.0,
)
QUICK = Plan(
    steps=1_000_000,
    repeats=3,
    loop_budget=10.0,
    kernel_reserve=12.0,
    updates=500,
    kernel_repeats=1,
    total_cap=30.0,
)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, wanted: float, reserve: float = 0.0) -> float:
        """A timeout of at most ``wanted`` that ends ``reserve`` seconds before the deadline."""
        return max(1.0, min(wanted, self.left() - reserve))


# -- the hub subprocess ---------------------------------------------------------------------


class HubProcess:
    """``python -m sse_widgets.cli serve`` on a free loopback port; stderr goes to a log."""

    def __init__(self, token: str, log_dir: Path, timeout: float) -> None:
        self.token = token
        self.log = open(log_dir / "bench_progress-hub.log", "w")  # noqa: SIM115 - see stop()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        serve = ["serve", "--host", "127.0.0.1", "--port", "0", "--token", token]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sse_widgets.cli", *serve],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_ready(timeout)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        marker = "sse-widgets hub serving at "
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"the hub exited ({self.proc.wait(5)}); see {self.log.name}")
            if line.startswith(marker):
                url = line[len(marker) :].strip()
                if not url.startswith("http://127.0.0.1:"):
                    raise RuntimeError(f"the hub is not on loopback: {url}")
                return url
        raise TimeoutError(f"the hub did not start within {timeout:.0f} s")

    def channels(self) -> dict[str, dict[str, Any]]:
        """The hub's channel listing (``GET api/channels``), by channel name."""
        from sse_widgets.transport import HubAddress

        address = HubAddress.parse(self.url)
        connection = address.connection(5)
        try:
            headers = {"Authorization": f"token {self.token}"}
            connection.request("GET", address.path("api/channels"), headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET api/channels: HTTP {response.status}")
        return {c["name"]: c for c in json.loads(body)["channels"]}

    def stop(self) -> None:
        """SIGINT (the hub removes its runtime file), then SIGTERM, then SIGKILL, by PID."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 5), (signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.kill(self.proc.pid, sig)
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        if self.proc.stdout is not None:
            try:
                self.proc.stdout.close()
            except OSError:
                pass
        self.log.close()


# -- part 1: loop overhead in this process ---------------------------------------------------


def make_loops(n: int, pub: Any) -> dict[tuple[str, str], Callable[[], float]]:
    """One timed function per (form, system); each returns seconds for N steps."""
    from tqdm import tqdm

    from sse_widgets.progress import progress

    channel = "bench-loop"
    clock = time.perf_counter

    def range_bare() -> float:
        t0 = clock()
        for _ in range(n):
            pass
        return clock() - t0

    def range_ours() -> float:
        t0 = clock()
        for _ in progress(range(n), mininterval=0.1, publisher=pub, channel=channel):
            pass
        return clock() - t0

    def range_tqdm() -> float:
        t0 = clock()
        for _ in tqdm(range(n), file=io.StringIO(), mininterval=0.1):
            pass
        return clock() - t0

    def gen_bare() -> float:
        items = (i for i in range(n))
        t0 = clock()
        for _ in items:
            pass
        return clock() - t0

    def gen_ours() -> float:
        items = (i for i in range(n))
        t0 = clock()
        for _ in progress(items, mininterval=0.1, publisher=pub, channel=channel):
            pass
        return clock() - t0

    def gen_tqdm() -> float:
        items = (i for i in range(n))
        t0 = clock()
        for _ in tqdm(items, file=io.StringIO(), mininterval=0.1):
            pass
        return clock() - t0

    def manual_ours() -> float:
        t0 = clock()
        bar = progress(total=n, mininterval=0.1, publisher=pub, channel=channel)
        for _ in range(n):
            bar.update()
        bar.close()
        return clock() - t0

    def manual_tqdm() -> float:
        t0 = clock()
        bar = tqdm(total=n, file=io.StringIO(), mininterval=0.1)
        for _ in range(n):
            bar.update()
        bar.close()
        return clock() - t0

    return {
        ("range", "bare"): range_bare,
        ("range", "ours"): range_ours,
        ("range", "tqdm"): range_tqdm,
        ("generator", "bare"): gen_bare,
        ("generator", "ours"): gen_ours,
        ("generator", "tqdm"): gen_tqdm,
        ("manual", "bare"): range_bare,
        ("manual", "ours"): manual_ours,
        ("manual", "tqdm"): manual_tqdm,
    }


def run_loops(plan: Plan, hub: HubProcess, deadline: Deadline) -> dict[str, Any]:
    from sse_widgets.publisher import Publisher

    pub = Publisher(hub.url, hub.token)
    n = plan.steps
    loops = make_loops(n, pub)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in loops}
    budget = Deadline(min(plan.loop_budget, deadline.left() - plan.kernel_reserve))
    # A short pass first (10,000 steps each): imports, the publisher's sender and control
    # threads, first calls.
    for fn in make_loops(10_000, pub).values():
        fn()
    skipped = 0
    try:
        for rep in range(plan.repeats):
            if rep and budget.left() <= 0:
                skipped = plan.repeats - rep
                print(f"  loops: time budget spent, {skipped} repeat(s) skipped", flush=True)
                break
            for form in FORMS:
                order = SYSTEMS[rep % 3 :] + SYSTEMS[: rep % 3]
                for system in order:
                    gc.collect()
                    times[(form, system)].append(loops[(form, system)]())
            line = ", ".join(
                f"{form} " + "/".join(f"{1e9 * times[(form, s)][-1] / n:.1f}" for s in SYSTEMS)
                for form in FORMS
            )
            print(f"  loops repeat {rep + 1}: ns per step (bare/ours/tqdm): {line}", flush=True)
        flushed = pub.flush(10)
        stats = pub.stats
    finally:
        pub.close(timeout=5)
    results: dict[str, Any] = {}
    for form in FORMS:
        med = {s: statistics.median(times[(form, s)]) for s in SYSTEMS}
        over = {s: 1e9 * (med[s] - med["bare"]) / n for s in ("ours", "tqdm")}
        paired = {
            s: [
                1e9 * (t - b) / n
                for t, b in zip(times[(form, s)], times[(form, "bare")], strict=False)
            ]
            for s in ("ours", "tqdm")
        }
        results[form] = {
            "bare_ns": 1e9 * med["bare"] / n,
            "ours_overhead_ns": over["ours"],
            "tqdm_overhead_ns": over["tqdm"],
            "ratio": over["ours"] / over["tqdm"] if over["tqdm"] > 0 else None,
            "paired_overhead_ns": paired,
            "times_s": {s: times[(form, s)] for s in SYSTEMS},
        }
    return {
        "steps": n,
        "repeats": len(times[("range", "bare")]),
        "skipped_repeats": skipped,
        "publisher_flushed": flushed,
        "publisher_stats": stats,
        "forms": results,
    }


# -- part 2: one update in a real kernel ---------------------------------------------------------

SETUP = """
import json, time
import sse_widgets
from tqdm.notebook import tqdm as _tqdm_nb
_pub = sse_widgets.get_publisher()
_w = sse_widgets.progress(total=50, mininterval=0, channel="bench-warmup")
for _ in range(50):
    _w.update()
_w.close()
_warm_ok = _pub.flush(20)
_w = _tqdm_nb(total=50, mininterval=0)
for _ in range(50):
    _w.update()
_w.close()
_bench_json = json.dumps({"flushed": _warm_ok, "url": _pub.address.url})
"""

CREATE = {
    "ours": """
_bench_json = "{{}}"
_t0 = time.perf_counter()
_bar = sse_widgets.progress(total={k}, mininterval=0, channel={channel!r})
_t1 = time.perf_counter()
_bench_json = json.dumps({{"create_s": _t1 - _t0, "bar": _bar.id}})
""",
    "tqdm": """
_bench_json = "{{}}"
_t0 = time.perf_counter()
_bar = _tqdm_nb(total={k}, mininterval=0)
_t1 = time.perf_counter()
_bench_json = json.dumps({{"create_s": _t1 - _t0}})
""",
}

UPDATE = {
    "ours": """
_bench_json = "{{}}"
_stats0 = _pub.stats
_w0 = time.time()
_c0 = time.thread_time()
_t0 = time.perf_counter()
for _ in range({k}):
    _bar.update()
_t1 = time.perf_counter()
_c1 = time.thread_time()
_flushed = _pub.flush(30)
_t2 = time.perf_counter()
_stats1 = _pub.stats
_bench_json = json.dumps({{
    "wall_start": _w0, "loop_s": _t1 - _t0, "loop_cpu_s": _c1 - _c0, "flush_s": _t2 - _t1,
    "flushed": _flushed, "n": _bar.n, "batches": _stats1["batches"] - _stats0["batches"],
    "dropped": _stats1["dropped"] - _stats0["dropped"],
}})
""",
    "tqdm": """
_bench_json = "{{}}"
_w0 = time.time()
_c0 = time.thread_time()
_t0 = time.perf_counter()
for _ in range({k}):
    _bar.update()
_t1 = time.perf_counter()
_c1 = time.thread_time()
_bench_json = json.dumps({{
    "wall_start": _w0, "loop_s": _t1 - _t0, "loop_cpu_s": _c1 - _c0, "n": _bar.n,
}})
""",
}

CLOSE = {
    "ours": """
_bench_json = "{}"
_bar.close()
_bench_json = json.dumps({"flushed": _pub.flush(30)})
""",
    "tqdm": """
_bench_json = "{}"
_bar.close()
_bench_json = json.dumps({})
""",
}


class Subscriber:
    """Counts the events the hub delivers on one channel (an EventStream in a thread).

    The thread ends by itself once the bar's final state (``done``) arrives, or when the
    stream has been quiet for ``read_timeout``: ``EventStream.close()`` from another thread
    would block until then anyway (it waits for the reader's lock; see the report).
    """

    def __init__(self, hub: HubProcess, channel: str, read_timeout: float = 5.0) -> None:
        from sse_widgets.client import EventStream

        self.channel = channel
        self.stream = EventStream(
            hub.url,
            channels=[channel],
            token=hub.token,
            read_timeout=read_timeout,
            reconnect=False,
        )
        self.count = 0
        self.last: dict[str, Any] | None = None
        self.value_times: dict[float, float] = {}  # progress value -> receipt (first time)
        self.error: str | None = None
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                received = time.time()
                if self.stop:
                    break
                if event.event != "progress":
                    continue
                frame = json.loads(event.data or "null")
                data = frame.get("data") if isinstance(frame, dict) else None
                if not isinstance(data, dict):
                    continue
                self.count += 1
                self.last = data
                self.value_times.setdefault(data.get("value"), received)
                if data.get("state") != "running":
                    break  # the bar's last event
        except Exception as exc:  # noqa: BLE001 - reported with the results
            self.error = f"{type(exc).__name__}: {exc}"

    def wait_subscribed(self, hub: HubProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hub.channels().get(self.channel, {}).get("subscribers", 0) >= 1:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the subscriber of {self.channel} did not connect in {timeout} s")

    def wait_done(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for the final event; the thread then ends."""
        self.thread.join(timeout)
        self.stop = True


class Kernel:
    """A real IPython kernel (jupyter_client) and a blocking client reading its IOPub."""

    def __init__(self, hub: HubProcess, log_dir: Path, timeout: float) -> None:
        import zmq
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SSE_WIDGETS_URL": hub.url,
            "SSE_WIDGETS_TOKEN": hub.token,
        }
        self.log = open(log_dir / "bench_progress-kernel.log", "w")  # noqa: SIM115 - shutdown()
        self.km.start_kernel(env=env, cwd=str(ROOT), stdout=self.log, stderr=self.log)
        self.kc = self.km.client()
        try:
            # Keep every IOPub message: no receive high-water mark on this side.
            self.kc.context.setsockopt(zmq.RCVHWM, 0)
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=timeout)
        except BaseException:
            self.shutdown()  # the kernel is running: never leave it behind
            raise

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def execute(self, code: str, timeout: float) -> dict[str, Any]:
        """Run ``code``; return its ``_bench_json`` and the IOPub messages it caused."""
        deadline = time.monotonic() + timeout
        msg_id = self.kc.execute(
            code,
            store_history=False,
            allow_stdin=False,
            user_expressions={"r": "_bench_json"},
        )
        counts: Counter[str] = Counter()
        others: Counter[str] = Counter()
        last_output = None  # time.time() of the last non-framing message of this execution
        outputs: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no idle status within {timeout:.0f} s (IOPub messages so far: "
                    f"{dict(counts)}, other parents {dict(others)}; code: {code.strip()[:80]!r})"
                )
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            kind = msg["msg_type"]
            if msg["parent_header"].get("msg_id") != msg_id:
                others[kind] += 1
                continue
            counts[kind] += 1
            if kind == "status" and msg["content"].get("execution_state") == "idle":
                break
            if kind not in FRAMING:
                last_output = time.time()
            if kind in ("stream", "error") and len(outputs) < 5:
                content = msg["content"]
                outputs.append(str(content.get("text") or content.get("evalue"))[:300])
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no execute_reply within {timeout:.0f} s")
            try:
                reply = self.kc.get_shell_msg(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"kernel: {content.get('ename')}: {content.get('evalue')}")
        expression = content["user_expressions"]["r"]
        if expression.get("status") != "ok":
            raise RuntimeError(f"kernel: _bench_json: {expression.get('evalue')}")
        result = json.loads(ast.literal_eval(expression["data"]["text/plain"]))
        return {
            "result": result,
            "iopub": dict(counts),
            "iopub_other_parent": dict(others),
            "last_output_time": last_output,
            "outputs": outputs,
        }

    def responds(self, timeout: float) -> bool:
        """Whether a trivial execution completes (after a timeout: is the kernel still sane?)."""
        try:
            self.execute("_bench_json = '{}'", timeout)
        except (TimeoutError, RuntimeError):
            return False
        return True

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            try:
                self.km.shutdown_kernel(now=False)
            except Exception:  # noqa: BLE001 - then by force
                self.km.shutdown_kernel(now=True)
            if self.km.is_alive():
                self.km.shutdown_kernel(now=True)
            self.log.close()


def per_update_messages(iopub: dict[str, int], k: int) -> dict[str, float]:
    content = {t: c for t, c in iopub.items() if t not in FRAMING}
    return {
        "iopub_per_update": sum(content.values()) / k,
        "comm_per_update": content.get("comm_msg", 0) / k,
    }


def kernel_once(
    kernel: Kernel, hub: HubProcess, system: str, k: int, rep: int, deadline: Deadline
) -> dict[str, Any]:
    timeout = deadline.cap(20, reserve=8)
    channel = f"bench-{rep}-{secrets.token_hex(3)}"
    sub = None
    if system == "ours":
        sub = Subscriber(hub, channel)
    try:
        if sub is not None:
            sub.wait_subscribed(hub, min(10.0, timeout))
        create = kernel.execute(CREATE[system].format(k=k, channel=channel), timeout)
        update = kernel.execute(UPDATE[system].format(k=k), timeout)
        close = kernel.execute(CLOSE[system], timeout)
        got = update["result"]
        entry: dict[str, Any] = {
            "create_us": 1e6 * create["result"]["create_s"],
            "update_us": 1e6 * got["loop_s"] / k,
            "update_cpu_us": 1e6 * got["loop_cpu_s"] / k,
            "final_n": got["n"],
            "iopub_create": create["iopub"],
            "iopub_update": update["iopub"],
            "iopub_close": close["iopub"],
            "iopub_other_parent": update["iopub_other_parent"],
            **per_update_messages(update["iopub"], k),
        }
        outputs = create["outputs"] + update["outputs"] + close["outputs"]
        if outputs:
            entry["outputs"] = outputs
        if system == "ours" and sub is not None:
            entry["update_with_flush_us"] = 1e6 * (got["loop_s"] + got["flush_s"]) / k
            entry["flush_ms"] = 1e3 * got["flush_s"]
            entry["flushed"] = got["flushed"] and close["result"]["flushed"]
            entry["batches"] = got["batches"]
            entry["dropped"] = got["dropped"]
            expected = k + 2  # creation, K updates, close
            sub.wait_done(min(10.0, deadline.cap(10, reserve=5)))
            received = sub.value_times.get(float(k)) or sub.value_times.get(k)
            entry["hub_events_expected"] = expected
            entry["hub_events_received"] = sub.count
            entry["hub_last_state"] = (sub.last or {}).get("state")
            entry["hub_last_value"] = (sub.last or {}).get("value")
            entry["end_to_end_ms"] = (
                1e3 * (received - got["wall_start"]) if received is not None else None
            )
            if sub.error:
                entry["subscriber_error"] = sub.error
        else:
            last = update["last_output_time"]
            entry["end_to_end_ms"] = 1e3 * (last - got["wall_start"]) if last else None
        return entry
    finally:
        if sub is not None:
            sub.stop = True  # its thread ends at the next event or after its read timeout


def run_kernel(plan: Plan, hub: HubProcess, log_dir: Path, deadline: Deadline) -> dict[str, Any]:
    k = plan.updates
    kernel = Kernel(hub, log_dir, timeout=deadline.cap(60, reserve=10))
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "tqdm": []}
    out: dict[str, Any] = {"updates": k}
    try:
        out["kernel_pid"] = kernel.pid
        setup = kernel.execute(SETUP, deadline.cap(60, reserve=8))
        out["setup"] = {"iopub": setup["iopub"], **setup["result"]}
        failures: list[str] = []
        for rep in range(plan.kernel_repeats):
            if rep and deadline.left() < 25:
                print("  kernel: the run's time cap is near, repeats skipped", flush=True)
                break
            for system in ("ours", "tqdm") if rep % 2 == 0 else ("tqdm", "ours"):
                try:
                    entry = kernel_once(kernel, hub, system, k, rep, deadline)
                except (TimeoutError, RuntimeError) as exc:
                    message = f"repeat {rep + 1} {system}: {type(exc).__name__}: {exc}"
                    print(f"  kernel {message}", flush=True)
                    failures.append(message)
                    if not kernel.responds(deadline.cap(15, reserve=5)):
                        raise RuntimeError(f"the kernel stopped answering: {message}") from exc
                    continue
                runs[system].append(entry)
                print(f"  kernel repeat {rep + 1} {system:4}: {describe_kernel(entry)}", flush=True)
        if failures:
            out["failures"] = failures
    finally:
        kernel.shutdown()
        out["kernel_alive_after_shutdown"] = kernel.km.is_alive()
    for system, entries in runs.items():
        if not entries:
            continue
        summary: dict[str, Any] = {"runs": entries}
        for key in (
            "update_us",
            "update_cpu_us",
            "update_with_flush_us",
            "create_us",
            "end_to_end_ms",
            "iopub_per_update",
            "comm_per_update",
        ):
            values = [e[key] for e in entries if e.get(key) is not None]
            if values:
                summary[key] = statistics.median(values)
        if system == "ours":
            summary["all_delivered"] = all(
                e["hub_events_received"] == e["hub_events_expected"] for e in entries
            )
        out[system] = summary
    if out.get("ours") and out.get("tqdm") and out["tqdm"].get("update_us"):
        out["ratio"] = out["ours"]["update_us"] / out["tqdm"]["update_us"]
    return out


def describe_kernel(entry: dict[str, Any]) -> str:
    text = f"{entry['update_us']:.2f} us/update ({entry['update_cpu_us']:.2f} CPU)"
    if "update_with_flush_us" in entry:
        text += (
            f" ({entry['update_with_flush_us']:.2f} with flush; {entry['batches']} POSTs), "
            f"hub delivered {entry['hub_events_received']}/{entry['hub_events_expected']} events"
        )
    content = {t: c for t, c in entry["iopub_update"].items() if t not in FRAMING}
    text += f"; IOPub during updates: {content or 'none'}"
    if entry.get("end_to_end_ms") is not None:
        text += f"; last update seen {entry['end_to_end_ms']:.0f} ms after the loop started"
    return text


# -- report ---------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(loops: dict[str, Any], kernel: dict[str, Any]) -> None:
    if loops:
        print(
            f"\nloop overhead per step, ns (median of {loops['repeats']} interleaved repeats, "
            f"N = {loops['steps']:,}; overhead = (time - bare) / N)"
        )
        header = f"{'':34} {'bare loop':>10} {'ours':>8} {'tqdm':>8} {'ours/tqdm':>10}"
        print(f"{header}\n{'-' * len(header)}")
        labels = {
            "range": "for _ in bar(range(N))",
            "generator": "for _ in bar(generator)",
            "manual": "bar.update() per step",
        }
        for form in FORMS:
            row = loops["forms"][form]
            ratio = fmt(row["ratio"], ".2f") + "x" if row["ratio"] is not None else "-"
            print(
                f"{labels[form]:34} {row['bare_ns']:>10.1f} {row['ours_overhead_ns']:>8.1f} "
                f"{row['tqdm_overhead_ns']:>8.1f} {ratio:>10}"
            )
        for form in FORMS:
            ratio = loops["forms"][form]["ratio"]
            if ratio is None:
                verdict = "not measured"
            elif ratio <= TARGETS["loop_ratio_aim"]:
                verdict = "MET (and the 0.5x aim)"
            elif ratio <= TARGETS["loop_ratio_max"]:
                verdict = "MET (not the 0.5x aim)"
            else:
                verdict = "MISSED"
            print(f"target {form}: ours/tqdm <= 1.0x -> {fmt(ratio, '.2f')}x {verdict}")
    if kernel.get("ours") or kernel.get("tqdm"):
        k = kernel["updates"]
        ours, tq = kernel.get("ours", {}), kernel.get("tqdm", {})
        print(
            f"\nin a kernel: K = {k:,} updates with mininterval=0 (medians of "
            f"{len(ours.get('runs', []))} runs)"
        )
        header = f"{'':44} {'ours':>12} {'tqdm.notebook':>14}"
        print(f"{header}\n{'-' * len(header)}")
        rows = [
            ("per update, in the kernel (us)", "update_us", ".2f"),
            ("  of which CPU of the kernel's main thread", "update_cpu_us", ".2f"),
            ("per update, including flush (us)", "update_with_flush_us", ".2f"),
            ("IOPub messages per update", "iopub_per_update", ".2f"),
            ("comm_msg per update", "comm_per_update", ".2f"),
            ("creating the bar (us)", "create_us", ".0f"),
            ("loop start -> last update received (ms)", "end_to_end_ms", ".1f"),
        ]
        for label, key, spec in rows:
            print(f"{label:44} {fmt(ours.get(key), spec):>12} {fmt(tq.get(key), spec):>14}")
        if "ratio" in kernel:
            print(f"ratio ours / tqdm.notebook, per update: {kernel['ratio']:.3f}x")
        if ours:
            print(f"hub received every event of ours: {ours.get('all_delivered')}")
            us, msgs = ours.get("update_us"), ours.get("iopub_per_update")
            ok = us is not None and us < TARGETS["kernel_us"]
            print(
                f"target kernel: ours < {TARGETS['kernel_us']:g} us per update -> "
                f"{fmt(us, '.2f')} us {'MET' if ok else 'MISSED'}; IOPub messages per update "
                f"-> {fmt(msgs, '.2f')} {'MET' if msgs == 0 else 'MISSED'}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N and K: a < 30 s run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_progress.json")
    parser.add_argument("--skip-kernel", action="store_true", help="only the loop overhead")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    deadline = Deadline(plan.total_cap)
    started = time.time()
    print(
        f"sse_widgets progress benchmark ({'quick' if args.quick else 'full'}), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    import tqdm

    loops: dict[str, Any] = {}
    kernel: dict[str, Any] = {}
    errors: dict[str, str] = {}
    hub = HubProcess(secrets.token_hex(16), log_dir, timeout=deadline.cap(30))
    try:
        print(f"  hub pid {hub.proc.pid} at {hub.url}", flush=True)
        try:
            loops = run_loops(plan, hub, deadline)
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"  loops: FAILED: {exc}", flush=True)
            errors["loops"] = str(exc)
        if not args.skip_kernel:
            try:
                kernel = run_kernel(plan, hub, log_dir, deadline)
            except (RuntimeError, TimeoutError, OSError, KeyError, ValueError) as exc:
                print(f"  kernel: FAILED: {type(exc).__name__}: {exc}", flush=True)
                errors["kernel"] = f"{type(exc).__name__}: {exc}"
    finally:
        hub.stop()
    print_tables(loops, kernel)
    report = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tqdm": tqdm.__version__,
        },
        "plan": dataclasses.asdict(plan),
        "targets": TARGETS,
        "results": {"loops": loops, "kernel": kernel},
        "errors": errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results written to {args.out} ({report['duration_s']} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
