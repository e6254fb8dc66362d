"""Benchmark the sse_widgets hub against a naive Tornado SSE server, side by side.

What it measures, in one run, for both systems (each server is its own process; publishers and
subscribers are separate processes too, all on 127.0.0.1):

1. Publish throughput: events per second the server accepts from one publisher process.
   Ours: ``sse_widgets.Publisher(url, token)`` (background thread batching NDJSON
   ``POST api/events`` over one keep-alive connection): ``send`` N events, then ``flush()``;
   the clock runs from the first ``send`` until ``flush`` returns. Baseline: one HTTP POST
   per event over a keep-alive ``http.client.HTTPConnection``, bounded by a count and a time
   cap; rate = events answered / time taken.
2. Fan-out to 1, 100 and 1,000 concurrent SSE subscribers: one subscriber process opens the
   streams and counts event frames; once all are open, a publisher process publishes E events
   as fast as its API allows. The clock runs from the first publish until every subscriber has
   all E events (or a time cap; then what arrived counts and the row is marked capped).
   deliveries/s = events received summed over subscribers / elapsed.
3. Paced: 1,000 subscribers, one publisher sending single events at a steady 100 events/s for
   5 s, each its own publish call (ours: one ``Publisher.send``, the publisher batching whatever
   is pending; baseline: one POST). Measures server CPU per delivery, the deliveries completed
   (within a drain cap after the last publish) and the latency from the publish call to receipt:
   each event carries ``time.time()`` at publish, and every 50th subscriber connection records
   receipt minus that (same machine, same clock); those read at once, the others pause 0.2 s
   between reads to spare the shared CPU. Ours runs twice: with the default
   ``coalesce_ms`` (10 ms) and on a second hub started with ``--SSEWidgets.coalesce_ms=0``.

The baseline server (``_roles.py naive-server``) is the idiomatic simple design: a POST handler
taking one JSON event, encoding its frame once, and putting it into one ``asyncio.Queue`` per
subscriber; a GET handler per subscriber looping ``await queue.get()``, ``write``, ``await
flush()``. Same frame format, same token check.

Prints a table (ours, baseline, ratio ours / baseline), then the paced table, and writes
``benchmarks/results/bench_hub.json``. Every wait is bounded; the whole run is capped at five
minutes (100 s with ``--quick``), and every process it started is killed in a ``finally``.

    .venv/bin/python benchmarks/bench_hub.py            # full run
    .venv/bin/python benchmarks/bench_hub.py --quick    # smoke run, < 100 s
    .venv/bin/python benchmarks/bench_hub.py --paced-only --paced-subscribers 100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import queue
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROLES = HERE / "_roles.py"
RESULTS = HERE / "results"

#: Acceptance targets of the issue: ratio ours / baseline.
TARGETS = {"publish": 20.0, "fanout_1000": 3.0}


@dataclass(frozen=True)
class Plan:
    publish_ours: int  # events for our publisher
    publish_naive: int  # events for the baseline (bounded by publish_cap too)
    publish_cap: float  # seconds
    fanout: tuple[tuple[int, int], ...]  # (subscribers, events)
    fanout_cap: float  # seconds per fan-out measurement
    total_cap: float  # seconds for the whole run
    #: Our measurements last about a second, the baseline's 5-45 s: ours is repeated and
    #: pooled (total count / total time), so a burst of noise weighs on both alike.
    repeats_ours: int
    paced_subscribers: int
    paced_rate: float  # events/s
    paced_duration: float  # seconds of publishing
    paced_drain: float  # seconds allowed after the last publish for deliveries to complete
    paced_sample_every: int  # latency from every K-th subscriber connection (reads at once)
    #: The other connections pause this long between reads (seconds), so that each read takes
    #: several frames: the subscriber process shares the machine with the server under test.
    paced_read_delay: float


FULL = Plan(
    publish_ours=50_000,
    publish_naive=10_000,
    publish_cap=5.0,
    fanout=((1, 20_000), (100, 10_000), (1000, 2_000)),
    fanout_cap=45.0,
    total_cap=300.0,
    repeats_ours=3,
    paced_subscribers=1000,
    paced_rate=100.0,
    paced_duration=5.0,
    paced_drain=15.0,
    paced_sample_every=50,
    paced_read_delay=0.2,
)
QUICK = Plan(
    publish_ours=5_000,
    publish_naive=1_000,
    publish_cap=3.0,
    fanout=((1, 2_000), (100, 1_000), (1000, 200)),
    fanout_cap=8.0,
    total_cap=100.0,
    repeats_ours=1,
    paced_subscribers=1000,
    paced_rate=100.0,
    paced_duration=2.0,
    paced_drain=5.0,
    paced_sample_every=50,
    paced_read_delay=0.2,
)

#: The paced scenario's systems: (label, server key, extra server arguments).
PACED_SYSTEMS = (
    ("ours", "ours", ()),
    ("ours_coalesce0", "ours-coalesce0", ("--SSEWidgets.coalesce_ms=0",)),
    ("naive", "naive", ()),
)


class Child:
    """A process we started: its stdout lines arrive on a queue; stderr goes to a log file."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROLES), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, timeout: float) -> str:
        """The next stdout line, waiting at most ``timeout`` seconds."""
        try:
            line = self.lines.get(timeout=max(0.1, timeout))
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"{self.name} exited ({self.proc.wait(5)}); see {self.log.name}")
        return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.log.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, plan: Plan, log_dir: Path) -> None:
        self.plan = plan
        self.log_dir = log_dir
        self.token = secrets.token_hex(16)
        self.deadline = time.monotonic() + plan.total_cap
        self.children: list[Child] = []
        self.urls: dict[str, str] = {}
        self.servers: dict[str, Child] = {}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def spawn(self, name: str, *args: Any) -> Child:
        child = Child(name, [str(a) for a in args] + ["--token", self.token], self.log_dir)
        self.children.append(child)
        return child

    def reap(self, child: Child) -> None:
        child.kill()
        self.children.remove(child)

    def start_server(self, key: str, *extra: str) -> None:
        """Start a server ("ours", "naive" or a variant of ours with trait arguments)."""
        role = "naive-server" if key == "naive" else "ours-server"
        server = self.spawn(f"{key}-server", role, *extra)
        ready = server.expect(30)
        if not ready.startswith("READY "):
            raise RuntimeError(f"{key} server said {ready!r}")
        self.urls[key] = ready.split()[1]
        self.servers[key] = server

    def stop_server(self, key: str) -> None:
        self.urls.pop(key, None)
        server = self.servers.pop(key, None)
        if server is not None:
            self.reap(server)

    def start_servers(self) -> None:
        for key in ("ours", "naive"):
            self.start_server(key)

    def server_cpu(self, system: str) -> float | None:
        return cpu_seconds(self.servers[system].proc.pid)

    @staticmethod
    def cpu_used(before: float | None, after: float | None) -> float | None:
        return None if before is None or after is None else after - before

    def cap(self, wanted: float) -> float:
        """A time cap that still leaves room to finish the run (at least one second)."""
        return max(1.0, min(wanted, self.left() - 10))

    def publish(self, system: str, events: int) -> dict[str, Any]:
        cap = self.cap(self.plan.publish_cap if system == "naive" else 30.0)
        cpu_before = self.server_cpu(system)
        pub = self.spawn(
            f"publish-{system}",
            "publish",
            "--system",
            system,
            "--url",
            self.urls[system],
            "--channel",
            "pub-rate",
            "--events",
            events,
            "--cap",
            cap,
        )
        try:
            result = json.loads(pub.expect(cap + 20))
        finally:
            self.reap(pub)
        elapsed = result["t_end"] - result["t_start"]
        cpu_s = self.cpu_used(cpu_before, self.server_cpu(system))
        return {**result, "count": result["accepted"], "elapsed": elapsed, "cpu_s": cpu_s}

    def fanout(self, system: str, subscribers: int, events: int) -> dict[str, Any]:
        channel = f"fan-{subscribers}-{secrets.token_hex(3)}"
        common = ["--url", self.urls[system], "--channel", channel, "--events", events]
        subs = self.spawn(
            f"subscribe-{system}-{subscribers}", "subscribe", "--n", subscribers, *common
        )
        pub = None
        try:
            ready = subs.expect(min(90.0, self.left()))
            if not ready.startswith("READY "):
                raise RuntimeError(f"subscribers said {ready!r}")
            cap = self.cap(self.plan.fanout_cap)
            cpu_before = self.server_cpu(system)
            subs.send(f"GO {time.monotonic() + cap + 1.0}")
            pub = self.spawn(
                f"publish-{system}-fan{subscribers}",
                "publish",
                "--system",
                system,
                "--cap",
                cap,
                *common,
            )
            got = json.loads(subs.expect(cap + 20))
            cpu_after = self.server_cpu(system)
            sent = json.loads(pub.expect(cap + 20))
        finally:
            for child in (pub, subs):
                if child is not None:
                    self.reap(child)
        elapsed = got["last_rx"] - sent["t_start"] if got["delivered"] else 0.0
        return {
            **got,
            "events": events,
            "published": sent["accepted"],
            "publish_elapsed": sent["t_end"] - sent["t_start"],
            "count": got["delivered"],
            "elapsed": elapsed,
            "capped": got["complete"] < got["subscribers"],
            "cpu_s": self.cpu_used(cpu_before, cpu_after),
        }

    def paced(self, key: str) -> dict[str, Any]:
        """The paced scenario against the server ``key``; see the module docstring."""
        plan = self.plan
        system = "naive" if key == "naive" else "ours"
        n, events = plan.paced_subscribers, round(plan.paced_rate * plan.paced_duration)
        channel = f"paced-{secrets.token_hex(3)}"
        common = ["--url", self.urls[key], "--channel", channel, "--events", events]
        subs = self.spawn(
            f"subscribe-{key}-paced",
            "subscribe",
            "--n",
            n,
            "--sample-every",
            plan.paced_sample_every,
            "--read-delay",
            plan.paced_read_delay,
            *common,
        )
        pub = None
        try:
            ready = subs.expect(min(90.0, self.left()))
            if not ready.startswith("READY "):
                raise RuntimeError(f"subscribers said {ready!r}")
            cap = self.cap(plan.paced_duration + plan.paced_drain)
            cpu_before = self.server_cpu(key)
            subs.send(f"GO {time.monotonic() + cap + 2.0}")
            pub = self.spawn(
                f"publish-{key}-paced",
                "publish",
                "--system",
                system,
                "--rate",
                plan.paced_rate,
                "--cap",
                cap,
                *common,
            )
            got = json.loads(subs.expect(cap + 20))
            cpu_after = self.server_cpu(key)
            sent = json.loads(pub.expect(cap + 20))
        finally:
            for child in (pub, subs):
                if child is not None:
                    self.reap(child)
        cpu_s = self.cpu_used(cpu_before, cpu_after)
        expected = sent["accepted"] * got["subscribers"]
        # Busy share over the publishing window up to the last delivery.
        window = got["last_rx"] - sent["t_start"] if got["delivered"] else 0.0
        return {
            **got,
            "events": events,
            "published": sent["accepted"],
            "publish_elapsed": sent["t_end"] - sent["t_start"],
            # Achieved rate: a publish call that blocks (the baseline's POST) can fall behind.
            "publish_rate": (sent["sent"] - 1) / (sent["t_end"] - sent["t_start"])
            if sent["sent"] > 1 and sent["t_end"] > sent["t_start"]
            else None,
            "publish_behind_max_s": sent["behind_max_s"],
            "publisher_batches": sent.get("batches"),
            "expected": expected,
            "capped": got["delivered"] < expected,
            "window_s": window,
            "cpu_s": cpu_s,
            "cpu_us": 1e6 * cpu_s / got["delivered"]
            if cpu_s is not None and got["delivered"]
            else None,
            "cpu_share": cpu_s / window if cpu_s is not None and window > 0 else None,
            "client_cpu_share": got["client_cpu_s"] / window if window > 0 else None,
        }

    def kill_all(self) -> None:
        for child in list(self.children):
            try:
                self.reap(child)
            except Exception as exc:  # noqa: BLE001 - keep killing the others
                print(f"could not stop {child.name}: {exc}", file=sys.stderr)


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from repeated runs: total count / total time (and server CPU per count)."""
    count = sum(r["count"] for r in runs)
    elapsed = sum(r["elapsed"] for r in runs)
    cpu = [r["cpu_s"] for r in runs]
    return {
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "cpu_us": None if None in cpu or not count else 1e6 * sum(cpu) / count,
        "capped": any(r.get("capped") for r in runs),
        "count": count,
        "elapsed": elapsed,
        "run_rates": [r["count"] / r["elapsed"] if r["elapsed"] > 0 else 0.0 for r in runs],
        "runs": runs,
    }


def fmt_rate(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    mark = " (capped)" if entry.get("capped") else ""
    return f"{entry['rate']:>12,.0f}{mark}"


def row_label(key: str) -> str:
    if key == "publish":
        return "publish throughput (events/s)"
    return f"fan-out {int(key.split('_')[1]):>5,} subs (deliveries/s)"


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    header = f"{'':34} {'ours':>22} {'baseline':>22} {'ratio':>8}"
    print(f"\n{header}\n{'-' * len(header)}")
    for key, row in rows.items():
        times = f"{row['ratio']:.1f}x" if row.get("ratio") else "-"
        print(
            f"{row_label(key):34} {fmt_rate(row.get('ours')):>22} "
            f"{fmt_rate(row.get('naive')):>22} {times:>8}"
        )
    # Server CPU per event: less sensitive to a noisy machine than wall-clock rates.
    print(f"\nserver CPU per event / delivery (us){'':6} {'ours':>14} {'baseline':>22}")
    for key, row in rows.items():
        cells = [(row.get(s) or {}).get("cpu_us") for s in ("ours", "naive")]
        us = [f"{c:.2f}" if c is not None else "-" for c in cells]
        print(f"  {row_label(key).split(' (')[0]:39} {us[0]:>14} {us[1]:>22}")
    print()
    for key, target in TARGETS.items():
        ratio: float | None = rows.get(key, {}).get("ratio")
        verdict = "not measured" if ratio is None else ("MET" if ratio >= target else "MISSED")
        shown = "-" if ratio is None else f"{ratio:.1f}x"
        print(f"target {key}: >= {target:g}x baseline -> {shown} {verdict}")


PACED_LABELS = {
    "ours": "ours (coalesce_ms=10, default)",
    "ours_coalesce0": "ours (coalesce_ms=0)",
    "naive": "baseline",
}


def print_paced(paced: dict[str, Any], plan: Plan) -> None:
    if not paced:
        return
    events = round(plan.paced_rate * plan.paced_duration)
    print(
        f"\npaced: {plan.paced_subscribers:,} subscribers, {plan.paced_rate:g} events/s for "
        f"{plan.paced_duration:g} s ({events} single-event publishes); latency = receipt - "
        f"publish call, on 1 subscriber in {plan.paced_sample_every}"
    )
    header = (
        f"{'':31} {'CPU/delivery':>12} {'deliveries':>17} {'events/s':>8} {'server':>6} "
        f"{'client':>6} {'p50':>6} {'p99':>6}"
    )
    print(f"{header}\n{'-' * len(header)}")

    def cell(value: float | None, spec: str, scale: float = 1.0) -> str:
        return "-" if value is None else format(scale * value, spec)

    for label, _key, _extra in PACED_SYSTEMS:
        entry = paced.get(label)
        if not entry:
            print(f"{PACED_LABELS[label]:31} {paced.get(f'{label}_error', 'not measured')}")
            continue
        lat = entry["latency"]
        print(
            f"{PACED_LABELS[label]:31} {cell(entry['cpu_us'], '.2f'):>9} us "
            f"{entry['delivered']:>8,}/{entry['expected']:<8,} "
            f"{cell(entry['publish_rate'], '.0f'):>8} "
            f"{cell(entry['cpu_share'], '.0f', 100):>5}% "
            f"{cell(entry['client_cpu_share'], '.0f', 100):>5}% "
            f"{cell(lat['p50_ms'], '.1f'):>6} {cell(lat['p99_ms'], '.1f'):>6}"
        )
    print(
        "(CPU/delivery: server CPU time / deliveries; events/s: the rate the publisher achieved; "
        "server, client: CPU\n as % of one core from the first publish to the last delivery; "
        "p50, p99: latency in ms)"
    )


def describe_paced(label: str, entry: dict[str, Any]) -> str:
    lat = entry["latency"]
    return (
        f"  {label} paced: published {entry['published']} of {entry['events']} events, "
        f"{entry['delivered']:,} of {entry['expected']:,} deliveries "
        f"({entry['complete']}/{entry['subscribers']} complete); publishing took "
        f"{entry['publish_elapsed']:.2f} s (at most {1000 * entry['publish_behind_max_s']:.0f} ms"
        f" late), last delivery {entry['window_s']:.2f} s after the first publish; latency "
        f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms "
        f"({lat['n']:,} samples)"
    )


def describe(system: str, key: str, entry: dict[str, Any]) -> str:
    rate = entry["count"] / entry["elapsed"] if entry["elapsed"] > 0 else 0.0
    if key == "publish":
        return (
            f"  {system:5} publish: {entry['accepted']:,} events in {entry['elapsed']:.2f} s"
            f" = {rate:,.0f}/s"
        )
    return (
        f"  {system:5} {key}: {entry['delivered']:,} deliveries ({entry['complete']}/"
        f"{entry['subscribers']} complete, per-sub min {entry['min']}) in "
        f"{entry['elapsed']:.2f} s = {rate:,.0f}/s; publishing took "
        f"{entry['publish_elapsed']:.2f} s"
    )


def run_paced(bench: Bench) -> dict[str, Any]:
    """The paced scenario for each of PACED_SYSTEMS; a failure is recorded, not raised."""
    plan = bench.plan
    paced: dict[str, Any] = {}
    for label, key, extra in PACED_SYSTEMS:
        if bench.left() < plan.paced_duration + plan.paced_drain + 20:
            print(f"  {label} paced: skipped, the run's time cap is near", flush=True)
            continue
        try:
            if key not in bench.servers:
                bench.start_server(key, *extra)
            paced[label] = bench.paced(key)
            print(describe_paced(label, paced[label]), flush=True)
        except (RuntimeError, TimeoutError, ValueError, KeyError) as exc:
            print(f"  {label} paced: FAILED: {exc}", flush=True)
            paced[f"{label}_error"] = str(exc)
        finally:
            if extra:  # a variant started for this scenario only
                bench.stop_server(key)
    return paced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a < 100 s smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_hub.json")
    parser.add_argument("--paced-only", action="store_true", help="run only the paced scenario")
    parser.add_argument(
        "--paced-subscribers",
        type=int,
        metavar="N",
        help="subscribers of the paced scenario (default 1,000; latency then sampled on 20)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.paced_subscribers is not None:
        if not 1 <= args.paced_subscribers <= 5000:
            parser.error("--paced-subscribers must be between 1 and 5000")
        n = args.paced_subscribers
        plan = dataclasses.replace(plan, paced_subscribers=n, paced_sample_every=max(1, n // 20))
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    bench = Bench(plan, log_dir)
    rows: dict[str, dict[str, Any]] = {}
    paced: dict[str, Any] = {}
    started = time.time()
    print(
        f"sse_widgets hub benchmark ({'quick' if args.quick else 'full'}), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    try:
        bench.start_servers()
        scenarios: list[tuple[str, dict[str, Any]]] = [
            ("publish", {"ours": plan.publish_ours, "naive": plan.publish_naive})
        ]
        for subscribers, events in plan.fanout:
            scenarios.append((f"fanout_{subscribers}", {"n": subscribers, "events": events}))
        if args.paced_only:
            scenarios = []
        for key, spec in scenarios:
            row: dict[str, Any] = {}
            for system in ("ours", "naive"):
                if bench.left() < 15:
                    print(f"  {system:5} {key}: skipped, the run's time cap is near", flush=True)
                    continue
                runs: list[dict[str, Any]] = []
                try:
                    for _ in range(plan.repeats_ours if system == "ours" else 1):
                        if runs and bench.left() < 30:
                            break
                        if key == "publish":
                            runs.append(bench.publish(system, spec[system]))
                        else:
                            runs.append(bench.fanout(system, spec["n"], spec["events"]))
                        print(describe(system, key, runs[-1]), flush=True)
                except (RuntimeError, TimeoutError, ValueError, KeyError) as exc:
                    print(f"  {system:5} {key}: FAILED: {exc}", flush=True)
                    row[f"{system}_error"] = str(exc)
                if runs:
                    row[system] = pooled(runs)
            if row.get("ours") and row.get("naive") and row["naive"]["rate"]:
                row["ratio"] = row["ours"]["rate"] / row["naive"]["rate"]
            rows[key] = row
        paced = run_paced(bench)
    finally:
        bench.kill_all()
    if rows:
        print_table(rows)
    print_paced(paced, plan)
    report = {
        "mode": ("quick" if args.quick else "full") + (" paced-only" if args.paced_only else ""),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "plan": dataclasses.asdict(plan),
        "targets": TARGETS,
        "results": {**rows, "paced": paced},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
