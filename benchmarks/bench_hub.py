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

The baseline server (``_roles.py naive-server``) is the idiomatic simple design: a POST handler
taking one JSON event, encoding its frame once, and putting it into one ``asyncio.Queue`` per
subscriber; a GET handler per subscriber looping ``await queue.get()``, ``write``, ``await
flush()``. Same frame format, same token check.

Prints a table (ours, baseline, ratio ours / baseline) and writes
``benchmarks/results/bench_hub.json``. Every wait is bounded; the whole run is capped at about
four minutes (one with ``--quick``), and every process it started is killed in a ``finally``.

    .venv/bin/python benchmarks/bench_hub.py            # full run
    .venv/bin/python benchmarks/bench_hub.py --quick    # smoke run, < 60 s
"""

from __future__ import annotations

import argparse
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


FULL = Plan(50_000, 10_000, 5.0, ((1, 20_000), (100, 10_000), (1000, 2_000)), 45.0, 230.0, 3)
QUICK = Plan(5_000, 1_000, 3.0, ((1, 2_000), (100, 1_000), (1000, 200)), 8.0, 55.0, 1)


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

    def start_servers(self) -> None:
        for system in ("ours", "naive"):
            server = self.spawn(f"{system}-server", f"{system}-server")
            ready = server.expect(30)
            if not ready.startswith("READY "):
                raise RuntimeError(f"{system} server said {ready!r}")
            self.urls[system] = ready.split()[1]
            self.servers[system] = server

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a < 60 s smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_hub.json")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    bench = Bench(plan, log_dir)
    rows: dict[str, dict[str, Any]] = {}
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
    finally:
        bench.kill_all()
    print_table(rows)
    report = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "plan": plan.__dict__,
        "targets": TARGETS,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
