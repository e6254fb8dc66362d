"""The child processes of ``bench_hub.py``: two servers, a subscriber swarm and a publisher.

Run as ``python benchmarks/_roles.py <role> [options]``; each role prints ``READY ...`` when
it is set up (servers and subscribers) and one JSON line with its results when it is done.
Timestamps are ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every process on
Linux), so the orchestrator can subtract one process's start from another's finish.

Roles:

- ``ours-server``: the package's standalone Tornado server (``start_server``), loopback only.
  Extra ``--SSEWidgets.name=value`` arguments set its traits, as with ``sse-widgets serve``
  (e.g. ``--SSEWidgets.coalesce_ms=0``).
- ``naive-server``: the baseline. A plain Tornado app: POST takes ONE JSON event per request,
  encodes its SSE frame once and puts it into one ``asyncio.Queue`` per subscriber; each GET
  loops ``await queue.get()``, ``write(frame)``, ``await flush()``. Same frame format and the
  same token check as ours. This is the idiomatic way to write SSE fan-out in Tornado.
- ``subscribe``: N SSE connections in one asyncio process (Protocol callbacks on raw sockets,
  so the client costs as little CPU as possible), counting event frames by counting
  ``b"\\nevent: "`` (both servers write whole frames per chunk, so chunked-encoding size lines
  never split one; the opening ``retry:``/``id:`` frames have no ``event:`` line). With
  ``--sample-every K``, every K-th connection also parses the ``"sent"`` wall-clock time the
  paced publisher puts in each event and records receipt minus publish time (``time.time()``
  in both processes, on the same machine); sampled connections read as soon as data arrives,
  the others pause ``--read-delay`` between reads. With ``--check-order`` (used by
  ``bench_redis.py``), every connection also checks that its ``log`` events carry the steps
  0, 1, 2, ... of the publisher, each once and in order (see :class:`OrderCheck`), and
  ``--raw-latencies`` adds every latency sample to the result, so that the samples of several
  subscriber processes can be pooled; ``--idle-stop S`` ends the wait early once events
  arrived and then none for S seconds.
- ``publish``: sends events as fast as the system's API allows. Ours: ``Publisher.send`` in a
  loop, then ``flush()``. Naive: one ``POST`` per event over one keep-alive
  ``http.client.HTTPConnection``. With ``--rate R`` it is paced instead: event i is published
  (one ``Publisher.send``, or one ``POST``) at start + i / R, with ``"sent": time.time()`` in
  its data.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import http.client
import json
import math
import re
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmark the working tree

EVENT = "log"
FRAME_MARK = b"\nevent: "
#: The publish time in a paced event's data (ours writes compact JSON, the baseline not).
SENT = re.compile(rb'"sent":\s*([0-9.]+)')
#: The step number in an event's data (``payload(i)`` writes ``step {i:06d}:``).
STEP = re.compile(rb"step (\d{6}):")
#: An event frame's name.
EVENT_NAME = re.compile(rb"\nevent: ([^\n]*)")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def payload(i: int) -> dict:
    """A log-record-like event of about 100 bytes of JSON."""
    return {"level": "INFO", "logger": "bench", "message": f"step {i:06d}: loss=0.{i % 9973:04d}"}


# -- servers ----------------------------------------------------------------------------------


def trait_overrides(extra: list[str]) -> dict:
    """``--SSEWidgets.name=value`` arguments as trait values (JSON literals or strings)."""
    overrides = {}
    for arg in extra:
        key, eq, raw = arg.partition("=")
        if not key.startswith("--SSEWidgets.") or not eq:
            raise SystemExit(f"unknown argument {arg!r}")
        try:
            overrides[key.removeprefix("--SSEWidgets.")] = json.loads(raw)
        except ValueError:
            overrides[key.removeprefix("--SSEWidgets.")] = raw
    return overrides


async def run_ours_server(token: str, extra: list[str]) -> None:
    from sse_widgets.server.config import SSEWidgets
    from sse_widgets.server.standalone import start_server

    settings = {"max_subscribers": 20_000, "buffer_bytes": 256 * 1024 * 1024}
    config = SSEWidgets(**{**settings, **trait_overrides(extra)})
    _server, app, url, _ = await start_server(config, host="127.0.0.1", port=0, token=token)
    app.settings["sse_widgets"].hub.start()
    print("READY", url, flush=True)
    await asyncio.Event().wait()


async def run_naive_server(token: str) -> None:
    from tornado.iostream import StreamClosedError
    from tornado.netutil import bind_sockets
    from tornado.web import Application, HTTPError, RequestHandler

    subscribers: dict[str, set[asyncio.Queue]] = {}
    counter = [0]

    class Base(RequestHandler):
        def prepare(self) -> None:
            supplied = self.request.headers.get("X-SSE-Widgets-Token") or self.get_query_argument(
                "token", ""
            )
            if not hmac.compare_digest(supplied.encode(), token.encode()):
                raise HTTPError(403)

    class Events(Base):
        async def get(self) -> None:
            channel = self.get_query_argument("channel")
            queue: asyncio.Queue = asyncio.Queue()
            self.queue, self.channel = queue, channel
            subscribers.setdefault(channel, set()).add(queue)
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")
            try:
                self.write(f"retry: 2000\nid: {counter[0]}\n\n")
                await self.flush()
                while True:
                    frame = await queue.get()
                    if frame is None:
                        break
                    self.write(frame)
                    await self.flush()
            except StreamClosedError:
                pass
            finally:
                subscribers.get(channel, set()).discard(queue)

        def on_connection_close(self) -> None:
            queue = getattr(self, "queue", None)
            if queue is not None:
                subscribers.get(self.channel, set()).discard(queue)
                queue.put_nowait(None)

        def post(self) -> None:
            event = json.loads(self.request.body)
            channel, name = event["channel"], event.get("event", "message")
            counter[0] += 1
            data = json.dumps({"channel": channel, "data": event.get("data"), "time": time.time()})
            frame = f"id: {counter[0]}\nevent: {name}\ndata: {data}\n\n".encode()
            for queue in subscribers.get(channel, ()):
                queue.put_nowait(frame)
            self.write({"id": counter[0]})

    from tornado.httpserver import HTTPServer

    sockets = bind_sockets(0, "127.0.0.1")
    HTTPServer(Application([(r"/api/events", Events)])).add_sockets(sockets)
    print("READY", f"http://127.0.0.1:{sockets[0].getsockname()[1]}/", flush=True)
    await asyncio.Event().wait()


# -- subscribers ------------------------------------------------------------------------------


class OrderCheck:
    """One connection's ``log`` events must be steps 0, 1, 2, ... each once, in order.

    Fed the raw stream bytes; only complete frames (up to the last blank line) are checked.
    ``missing``: steps skipped and never seen later; ``late``: steps that arrived after a later
    one; ``duplicates``: steps seen twice. Frames of other events are counted by name (a
    ``reset`` would say the hub knew it lost events).
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.next = 0  # the step expected next
        self.skipped: set[int] = set()  # steps passed over, not (yet) seen
        self.late = self.duplicates = 0
        self.others: dict[str, int] = {}
        self.first_problem: str | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.rfind(b"\n\n")
        if end < 0:
            return
        block, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        names = EVENT_NAME.findall(block)
        if names.count(b"log") != len(names):
            for name in names:
                if name != b"log":
                    key = name.decode("latin-1")
                    self.others[key] = self.others.get(key, 0) + 1
                    self.note(f"a {key!r} event after step {self.next - 1}")
        steps = list(map(int, STEP.findall(block)))
        if steps == list(range(self.next, self.next + len(steps))):  # the usual case
            self.next += len(steps)
            return
        for step in steps:
            if step == self.next:
                self.next += 1
            elif step > self.next:
                self.note(f"step {step} after step {self.next - 1}")
                self.skipped.update(range(self.next, step))
                self.next = step + 1
            elif step in self.skipped:
                self.skipped.discard(step)
                self.late += 1
            else:
                self.note(f"step {step} again (after step {self.next - 1})")
                self.duplicates += 1

    def note(self, problem: str) -> None:
        if self.first_problem is None:
            self.first_problem = problem

    def summary(self, events: int) -> dict:
        """Problems of this connection, given that it should have had ``events`` steps."""
        if self.next < events:
            self.note(f"stopped after step {self.next - 1} of 0-{events - 1}")
        return {
            "missing": len(self.skipped) + max(0, events - self.next),
            "late": self.late,
            "duplicates": self.duplicates,
            "others": self.others,
            "first_problem": self.first_problem,
        }


class Counter(asyncio.Protocol):
    """One SSE connection: counts event frames, notes when it has them all.

    A sampled connection also keeps the bytes of its last incomplete frame and, for every
    complete frame carrying a ``"sent"`` time, records receipt minus publish time.
    """

    def __init__(self, swarm: Swarm, sample: bool = False) -> None:
        self.swarm, self.count, self.tail = swarm, 0, b""
        self.head = b""  # response bytes until the first body bytes arrived
        self.sample, self.partial = sample, b""
        self.order = OrderCheck() if swarm.check_order else None
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.swarm.request)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            if b"retry:" not in self.head:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.ready.set_exception(RuntimeError(self.head[:300].decode("latin-1")))
                return
            self.ready.set_result(True)
            data, self.head = self.head, b""
        if self.sample:
            received = time.time()
            self.partial += data
            end = self.partial.rfind(b"\n\n")
            if end >= 0:
                for match in SENT.finditer(self.partial, 0, end):
                    self.swarm.latencies.append(received - float(match.group(1)))
                self.partial = self.partial[end + 2 :]
        if self.order is not None:
            self.order.feed(data)
        found = (self.tail + data).count(FRAME_MARK)
        self.tail = data[-7:]
        if found:
            self.count += found
            self.swarm.received(self, found)
        if self.swarm.read_delay and not self.sample and self.transport is not None:
            # Let the kernel buffer gather frames: one read then takes many, so the client's
            # CPU (which shares the machine with the server) is not spent per frame.
            self.transport.pause_reading()
            self.swarm.loop.call_later(self.swarm.read_delay, self.transport.resume_reading)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the stream opened"))
        self.swarm.lost += 1


class Swarm:
    def __init__(self, url: str, token: str, channel: str, events: int, delay: float) -> None:
        self.loop, self.read_delay = asyncio.get_running_loop(), delay
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = f"{parts.path}api/events?channel={channel}&token={token}"
        self.request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode()
        self.request += b"Accept: text/event-stream\r\n\r\n"
        self.events, self.total, self.complete, self.lost = events, 0, 0, 0
        self.last_rx = 0.0
        self.all_done = asyncio.get_running_loop().create_future()
        self.conns: list[Counter] = []
        self.sample_every = 0  # 0: no latency sampling
        self.latencies: list[float] = []  # seconds, receipt minus publish time
        self.check_order = False  # True: every connection checks its steps (OrderCheck)

    def received(self, conn: Counter, found: int) -> None:
        self.total += found
        self.last_rx = time.monotonic()
        if conn.count >= self.events and conn.count - found < self.events:
            self.complete += 1
            if self.complete == len(self.conns) and not self.all_done.done():
                self.all_done.set_result(None)

    async def connect(self, n: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, n, 50):  # waves: stay under the server's listen backlog
            wave = []
            for i in range(start, min(start + 50, n)):
                sample = bool(self.sample_every) and i % self.sample_every == 0
                _, conn = await loop.create_connection(
                    lambda sample=sample: Counter(self, sample), self.host, self.port
                )
                wave.append(conn)
            self.conns.extend(wave)
            await asyncio.wait_for(
                asyncio.gather(*(c.ready for c in wave)), max(0.1, deadline - time.monotonic())
            )


async def run_subscribers(args: argparse.Namespace) -> None:
    raise_fd_limit()
    swarm = Swarm(args.url, args.token, args.channel, args.events, args.read_delay)
    swarm.sample_every = args.sample_every
    swarm.check_order = args.check_order
    await swarm.connect(args.n, time.monotonic() + 60)
    print("READY", len(swarm.conns), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    deadline = float(line.split()[1])
    cpu_start = time.process_time()
    stopped_idle = False
    if args.idle_stop > 0:
        # Also stop once events arrived and then none for idle_stop seconds (events lost: the
        # check says which; waiting for the cap would tell nothing more).
        while not swarm.all_done.done() and time.monotonic() < deadline:
            wait = min(0.25, deadline - time.monotonic())
            await asyncio.wait([swarm.all_done], timeout=max(0.0, wait))
            if swarm.total and time.monotonic() - swarm.last_rx > args.idle_stop:
                stopped_idle = not swarm.all_done.done()
                break
    else:
        try:
            await asyncio.wait_for(swarm.all_done, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            pass
    counts = [c.count for c in swarm.conns]
    result = {
        "subscribers": len(counts),
        "delivered": swarm.total,
        "complete": swarm.complete,
        "min": min(counts),
        "max": max(counts),
        "lost": swarm.lost,
        "last_rx": swarm.last_rx,
        "client_cpu_s": round(time.process_time() - cpu_start, 3),
    }
    if args.idle_stop > 0:
        result["stopped_idle"] = stopped_idle
    if args.sample_every:
        result["latency"] = latency_summary(swarm.latencies)
        result["sampled"] = sum(c.sample for c in swarm.conns)
        if args.raw_latencies:
            result["latencies_ms"] = [round(1000 * s, 3) for s in swarm.latencies]
    if args.check_order:
        result["order"] = order_summary(swarm, args.events)
    print(json.dumps(result), flush=True)
    for conn in swarm.conns:
        if conn.transport is not None:
            conn.transport.abort()


def order_summary(swarm: Swarm, events: int) -> dict:
    """The OrderCheck results of every connection, totalled."""
    checks = [c.order.summary(events) for c in swarm.conns if c.order is not None]
    others: dict[str, int] = {}
    for check in checks:
        for name, count in check["others"].items():
            others[name] = others.get(name, 0) + count
    bad = [c for c in checks if c["missing"] or c["late"] or c["duplicates"] or c["others"]]
    return {
        "checked": len(checks),
        "exact": len(checks) - len(bad),  # connections with every step once, in order
        "missing": sum(c["missing"] for c in checks),
        "late": sum(c["late"] for c in checks),
        "duplicates": sum(c["duplicates"] for c in checks),
        "other_events": others,
        "first_problems": [c["first_problem"] for c in bad[:5]],
    }


def latency_summary(seconds: list[float]) -> dict:
    """Percentiles (nearest rank) of the sampled latencies, in milliseconds."""
    ordered = sorted(seconds)

    def rank(q: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)

    return {
        "n": len(ordered),
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p99_ms": rank(0.99),
        "max_ms": rank(1.0),
        "min_ms": round(1000 * ordered[0], 3) if ordered else None,
    }


# -- publishers -------------------------------------------------------------------------------


def run_paced_publisher(args: argparse.Namespace) -> None:
    """``args.events`` events, one publish call each, event i at start + i / rate."""
    stop = time.monotonic() + args.cap
    behind = 0.0  # the most an event left after its scheduled time, seconds
    sent = accepted = 0
    if args.system == "ours":
        from sse_widgets import Publisher

        pub = Publisher(args.url, args.token)

        def publish(data: dict) -> bool:
            pub.send(args.channel, EVENT, data)
            return True
    else:
        parts = urlsplit(args.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json", "X-SSE-Widgets-Token": args.token}

        def publish(data: dict) -> bool:
            body = json.dumps({"channel": args.channel, "event": EVENT, "data": data})
            conn.request("POST", "/api/events", body, headers)
            response = conn.getresponse()
            response.read()
            return response.status == 200

    t_start = time.monotonic()
    for i in range(args.events):
        due = t_start + i / args.rate
        now = time.monotonic()
        if now > stop:
            break
        if due > now:
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        accepted += publish({"sent": time.time(), **payload(i)})
        sent += 1
    t_last = time.monotonic()
    if args.system == "ours":
        flushed = pub.flush(timeout=max(0.1, stop - time.monotonic()))
        stats = pub.stats
        accepted = stats["settled"] - stats["dropped"]
        pub.close(timeout=1.0)
        extra = {"batches": stats["batches"], "flushed": flushed}
    else:
        conn.close()
        extra = {}
    result = {
        "t_start": t_start,
        "t_end": t_last,
        "sent": sent,
        "accepted": accepted,
        "behind_max_s": round(behind, 4),
        **extra,
    }
    print(json.dumps(result), flush=True)


def run_publisher(args: argparse.Namespace) -> None:
    if args.rate > 0:
        run_paced_publisher(args)
        return
    stop = time.monotonic() + args.cap
    if args.system == "ours":
        from sse_widgets import Publisher

        pub = Publisher(args.url, args.token)
        t_start = time.monotonic()
        for i in range(args.events):
            pub.send(args.channel, EVENT, payload(i))
        ok = pub.flush(timeout=max(0.1, stop - time.monotonic()))
        t_end = time.monotonic()
        stats = pub.stats
        sent, accepted = args.events, stats["settled"] - stats["dropped"]
        pub.close(timeout=1.0)
        extra = {"batches": stats["batches"], "flushed": ok}
    else:
        parts = urlsplit(args.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json", "X-SSE-Widgets-Token": args.token}
        sent = accepted = 0
        t_start = time.monotonic()
        for i in range(args.events):
            if time.monotonic() > stop:
                break
            body = json.dumps({"channel": args.channel, "event": EVENT, "data": payload(i)})
            conn.request("POST", "/api/events", body, headers)
            response = conn.getresponse()
            response.read()
            sent += 1
            accepted += response.status == 200
        t_end = time.monotonic()
        conn.close()
        extra = {}
    result = {"t_start": t_start, "t_end": t_end, "sent": sent, "accepted": accepted, **extra}
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["ours-server", "naive-server", "subscribe", "publish"])
    parser.add_argument("--url", default="")
    parser.add_argument("--token", required=True)
    parser.add_argument("--system", choices=["ours", "naive"], default="ours")
    parser.add_argument("--channel", default="bench")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--n", type=int, default=1, help="subscribers")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds")
    parser.add_argument("--read-delay", type=float, default=0.005, help="seconds between reads")
    parser.add_argument("--rate", type=float, default=0.0, help="paced publishing, events/s")
    parser.add_argument("--sample-every", type=int, default=0, help="latency of every K-th sub")
    parser.add_argument(
        "--check-order", action="store_true", help="check each sub's steps: all, once, in order"
    )
    parser.add_argument(
        "--idle-stop", type=float, default=0.0, help="stop after events, then none for S s"
    )
    parser.add_argument(
        "--raw-latencies", action="store_true", help="every latency sample in the result (ms)"
    )
    args, extra = parser.parse_known_args()
    if extra and args.role != "ours-server":
        parser.error(f"unknown arguments {extra}")
    raise_fd_limit()
    if args.role == "ours-server":
        asyncio.run(run_ours_server(args.token, extra))
    elif args.role == "naive-server":
        asyncio.run(run_naive_server(args.token))
    elif args.role == "subscribe":
        asyncio.run(run_subscribers(args))
    else:
        run_publisher(args)


if __name__ == "__main__":
    main()
