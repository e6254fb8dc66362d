"""Benchmark the Redis backend: fan-out through two processes on one Redis, against one process
on the memory backend, in the same run.

Systems (every process on 127.0.0.1, started by this script and killed by PID at the end):

- ``memory``: ONE ``sse-widgets serve`` process on the memory backend (the default).
- ``redis``: TWO ``sse-widgets serve --backend redis://127.0.0.1:PORT/0`` processes, A and B,
  on one ``redis-server`` that this script starts on a free port, without persistence (no RDB
  snapshots, no AOF), through ``tests/redis_server.py``.

Every serve process gets the same settings as ``bench_hub.py``'s server (at most 20,000
subscribers, a 256 MiB send buffer per subscriber, so that no subscriber is cut off) and
otherwise the defaults (``coalesce_ms`` = 10, a history of 1,000 events per channel unless
``--history-size`` says otherwise).

The load is the same for both. Subscribers are always two ``_roles.py subscribe`` processes of
S / 2 connections each: for ``memory`` both on the one server, for ``redis`` one on A and one
on B. The publisher is one ``_roles.py publish`` process (``sse_widgets.Publisher``) on the
memory server or on A; each event's data carries its step number (0, 1, 2, ...).

1. Publish: E events, nobody subscribed; events/s accepted and server / redis-server CPU per
   event.
2. Fan-out to S = 100 and 1,000 subscribers of one channel: when all are open, the publisher
   sends E events as fast as it can; the clock runs from the first publish until every
   subscriber has every event (or a time cap). deliveries/s = events received / elapsed.
   Repeated three times (full run), the order of the systems alternating; pooled.
3. Paced: S subscribers (1,000, then 100), one event every 10 ms for 5 s, each its own
   ``Publisher.send`` carrying ``time.time()``; every K-th connection (about 20 per run) reads
   at once and records receipt minus publish time; the others pause 0.2 s between reads.

Measured every time: server CPU (user + system, from ``/proc/<pid>/stat``) summed over the
serve processes, redis-server's CPU separately, and per delivery (or per event); the subscriber
processes' CPU. Every subscriber checks its events: every step, once, in order (``_roles.py
--check-order``). A missing, late or duplicated event, a ``reset`` event, a dropped connection,
an event the publisher could not get accepted, or a subscriber still incomplete at the time cap
makes the measurement a FAILURE, shown as such and not as a figure (exit status 1). A
subscriber process stops waiting at the time cap, or 5 s after its last event once events
arrived (lost events never come; the check says which are missing).

Prints a table (memory, redis, ratio redis / memory) and writes
``benchmarks/results/bench_redis.json``. The whole run is capped (6 minutes; 60 s with
``--quick``).

    .venv/bin/python benchmarks/bench_redis.py            # full run, about 1.5 minutes
    .venv/bin/python benchmarks/bench_redis.py --quick    # smoke run, about 15 s (< 60 s)
    .venv/bin/python benchmarks/bench_redis.py --history-size 20000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT / "tests"))  # tests/redis_server.py: a redis-server on a free port

from _provenance import code_version  # noqa: E402
from _roles import latency_summary  # noqa: E402
from bench_hub import Child, cpu_seconds  # noqa: E402

SYSTEMS = ("memory", "redis")
#: Settings of every serve process (as bench_hub.py's server): nobody is cut off.
SERVE_SETTINGS = ("--SSEWidgets.max_subscribers=20000", "--buffer-bytes", str(256 * 1024 * 1024))
#: A subscriber process stops waiting once events arrived and then none for this long (s).
IDLE_STOP = 5.0


@dataclass(frozen=True)
class Plan:
    publish_events: int
    fanout: tuple[tuple[int, int], ...]  # (subscribers, events)
    fanout_cap: float  # seconds per fan-out measurement
    repeats: int  # fan-out measurements per system, pooled
    paced_subscribers: tuple[int, ...]
    paced_rate: float  # events/s
    paced_duration: float  # seconds of publishing
    paced_drain: float  # seconds allowed after the last publish
    paced_samples: int  # latency-sampled connections per paced run (about)
    paced_read_delay: float  # seconds the other connections pause between reads
    total_cap: float  # seconds for the whole run


FULL = Plan(
    publish_events=50_000,
    fanout=((100, 10_000), (1000, 2_000)),
    fanout_cap=45.0,
    repeats=3,
    paced_subscribers=(1000, 100),
    paced_rate=100.0,
    paced_duration=5.0,
    paced_drain=15.0,
    paced_samples=20,
    paced_read_delay=0.2,
    total_cap=360.0,
)
QUICK = Plan(
    publish_events=5_000,
    fanout=((100, 1_000), (1000, 200)),
    fanout_cap=8.0,
    repeats=1,
    paced_subscribers=(1000,),
    paced_rate=100.0,
    paced_duration=2.0,
    paced_drain=5.0,
    paced_samples=20,
    paced_read_delay=0.2,
    total_cap=60.0,
)


class Serve:
    """One ``sse-widgets serve`` process (of this checkout) on a free loopback port."""

    def __init__(
        self, name: str, token: str, backend: str, log_dir: Path, runtime: Path, extra: list[str]
    ) -> None:
        self.name = name
        args = [sys.executable, "-m", "sse_widgets.cli", "serve", "--port", "0"]
        args += ["--token", token, *SERVE_SETTINGS, *extra]
        if backend != "memory":
            args += ["--backend", backend]
        env = dict(os.environ, PYTHONPATH=str(ROOT), JUPYTER_RUNTIME_DIR=str(runtime))
        env.pop("SSE_WIDGETS_URL", None)
        with open(log_dir / f"bench_redis-{name}.log", "w") as log:  # the child keeps a copy
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,  # python -m puts the working directory first on sys.path
            )
        self.log_path = log_dir / f"bench_redis-{name}.log"
        self.url = self._wait_url(runtime / f"sse-widgets-{self.proc.pid}.json", 30.0)

    def _wait_url(self, announce: Path, timeout: float) -> str:
        """The URL from the runtime file serve writes once it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                return str(json.loads(announce.read_text())["url"])
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        raise TimeoutError(f"{self.name}: not serving within {timeout:.0f} s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@dataclass
class System:
    """The serve processes of one system; subscribers go half to ``sub_urls[0]``, half to
    ``sub_urls[1]``; the publisher to ``servers[0]``."""

    name: str
    servers: list[Serve]
    redis_pid: int | None = None

    @property
    def sub_urls(self) -> list[str]:
        return [self.servers[0].url, self.servers[-1].url]

    def cpu(self) -> dict[str, float | None]:
        """CPU seconds so far of each serve process and of redis-server."""
        cpu = {s.name: cpu_seconds(s.pid) for s in self.servers}
        if self.redis_pid is not None:
            cpu["redis-server"] = cpu_seconds(self.redis_pid)
        return cpu


def cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, Any]:
    """CPU seconds per process between two readings; ``servers``: the serve processes' sum."""
    used: dict[str, Any] = {}
    for name, start in before.items():
        end = after.get(name)
        used[name] = None if start is None or end is None else round(end - start, 4)
    servers = [v for k, v in used.items() if k != "redis-server"]
    used["servers"] = None if None in servers else round(sum(servers), 4)
    used["redis"] = used.get("redis-server")
    return used


class Bench:
    def __init__(self, plan: Plan, log_dir: Path, work: Path, serve_args: list[str]) -> None:
        self.plan = plan
        self.serve_args = serve_args
        self.log_dir = log_dir
        self.work = work
        self.token = secrets.token_hex(16)
        self.deadline = time.monotonic() + plan.total_cap
        self.children: list[Child] = []
        self.serves: list[Serve] = []
        self.redis: Any = None  # tests/redis_server.py RedisServer
        self.systems: dict[str, System] = {}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def cap(self, wanted: float) -> float:
        """A time cap that still leaves room to finish the run (at least one second)."""
        return max(1.0, min(wanted, self.left() - 10))

    # -- processes ------------------------------------------------------------------------

    def start(self) -> None:
        from redis_server import RedisServer

        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
        runtime = self.work / "runtime"
        (self.work / "redis").mkdir()
        self.redis = RedisServer(self.work / "redis")  # no RDB snapshots, no AOF
        self.redis.start()
        memory = self.serve("memory", "memory", runtime)
        a = self.serve("redis-A", self.redis.url, runtime)
        b = self.serve("redis-B", self.redis.url, runtime)
        self.systems = {
            "memory": System("memory", [memory]),
            "redis": System("redis", [a, b], self.redis.process.pid),
        }

    def serve(self, name: str, backend: str, runtime: Path) -> Serve:
        server = Serve(name, self.token, backend, self.log_dir, runtime, self.serve_args)
        self.serves.append(server)
        return server

    def spawn(self, name: str, *args: Any) -> Child:
        child = Child(
            f"bench_redis-{name}", [str(a) for a in args] + ["--token", self.token], self.log_dir
        )
        self.children.append(child)
        return child

    def reap(self, child: Child) -> None:
        child.kill()
        self.children.remove(child)

    def kill_all(self) -> None:
        for child in list(self.children):
            try:
                self.reap(child)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"could not stop {child.name}: {exc}", file=sys.stderr)
        for server in self.serves:
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001
                print(f"could not stop {server.name}: {exc}", file=sys.stderr)
        if self.redis is not None:
            self.redis.stop()

    # -- measurements ---------------------------------------------------------------------

    def publish(self, system: System, events: int) -> dict[str, Any]:
        """E events to a channel nobody reads: the publish path alone."""
        cap = self.cap(30.0)
        channel = f"pub-{secrets.token_hex(3)}"
        before = system.cpu()
        pub = self.spawn(
            f"publish-{system.name}",
            "publish",
            "--url",
            system.servers[0].url,
            "--channel",
            channel,
            "--events",
            events,
            "--cap",
            cap,
        )
        try:
            sent = json.loads(pub.expect(cap + 20))
        finally:
            self.reap(pub)
        cpu = cpu_used(before, system.cpu())
        elapsed = sent["t_end"] - sent["t_start"]
        accepted = sent["accepted"]
        problems = [] if accepted == events else [f"{accepted} of {events} events accepted"]
        return {
            **sent,
            "events": events,
            "count": accepted,
            "elapsed": elapsed,
            "rate": accepted / elapsed if elapsed > 0 else 0.0,
            "cpu": cpu,
            "problems": problems,
        }

    def run_load(
        self, system: System, label: str, n: int, events: int, cap: float, paced: bool
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """Open n subscribers (two processes), publish, wait: (subscriber results, publisher
        result, CPU used)."""
        plan = self.plan
        channel = f"{label}-{secrets.token_hex(3)}"
        common = ["--channel", channel, "--events", events]
        checks = ["--check-order", "--idle-stop", IDLE_STOP]
        extra: list[Any] = []
        if paced:
            every = max(1, n // plan.paced_samples)
            extra = ["--sample-every", every, "--read-delay", plan.paced_read_delay]
            extra.append("--raw-latencies")
        subs = []
        pub = None
        try:
            for i, url in enumerate(system.sub_urls):
                subs.append(
                    self.spawn(
                        f"subscribe-{system.name}-{label}-{i}",
                        "subscribe",
                        "--url",
                        url,
                        "--n",
                        n // 2 if i == 0 else n - n // 2,
                        *common,
                        *checks,
                        *extra,
                    )
                )
            for sub in subs:
                ready = sub.expect(min(90.0, self.left()))
                if not ready.startswith("READY "):
                    raise RuntimeError(f"subscribers said {ready!r}")
            before = system.cpu()
            go = f"GO {time.monotonic() + cap + (2.0 if paced else 1.0)}"
            for sub in subs:
                sub.send(go)
            rate = ["--rate", plan.paced_rate] if paced else []
            pub = self.spawn(
                f"publish-{system.name}-{label}",
                "publish",
                "--url",
                system.servers[0].url,
                "--cap",
                cap,
                *rate,
                *common,
            )
            got = [json.loads(sub.expect(cap + 20)) for sub in subs]
            cpu = cpu_used(before, system.cpu())
            sent = json.loads(pub.expect(cap + 20))
        finally:
            for child in [pub, *subs]:
                if child is not None:
                    self.reap(child)
        return got, sent, cpu

    def fanout(self, system: System, n: int, events: int) -> dict[str, Any]:
        cap = self.cap(self.plan.fanout_cap)
        got, sent, cpu = self.run_load(system, f"fan{n}", n, events, cap, paced=False)
        return summarize(got, sent, cpu, events)

    def paced(self, system: System, n: int) -> dict[str, Any]:
        plan = self.plan
        events = round(plan.paced_rate * plan.paced_duration)
        cap = self.cap(plan.paced_duration + plan.paced_drain)
        got, sent, cpu = self.run_load(system, f"paced{n}", n, events, cap, paced=True)
        result = summarize(got, sent, cpu, events)
        samples = [s for g in got for s in g.pop("latencies_ms", [])]
        result["latency"] = latency_summary([s / 1000 for s in samples])
        result["latency_per_process"] = [g.get("latency") for g in got]
        result["publish_rate"] = (
            (sent["sent"] - 1) / (sent["t_end"] - sent["t_start"])
            if sent["sent"] > 1 and sent["t_end"] > sent["t_start"]
            else None
        )
        result["publish_behind_max_s"] = sent.get("behind_max_s")
        return result


def summarize(
    got: list[dict[str, Any]], sent: dict[str, Any], cpu: dict[str, Any], events: int
) -> dict[str, Any]:
    """One measurement from its subscriber processes' and publisher's results."""
    subscribers = sum(g["subscribers"] for g in got)
    delivered = sum(g["delivered"] for g in got)
    expected = events * subscribers
    last_rx = max(g["last_rx"] for g in got)
    elapsed = last_rx - sent["t_start"] if delivered else 0.0
    order = [g["order"] for g in got]
    problems = []
    if sent["accepted"] != events:
        problems.append(f"the hub accepted {sent['accepted']} of {events} events")
    missing = sum(o["missing"] for o in order)
    late = sum(o["late"] for o in order)
    duplicates = sum(o["duplicates"] for o in order)
    exact = sum(o["exact"] for o in order)
    if missing or late or duplicates:
        examples = [p for o in order for p in o["first_problems"]][:3]
        problems.append(
            f"{subscribers - exact} of {subscribers} subscribers wrong: {missing:,} events "
            f"missing, {late:,} out of order, {duplicates:,} duplicated (e.g. {examples})"
        )
    others: dict[str, int] = {}
    for o in order:
        for name, count in o["other_events"].items():
            others[name] = others.get(name, 0) + count
    if others:
        problems.append(f"unexpected events {others}")
    lost = sum(g["lost"] for g in got)
    if lost:
        problems.append(f"{lost} connections closed by the server")
    complete = sum(g["complete"] for g in got)
    if complete < subscribers and not missing:
        problems.append(f"{subscribers - complete} subscribers incomplete at the time cap")
    return {
        "subscribers": subscribers,
        "events": events,
        "published": sent["accepted"],
        "publish_elapsed": sent["t_end"] - sent["t_start"],
        "publisher_batches": sent.get("batches"),
        "delivered": delivered,
        "expected": expected,
        "complete": complete,
        "exact": exact,
        "count": delivered,
        "elapsed": elapsed,
        "rate": delivered / elapsed if elapsed > 0 else 0.0,
        "cpu": cpu,
        "client_cpu_s": round(sum(g["client_cpu_s"] for g in got), 3),
        "problems": problems,
        "per_process": got,
    }


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from repeated runs: total count / total time, CPU per count."""
    count = sum(r["count"] for r in runs)
    elapsed = sum(r["elapsed"] for r in runs)
    entry: dict[str, Any] = {
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "count": count,
        "elapsed": elapsed,
        "run_rates": [round(r["rate"]) for r in runs],
        "problems": list(dict.fromkeys(p for r in runs for p in r["problems"])),
        "failed_runs": sum(bool(r["problems"]) for r in runs),
    }
    for key in ("servers", "redis"):
        cpu = [r["cpu"].get(key) for r in runs]
        entry[f"{key}_cpu_us"] = None if None in cpu or not count else 1e6 * sum(cpu) / count
    per_process: dict[str, float] = {}
    for r in runs:
        for name, used in r["cpu"].items():
            if name not in ("servers", "redis") and used is not None:
                per_process[name] = per_process.get(name, 0.0) + used
    entry["cpu_us_per_process"] = {
        name: round(1e6 * used / count, 3) if count else None for name, used in per_process.items()
    }
    entry["runs"] = runs
    return entry


# -- output ---------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return f"{b / a:.2f}x" if a and b is not None else "-"


def num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: dict[str, dict[str, Any]], paced: dict[str, dict[str, Any]]) -> None:
    header = f"{'':38} {'memory (1 proc)':>16} {'redis (2 procs)':>16} {'redis/memory':>13}"
    print(f"\n{header}\n{'-' * len(header)}")

    def line(label: str, cells: list[float | None], spec: str) -> None:
        shown = [num(c, spec) for c in cells]
        print(f"{label:38} {shown[0]:>16} {shown[1]:>16} {ratio(cells[0], cells[1]):>13}")

    def failed(label: str, entries: list[dict[str, Any] | None]) -> bool:
        bad = [
            f"{s}: {e['failed_runs']} of {len(e['runs'])} runs, e.g. {e['problems'][0]}"
            if e
            else f"{s}: not measured"
            for s, e in zip(SYSTEMS, entries, strict=True)
            if not e or e["problems"]
        ]
        if bad:
            print(f"{label:38} FAILED: {' | '.join(bad)}")
        return bool(bad)

    for key, row in rows.items():
        entries = [row.get(s) for s in SYSTEMS]
        label = "publish (events/s)" if key == "publish" else f"{row_label(key)} (deliveries/s)"
        if failed(label, entries):
            continue
        line(label, [e["rate"] for e in entries], ",.0f")
        unit = "event" if key == "publish" else "delivery"
        line(f"  serve CPU per {unit} (us)", [e["servers_cpu_us"] for e in entries], ".2f")
        redis_us = entries[1]["redis_cpu_us"]
        print(
            f"{'  redis-server CPU per ' + unit + ' (us)':38} {'':>16} {num(redis_us, '.2f'):>16}"
        )
    for key, row in paced.items():
        entries = [row.get(s) for s in SYSTEMS]
        n = int(key.removeprefix("paced_"))
        label = f"paced, {n:,} subs: serve CPU/delivery (us)"
        if failed(label, entries):
            continue
        line(label, [e["servers_cpu_us"] for e in entries], ".2f")
        redis_us = entries[1]["redis_cpu_us"]
        print(f"{'  redis-server CPU per delivery (us)':38} {'':>16} {num(redis_us, '.2f'):>16}")
        for q in ("p50", "p99"):
            cells = [e["latency"][f"{q}_ms"] for e in entries]
            line(f"  latency {q} (ms)", cells, ".1f")
        line("  published (events/s)", [e["publish_rate"] for e in entries], ".0f")
    print(
        "\n(serve CPU: summed over the serve processes, 1 for memory, A + B for redis; ratio > 1 "
        "means redis is higher;\n every subscriber got every event once and in order unless a "
        "row says FAILED)"
    )


def row_label(key: str) -> str:
    return f"fan-out {int(key.split('_')[1]):,} subs"


def describe(system: str, key: str, entry: dict[str, Any]) -> str:
    cpu = entry["cpu"]
    cpus = ", ".join(
        f"{k} {v:.2f}" for k, v in cpu.items() if k not in ("servers", "redis") and v is not None
    )
    problems = f" PROBLEMS: {'; '.join(entry['problems'])}" if entry["problems"] else ""
    if key == "publish":
        return (
            f"  {system:6} publish: {entry['count']:,} events in {entry['elapsed']:.2f} s = "
            f"{entry['rate']:,.0f}/s; CPU s: {cpus}{problems}"
        )
    text = (
        f"  {system:6} {key}: {entry['delivered']:,} of {entry['expected']:,} deliveries "
        f"({entry['exact']}/{entry['subscribers']} exact) in {entry['elapsed']:.2f} s = "
        f"{entry['rate']:,.0f}/s; publishing took {entry['publish_elapsed']:.2f} s; CPU s: "
        f"{cpus}; clients {entry['client_cpu_s']:.2f}"
    )
    if "latency" in entry:
        lat = entry["latency"]
        text += (
            f"; latency p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms "
            f"({lat['n']:,} samples)"
        )
    return text + problems


def paced_entry(result: dict[str, Any]) -> dict[str, Any]:
    entry = pooled([result])
    for k in ("latency", "publish_rate", "publish_behind_max_s"):
        entry[k] = result.get(k)
    return entry


def measure(label: str, run: Any, *args: Any) -> dict[str, Any]:
    """``run(*args)``, or a failed measurement saying what went wrong (the run goes on)."""
    try:
        result: dict[str, Any] = run(*args)
        print(describe(args[0].name, label, result), flush=True)
    except (RuntimeError, TimeoutError, ValueError, KeyError) as exc:
        print(f"  {args[0].name:6} {label}: FAILED: {exc}", flush=True)
        result = {"count": 0, "elapsed": 0.0, "rate": 0.0, "cpu": {}, "problems": [str(exc)]}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a < 60 s smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_redis.json")
    parser.add_argument(
        "--history-size",
        type=int,
        metavar="N",
        help="events kept per channel, every serve process (default: serve's, 1,000)",
    )
    parser.add_argument(
        "--coalesce-ms",
        type=float,
        metavar="MS",
        help="c.SSEWidgets.coalesce_ms of every serve process (default: serve's, 10)",
    )
    parser.add_argument("--paced-only", action="store_true", help="run only the paced scenario")
    args = parser.parse_args()
    serve_args = [] if args.history_size is None else ["--history-size", str(args.history_size)]
    if args.coalesce_ms is not None:
        serve_args.append(f"--SSEWidgets.coalesce_ms={args.coalesce_ms:g}")
    mode = ("quick" if args.quick else "full") + (" paced-only" if args.paced_only else "")
    plan = QUICK if args.quick else FULL
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    paced: dict[str, dict[str, Any]] = {}
    started = time.time()
    load_before = os.getloadavg()
    print(
        f"sse_widgets Redis fan-out benchmark ({mode}; serve options: "
        f"{' '.join(serve_args) or 'defaults'}), "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f}, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_redis-") as work:
        bench = Bench(plan, log_dir, Path(work), serve_args)
        try:
            bench.start()
            for name in () if args.paced_only else SYSTEMS:
                result = measure("publish", bench.publish, bench.systems[name], plan.publish_events)
                rows.setdefault("publish", {})[name] = pooled([result])
            for n, events in () if args.paced_only else plan.fanout:
                key = f"fanout_{n}"
                runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
                for repeat in range(plan.repeats):
                    if repeat and bench.left() < 60:
                        break
                    order = SYSTEMS if repeat % 2 == 0 else SYSTEMS[::-1]
                    for name in order:
                        system = bench.systems[name]
                        runs[name].append(measure(key, bench.fanout, system, n, events))
                rows[key] = {name: pooled(r) for name, r in runs.items()}
            for n in plan.paced_subscribers:
                if bench.left() < 2 * (plan.paced_duration + plan.paced_drain) + 30:
                    print(f"  paced {n}: skipped, the run's time cap is near", flush=True)
                    continue
                key = f"paced_{n}"
                paced[key] = {}
                for name in SYSTEMS:
                    result = measure(key, bench.paced, bench.systems[name], n)
                    paced[key][name] = paced_entry(result)
        finally:
            bench.kill_all()
    print_table(rows, paced)
    failures = [
        f"{key} {name}: {problem}"
        for group in (rows, paced)
        for key, row in group.items()
        for name, entry in row.items()
        for problem in entry["problems"]
    ]
    report = {
        "mode": mode,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "code": code_version(),
        "serve_args": [*SERVE_SETTINGS, *serve_args],
        "plan": dataclasses.asdict(plan),
        "results": {**rows, **paced},
        "failures": failures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results written to {args.out}")
    if failures:
        print(f"{len(failures)} FAILURE(S):", *failures, sep="\n  ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
