"""Benchmark request-scoped endpoints against a plain Tornado SSE handler, side by side.

What it measures, in one run, for both systems (each server is its own process; the clients
are threads of this process, all on 127.0.0.1):

- Endpoint: a standalone hub (``python -m sse_widgets.cli serve``) and a worker process
  (``bench_endpoints.py worker``) serving ``ping`` below with ``@sse_widgets.endpoint``. A
  call's path: the caller's ``POST api/endpoints/ping`` -> hub -> the worker's feed (SSE) -> a
  thread of the worker runs the generator -> each value goes through the worker's batching
  publisher (``POST api/events``) -> hub -> the caller's stream.
- Baseline: ``bench_endpoints.py baseline-server``, a plain Tornado ``RequestHandler`` that
  runs the same generator in the handler and writes each value as an SSE frame, ``write`` then
  ``await flush()`` per value, then an ``event: complete`` frame. Same auth header, same body,
  same frame format (``id: n`` / ``data: <json>``).

Counts are per round and system (``--quick``: smaller, one round):

1. Time to first event: 200 sequential calls of ``ping(n=1)`` over one keep-alive
   connection, from sending the request to reading the first ``data:`` frame; median, p95.
2. Sequential calls/s: 3,000 calls of ``ping(n=1)``, each response read to its end.
3. Concurrent calls/s: 5,000 calls shared by 8 client threads, each thread with its own
   keep-alive connection, each call read to its end. The endpoint's limit (default 4 per
   worker) is raised to the number of threads; any 429 (or other non-200 answer, or a stream
   not ending in ``complete``) counts as a failure and is reported.
4. Events/s of one call streaming ``ping(n=20000)``: values / (complete read - request
   sent); 5 calls, median.
5. Stages: 200 calls of ``stamp()``, which yields ``time.monotonic()`` when the generator
   runs (CLOCK_MONOTONIC is one clock for every process on Linux): request -> generator
   running, and yield -> caller read it, split the time to first event.

Each measurement runs in rounds, the order of the systems alternating (round 1: endpoint
first, round 2: baseline first), and is pooled over the rounds. Server CPU time per call and
per event is read from ``/proc`` (Linux only) for the hub, the worker and the baseline server,
and for this process (the clients). The hub keeps finished calls for
``c.SSEWidgets.endpoint_retention`` (60 s, at most 10,000 per process), so the later rounds run
with thousands of finished calls held: the per-round lines show what that costs.

Every loop is bounded by a count and a time budget (8 s per measurement and system, 3 s with
``--quick``), the whole run by 90 s (35 s with ``--quick``); every process it started is
stopped by PID in a ``finally``.

    .venv/bin/python benchmarks/bench_endpoints.py            # full run, about 40 s
    .venv/bin/python benchmarks/bench_endpoints.py --quick    # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_endpoints.py --serve-arg=--SSEWidgets.endpoint_retention=1

``--serve-arg`` passes an argument to the hub's ``serve`` (repeatable). Results go to
``benchmarks/results/bench_endpoints.json`` (``--out`` to change it), the children's stderr to
``benchmarks/results/logs/bench_endpoints-*.log``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hmac
import http.client
import json
import math
import os
import platform
import queue
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SYSTEMS = ("endpoint", "baseline")

from _provenance import code_version  # noqa: E402  (benchmarks/, next to this script)

DATA_MARK = b"\ndata: "  # every frame of both systems starts with its id line
COMPLETE_MARK = b"\nevent: complete\n"
FIRST_DATA = re.compile(rb"\ndata: ([^\n]*)\n")


# -- the functions both systems serve ---------------------------------------------------------


def ping(n: int = 1) -> Generator[int, None, None]:
    """Yield 0 .. n-1."""
    yield from range(n)


def stamp() -> Generator[float, None, None]:
    """Yield the time (``time.monotonic()``) at which the generator runs."""
    yield time.monotonic()


FUNCTIONS: dict[str, Callable[..., Generator[Any, None, Any]]] = {"ping": ping, "stamp": stamp}


@dataclass(frozen=True)
class Plan:
    warmup: int  # sequential calls per system before measuring
    ttfe_calls: int  # per round and system
    seq_calls: int
    concurrent_calls: int
    threads: int
    stream_events: int
    stream_repeats: int
    stage_calls: int
    rounds: int
    step_cap: float  # seconds per measurement, round and system
    total_cap: float  # seconds for the whole run


FULL = Plan(
    warmup=30,
    ttfe_calls=200,
    seq_calls=3000,
    concurrent_calls=5000,
    threads=8,
    stream_events=20_000,
    stream_repeats=5,
    stage_calls=200,
    rounds=2,
    step_cap=8.0,
    total_cap=90.0,
)
QUICK = Plan(
    warmup=5,
    ttfe_calls=30,
    seq_calls=200,
    concurrent_calls=400,
    threads=8,
    stream_events=2_000,
    stream_repeats=2,
    stage_calls=20,
    rounds=1,
    step_cap=3.0,
    total_cap=35.0,
)


# -- child roles: the worker and the baseline server ------------------------------------------


def exit_with_parent(lifetime: float) -> None:
    """End this child when the orchestrator closes our stdin (or dies), or after ``lifetime``."""

    def watch() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    timer = threading.Timer(lifetime, os._exit, (3,))
    timer.daemon = True
    timer.start()


def run_worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))  # benchmark the working tree
    import sse_widgets

    exit_with_parent(args.lifetime)
    sse_widgets.connect(args.url, args.token)
    served = [
        sse_widgets.endpoint(name, max_concurrency=args.max_concurrency)(function)
        for name, function in FUNCTIONS.items()
    ]
    for one in served:  # endpoint() waited up to 5 s already
        if not one.registered.wait(10):
            print(f"FAILED {one.name} not registered", flush=True)
            sys.exit(1)
    print("READY", args.url, flush=True)
    threading.Event().wait(args.lifetime)


async def run_baseline(args: argparse.Namespace) -> None:
    from tornado.httpserver import HTTPServer
    from tornado.iostream import StreamClosedError
    from tornado.netutil import bind_sockets
    from tornado.web import Application, HTTPError, RequestHandler

    exit_with_parent(args.lifetime)
    expected = f"Bearer {args.token}".encode()
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    class Call(RequestHandler):
        def prepare(self) -> None:
            supplied = self.request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(supplied, expected):
                raise HTTPError(403)

        async def post(self, name: str) -> None:
            function = FUNCTIONS.get(name)
            if function is None:
                raise HTTPError(404)
            content_type = self.request.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip() != "application/json":
                raise HTTPError(415)
            try:
                arguments = json.loads(self.request.body or b"{}")
            except ValueError:
                raise HTTPError(400) from None
            if not isinstance(arguments, dict):
                raise HTTPError(400)
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            generator = function(**arguments)
            seq = 0
            try:
                while True:
                    try:
                        value = next(generator)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    seq += 1
                    self.write(f"id: {seq}\ndata: {encode(value)}\n\n")
                    await self.flush()
                seq += 1
                self.write(f"id: {seq}\nevent: complete\ndata: {encode(result)}\n\n")
            except StreamClosedError:
                pass
            finally:
                generator.close()

    sockets = bind_sockets(0, "127.0.0.1")
    HTTPServer(Application([(r"/api/endpoints/([^/]+)", Call)])).add_sockets(sockets)
    print("READY", f"http://127.0.0.1:{sockets[0].getsockname()[1]}/", flush=True)
    import asyncio

    await asyncio.sleep(args.lifetime)


# -- processes of the orchestrator --------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """A process we started: stdout lines arrive on a queue, stderr goes to a log file."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_dir / f"bench_endpoints-{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,  # python -m puts the working directory first on sys.path
            env=env,
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

    def ready_url(self, timeout: float) -> str:
        """The URL of the child's ``READY <url>`` line, waiting at most ``timeout`` seconds."""
        try:
            line = self.lines.get(timeout=max(0.1, timeout))
        except queue.Empty:
            raise TimeoutError(f"{self.name}: not ready within {timeout:.0f} s") from None
        if line is None or not line.startswith("READY "):
            raise RuntimeError(f"{self.name} said {line!r}; see {self.log_path}")
        return line.split()[1]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, first: signal.Signals = signal.SIGTERM) -> None:
        """``first``, then SIGTERM, then SIGKILL, by PID; then close our ends of its pipes."""
        if self.proc.poll() is None:
            for sig, wait in ((first, 5), (signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.kill(self.proc.pid, sig)
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.log.close()


def wait_runtime_url(child: Child, announce: Path, timeout: float) -> str:
    """The URL from the runtime file ``sse-widgets serve`` writes once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited; see {child.log_path}")
        try:
            return str(json.loads(announce.read_text())["url"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise TimeoutError(f"{child.name}: not serving within {timeout:.0f} s")


# -- the client: the same code for both systems ----------------------------------------------


@dataclass
class Reply:
    """One call as the client saw it; times in seconds from sending the request."""

    status: int = 0
    first: float | None = None  # the first data: frame read
    total: float = 0.0  # the response read to its end
    frames: int = 0  # data: lines (values and the terminal event)
    complete: bool = False  # the last frame was ``event: complete``
    first_data: bytes = b""  # the first frame's data
    sent_at: float = 0.0  # time.monotonic() when the request was sent
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.complete and self.error is None


class Client:
    """One keep-alive ``http.client.HTTPConnection`` making calls, one at a time."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.prefix = parts.hostname or "127.0.0.1", parts.port, parts.path
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.connects = 0  # TCP connections opened (1 if keep-alive held throughout)

    def call(self, name: str, arguments: dict[str, Any], deadline: float) -> Reply:
        """Call ``name``; read the answer to its end, or until ``deadline`` (monotonic)."""
        body = json.dumps(arguments).encode()
        path = f"{self.prefix.rstrip('/')}/api/endpoints/{name}"
        reply = Reply()
        if self.connection.sock is None:
            self.connects += 1
        start = reply.sent_at = time.monotonic()
        try:
            self.connection.request("POST", path, body, self.headers)
            response = self.connection.getresponse()
            reply.status = response.status
            if response.status != 200:
                response.read()
                reply.total = time.monotonic() - start
                return reply
            tail = last = head = b""
            while chunk := response.read1(65536):
                if reply.first is None:
                    head += chunk
                    found = FIRST_DATA.search(head)
                    if found:
                        reply.first = time.monotonic() - start
                        reply.first_data = found.group(1)
                        head = b""
                reply.frames += (tail + chunk).count(DATA_MARK)
                tail = chunk[-(len(DATA_MARK) - 1) :]
                last = (last + chunk)[-200:]
                if time.monotonic() > deadline:
                    raise TimeoutError("the call went past its time budget")
            reply.total = time.monotonic() - start
            # The terminal frame: "id: n\nevent: complete\ndata: ...\n\n", nothing after it.
            end = last.rfind(b"\nid: ")
            reply.complete = COMPLETE_MARK in last[max(0, end) :]
        except (OSError, http.client.HTTPException) as exc:
            reply.error = f"{type(exc).__name__}: {exc}"
            reply.total = time.monotonic() - start
            self.close()
        return reply

    def close(self) -> None:
        self.connection.close()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


@dataclass
class Tally:
    """Calls of one measurement (pooled over rounds): successes, failures by kind, time."""

    ok: int = 0
    elapsed: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process role -> CPU seconds
    values: list[float] = field(default_factory=list)  # per-call figures (TTFE, rates)
    extra: list[float] = field(default_factory=list)  # a second per-call figure (stages)

    def add(self, reply: Reply) -> None:
        if reply.ok:
            self.ok += 1
            return
        if reply.error is not None:
            kind = reply.error.split(":")[0]
        elif reply.status != 200:
            kind = f"HTTP {reply.status}"
        else:
            kind = "incomplete stream"
        self.fail(kind)

    def fail(self, kind: str, count: int = 1) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + count

    def merge(self, other: Tally) -> None:
        """Add another round's calls to these."""
        self.ok += other.ok
        self.elapsed += other.elapsed
        self.connects += other.connects
        for kind, count in other.failures.items():
            self.fail(kind, count)
        for role, seconds in other.cpu.items():
            self.cpu[role] = self.cpu.get(role, 0.0) + seconds
        self.values += other.values
        self.extra += other.extra

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def rate(self) -> float | None:
        return self.ok / self.elapsed if self.elapsed > 0 and self.ok else None


#: A measurement: (system, the tally to add to, the time to stop at) -> None.
Step = Callable[[str, Tally, float], None]


def nearest_rank(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- the orchestrator ---------------------------------------------------------------------------


class Bench:
    def __init__(
        self, plan: Plan, log_dir: Path, runtime: Path, serve_args: list[str] | None = None
    ) -> None:
        self.plan = plan
        self.serve_args = serve_args or []
        self.log_dir = log_dir
        self.runtime = runtime
        self.token = secrets.token_hex(16)
        self.deadline = time.monotonic() + plan.total_cap
        self.children: list[Child] = []
        self.urls: dict[str, str] = {}
        self.pids: dict[str, dict[str, int]] = {}  # system -> {role: pid}
        self.limit = max(4, plan.threads)  # the endpoint's max_concurrency
        self.tallies: dict[str, dict[str, Tally]] = {s: {} for s in SYSTEMS}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def budget(self) -> float:
        """Seconds for one measurement: the plan's cap, less near the end of the run."""
        return max(0.5, min(self.plan.step_cap, self.left() - 5))

    def spawn(self, name: str, argv: list[str]) -> Child:
        env = dict(os.environ, PYTHONPATH=str(ROOT), JUPYTER_RUNTIME_DIR=str(self.runtime))
        env.pop("SSE_WIDGETS_URL", None)
        env.pop("SSE_WIDGETS_TOKEN", None)
        child = Child(name, argv, self.log_dir, env)
        self.children.append(child)
        return child

    def start(self) -> None:
        lifetime = str(self.plan.total_cap + 60)
        serve = [sys.executable, "-m", "sse_widgets.cli", "serve", "--host", "127.0.0.1"]
        serve += ["--port", "0", "--token", self.token, *self.serve_args]
        hub = self.spawn("hub", serve)
        hub_url = wait_runtime_url(hub, self.runtime / f"sse-widgets-{hub.pid}.json", 30)
        me = [sys.executable, str(Path(__file__).resolve())]
        common = ["--token", self.token, "--lifetime", lifetime]
        baseline = self.spawn("baseline", [*me, "baseline-server", *common])
        worker = self.spawn(
            "worker",
            [*me, "worker", "--url", hub_url, *common, "--max-concurrency", str(self.limit)],
        )
        self.urls["baseline"] = baseline.ready_url(30)
        worker.ready_url(30)
        self.urls["endpoint"] = hub_url
        for system, url in self.urls.items():
            if not url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"{system} is not on loopback: {url}")
        self.pids = {
            "endpoint": {"hub": hub.pid, "worker": worker.pid},
            "baseline": {"server": baseline.pid},
        }

    def stop_all(self) -> None:
        for child in reversed(self.children):
            try:
                # SIGINT lets the hub remove its runtime file
                child.stop(signal.SIGINT if child.name == "hub" else signal.SIGTERM)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"could not stop {child.name}: {exc}", file=sys.stderr)
        self.children.clear()

    def cpu(self, system: str) -> dict[str, float | None]:
        """CPU seconds so far of the system's processes and of this one (the clients)."""
        used: dict[str, float | None] = {r: cpu_seconds(p) for r, p in self.pids[system].items()}
        used["client"] = time.process_time()
        return used

    def tally(self, system: str, key: str) -> Tally:
        return self.tallies[system].setdefault(key, Tally())

    def measure(self, system: str, key: str, step: Step) -> Tally:
        """Run one measurement (bounded by ``budget()``) with the CPU time it took; pool it."""
        tally = Tally()
        before = self.cpu(system)
        step(system, tally, time.monotonic() + self.budget())
        after = self.cpu(system)
        for role, start in before.items():
            end = after.get(role)
            if start is not None and end is not None:
                tally.cpu[role] = end - start
        self.tally(system, key).merge(tally)
        return tally

    # -- the measurements ------------------------------------------------------------------

    def sequential(
        self,
        system: str,
        calls: int,
        name: str,
        arguments: dict[str, Any],
        tally: Tally,
        stop: float,
    ) -> list[Reply]:
        client = Client(self.urls[system], self.token)
        replies = []
        started = time.monotonic()
        try:
            for _ in range(calls):
                if time.monotonic() > stop:
                    break
                reply = client.call(name, arguments, stop + 5)
                tally.add(reply)
                replies.append(reply)
        finally:
            tally.elapsed += time.monotonic() - started
            tally.connects += client.connects
            client.connection.close()
        return replies

    def warmup(self, system: str) -> None:
        scratch = Tally()
        stop = time.monotonic() + self.budget()
        self.sequential(system, self.plan.warmup, "ping", {"n": 1}, scratch, stop)
        self.sequential(system, 1, "ping", {"n": 1000}, scratch, stop)
        self.concurrent(system, 2 * self.plan.threads, scratch, stop)
        if scratch.failed:
            print(f"  {system:8} warm-up failures: {scratch.failures}", flush=True)

    def ttfe(self, system: str, tally: Tally, stop: float) -> None:
        replies = self.sequential(system, self.plan.ttfe_calls, "ping", {"n": 1}, tally, stop)
        tally.values += [r.first for r in replies if r.ok and r.first is not None]

    def seq_rate(self, system: str, tally: Tally, stop: float) -> None:
        self.sequential(system, self.plan.seq_calls, "ping", {"n": 1}, tally, stop)

    def concurrent(self, system: str, calls: int, tally: Tally, stop: float) -> None:
        """``calls`` calls of ``ping(n=1)`` shared by ``plan.threads`` threads."""
        lock = threading.Lock()
        taken = [0]
        clients = [Client(self.urls[system], self.token) for _ in range(self.plan.threads)]
        go = threading.Barrier(len(clients) + 1)

        def loop(client: Client) -> None:
            go.wait(10)
            for _ in range(calls):
                with lock:
                    if taken[0] >= calls or time.monotonic() > stop:
                        return
                    taken[0] += 1
                reply = client.call("ping", {"n": 1}, stop + 5)
                with lock:
                    tally.add(reply)

        threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        go.wait(10)
        started = time.monotonic()
        for thread in threads:
            thread.join(max(0.1, stop + 15 - time.monotonic()))
        tally.elapsed += time.monotonic() - started
        for client in clients:
            tally.connects += client.connects
            client.connection.close()
        if any(thread.is_alive() for thread in threads):
            tally.fail("client thread still running")

    def conc_rate(self, system: str, tally: Tally, stop: float) -> None:
        self.concurrent(system, self.plan.concurrent_calls, tally, stop)

    def stream(self, system: str, tally: Tally, stop: float) -> None:
        n = self.plan.stream_events
        client = Client(self.urls[system], self.token, timeout=15)
        try:
            for _ in range(self.plan.stream_repeats):
                if time.monotonic() > stop:
                    break
                reply = client.call("ping", {"n": n}, stop + 10)
                tally.add(reply)
                if reply.ok and reply.frames != n + 1:
                    tally.fail("wrong frame count")
                elif reply.ok:
                    tally.values.append(n / reply.total)
                    tally.elapsed += reply.total
        finally:
            tally.connects += client.connects
            client.connection.close()

    def stages(self, system: str, tally: Tally, stop: float) -> None:
        replies = self.sequential(system, self.plan.stage_calls, "stamp", {}, tally, stop)
        for reply in replies:
            if reply.ok and reply.first is not None:
                ran = float(reply.first_data)
                tally.values.append(ran - reply.sent_at)  # request -> generator running
                tally.extra.append(reply.sent_at + reply.first - ran)  # yield -> caller

    def run(self) -> None:
        steps: list[tuple[str, Step]] = [
            ("ttfe", self.ttfe),
            ("sequential", self.seq_rate),
            ("concurrent", self.conc_rate),
            ("stream", self.stream),
            ("stages", self.stages),
        ]
        for system in SYSTEMS:
            self.warmup(system)
        for round_ in range(self.plan.rounds):
            order = SYSTEMS if round_ % 2 == 0 else SYSTEMS[::-1]
            for key, step in steps:
                for system in order:
                    if self.left() < 8:
                        print(f"  {system:8} {key}: skipped, the run's time cap is near")
                        continue
                    done = self.measure(system, key, step)
                    print(describe(system, key, round_, done), flush=True)


def describe(system: str, key: str, round_: int, tally: Tally) -> str:
    """One round's measurement: its figure and the server CPU per call."""
    failures = f", failures {tally.failures}" if tally.failures else ""
    head = f"  round {round_ + 1} {system:8} {key:10}"
    calls = tally.ok + tally.failed
    server = sum(seconds for role, seconds in tally.cpu.items() if role != "client")
    cpu = f"; server CPU {1000 * server / calls:.2f} ms/call" if calls else ""
    if key in ("ttfe", "stages"):
        median = statistics.median(tally.values) * 1000 if tally.values else float("nan")
        return f"{head} {len(tally.values)} calls, median {median:.2f} ms{cpu}{failures}"
    if key == "stream":
        best = max(tally.values) if tally.values else 0.0
        return f"{head} {len(tally.values)} calls, best {best:,.0f} events/s{failures}"
    rate = tally.rate() or 0.0
    return f"{head} {tally.ok} calls in {tally.elapsed:.2f} s = {rate:,.1f}/s{cpu}{failures}"


# -- the report ---------------------------------------------------------------------------------


def figures(bench: Bench) -> dict[str, dict[str, float | None]]:
    """The table's rows: row label -> {system: figure}."""
    plan = bench.plan
    rows: dict[str, dict[str, float | None]] = {}
    for system in SYSTEMS:
        t = bench.tallies[system]

        def put(label: str, value: float | None, system: str = system) -> None:
            rows.setdefault(label, {})[system] = value

        ttfe = t.get("ttfe", Tally()).values
        put("time to first event, median (ms)", _ms(statistics.median(ttfe) if ttfe else None))
        put("time to first event, p95 (ms)", _ms(nearest_rank(ttfe, 0.95)))
        put("sequential calls/s (n=1)", t.get("sequential", Tally()).rate())
        put(f"concurrent calls/s ({plan.threads} threads)", t.get("concurrent", Tally()).rate())
        rates = t.get("stream", Tally()).values
        put(
            f"events/s (one call, n={plan.stream_events:,})",
            statistics.median(rates) if rates else None,
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def print_report(bench: Bench) -> None:
    rows = figures(bench)
    header = f"{'':38} {'endpoint':>10} {'baseline':>10} {'endpoint/baseline':>18}"
    print(f"\n{header}\n{'-' * len(header)}")
    for label, by in rows.items():
        ours, base = by.get("endpoint"), by.get("baseline")
        ratio = f"{ours / base:.2f}x" if ours is not None and base else "-"
        print(f"{label:38} {cell(ours):>10} {cell(base):>10} {ratio:>18}")
    print("(ms: lower is better; /s: higher is better)")

    print("\nCPU time per sequential call (ms) and per streamed event (us), by process:")
    for system in SYSTEMS:
        t = bench.tallies[system]
        seq, stream = t.get("sequential", Tally()), t.get("stream", Tally())
        events = bench.plan.stream_events * len(stream.values)
        parts = []
        for role in [*bench.pids[system], "client"]:
            per_call = 1000 * seq.cpu[role] / seq.ok if seq.ok and role in seq.cpu else None
            per_event = 1e6 * stream.cpu[role] / events if events and role in stream.cpu else None
            parts.append(f"{role} {cell(per_call)} ms, {cell(per_event)} us")
        print(f"  {system:8} " + "; ".join(parts))

    print("\nstages of a stamp() call, medians (ms): request -> generator runs -> caller reads it")
    for system in SYSTEMS:
        st = bench.tallies[system].get("stages", Tally())
        if st.values:
            to_gen = 1000 * statistics.median(st.values)
            to_caller = 1000 * statistics.median(st.extra)
            print(f"  {system:8} {to_gen:6.2f} -> {to_caller:6.2f}   ({len(st.values)} calls)")

    print(f"\nfailures (the endpoint's max_concurrency is {bench.limit}):")
    for system in SYSTEMS:
        failures: dict[str, int] = {}
        connects = calls = 0
        for tally in bench.tallies[system].values():
            calls += tally.ok + tally.failed
            connects += tally.connects
            for kind, count in tally.failures.items():
                failures[kind] = failures.get(kind, 0) + count
        shown = ", ".join(f"{k}: {v}" for k, v in failures.items()) or "none"
        print(f"  {system:8} {shown} (of {calls:,} calls; {connects} TCP connections opened)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "role", nargs="?", default="bench", choices=["bench", "worker", "baseline-server"]
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_endpoints.json")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to the hub's serve, e.g. --serve-arg=--SSEWidgets.endpoint_retention=5",
    )
    # the children's options
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=150.0, help=argparse.SUPPRESS)
    parser.add_argument("--max-concurrency", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        run_worker(args)
        return 0
    if args.role == "baseline-server":
        import asyncio

        asyncio.run(run_baseline(args))
        return 0

    plan = QUICK if args.quick else FULL
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    print(
        f"sse_widgets endpoint benchmark ({'quick' if args.quick else 'full'}), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, code {code_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_endpoints-") as work:
        bench = Bench(plan, log_dir, Path(work) / "runtime", args.serve_arg)
        try:
            bench.start()
            bench.run()
        finally:
            bench.stop_all()
    print_report(bench)
    report = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "code": code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "plan": dataclasses.asdict(plan),
        "max_concurrency": bench.limit,
        "serve_args": args.serve_arg,
        "table": figures(bench),
        "tallies": {
            system: {key: dataclasses.asdict(t) for key, t in tallies.items()}
            for system, tallies in bench.tallies.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.out} (took {report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
