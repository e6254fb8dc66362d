"""Redis going away under two `sse-widgets serve --backend redis://...` processes, over HTTP.

A producer publishes numbered events to server A; raw SSE readers on A and B (raw, to see the
``: ping`` comments and every id) follow the channel. Redis is stopped mid-stream (SIGTERM, or
SIGKILL: with ``appendfsync always`` a write is on disk before Redis answers it, so every 200
survives either), publishes meanwhile must get a quick JSON 503 naming Redis, the open streams
must stay open with heartbeats, and after Redis restarts on the same port the readers must get
exactly the events whose POST got 200: in order, once each, with the same ids on A and B.

The producer pauses while Redis is being stopped or started, so no publish is in flight at that
moment: every POST's fate (200, or 503 with nothing written) is then known exactly. The one
ambiguous case, a publish Redis ran whose reply was lost, has its own test (a proxy that loses
that reply): the 503 is then not "nothing published", and a retry with the same
Idempotency-Key, on either server, must not publish it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import HubProcess, start_hub
from redis_server import RedisServer

from sse_widgets import Publisher
from sse_widgets.client import EventStream

CHANNEL = "outage"
PING = 0.2  # the servers' heartbeat interval in these tests, seconds
# Hub options: fast heartbeats, so an outage of a second shows several; a fast client retry.
OPTIONS = (
    f"--SSEWidgets.ping_interval={PING}",
    "--SSEWidgets.retry_ms=50",
    "--SSEWidgets.history_size=10000",
)


class RawStream:
    """A raw SSE reader on its own thread: every frame and every comment, as they arrive.

    Not a client library: it sees the HTTP status, the ``: ping`` comments and the exact ids,
    and it never reconnects (a stream that ends shows in ``ended``).
    """

    def __init__(self, hub: HubProcess, path: str, headers: dict[str, str] | None = None) -> None:
        self.status: int | None = None
        self.body = b""  # the whole reply body of a refused request
        self.frames: list[tuple[float, dict[str, str]]] = []  # (arrival time, fields)
        self.pings: list[float] = []  # arrival times of heartbeat comments
        self.ended: float | None = None
        self._cond = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
        # HTTP/1.0: the body comes as written, without chunked framing.
        head = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{hub.port}\r\n"
        head += f"Authorization: Bearer {hub.token}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._sock.sendall((head + "\r\n").encode())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        raw = b""
        header_done = False
        try:
            while chunk := self._sock.recv(65536):
                now = time.monotonic()
                raw += chunk
                with self._cond:
                    if not header_done:
                        head, sep, rest = raw.partition(b"\r\n\r\n")
                        if not sep:
                            continue
                        self.status = int(head.split(b" ", 2)[1])
                        header_done, raw = True, rest
                        if self.status != 200:
                            continue  # keep the error body in raw
                    if self.status == 200:
                        *blocks, raw = raw.split(b"\n\n")
                        for block in blocks:
                            self._block(block.decode(), now)
                    self._cond.notify_all()
        except OSError:
            pass
        with self._cond:
            self.body = raw
            self.ended = time.monotonic()
            self._cond.notify_all()

    def _block(self, block: str, now: float) -> None:
        # Called with the lock held. The hub writes LF line ends and "name: value" fields.
        if block == ": ping":
            self.pings.append(now)
            return
        fields = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        self.frames.append((now, fields))

    def wait(self, condition: Callable[[RawStream], bool], timeout: float) -> bool:
        """Wait until ``condition(self)`` holds (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: condition(self), timeout)

    def events(self, name: str = "log") -> list[tuple[str, int]]:
        """``(id, n)`` of each ``name`` event so far."""
        with self._cond:
            frames = [f for _, f in self.frames if f.get("event") == name]
        return [(f["id"], json.loads(f["data"])["data"]["n"]) for f in frames]

    def arrival_of(self, event_id: str) -> float:
        with self._cond:
            return next(t for t, f in self.frames if f.get("id") == event_id)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._sock.close()


def post(
    hub: HubProcess, *ns: int, headers: dict[str, str] | None = None
) -> tuple[int, dict, float]:
    """POST events ``ns`` (one NDJSON batch) to the channel: the status, JSON reply, seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=15)
    body = "\n".join(json.dumps({"event": "log", "data": {"n": n}}) for n in ns)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            f"/api/channels/{CHANNEL}/events",
            body,
            {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {hub.token}"}
            | (headers or {}),
        )
        response = connection.getresponse()
        reply = json.loads(response.read())
    finally:
        connection.close()
    return response.status, reply, time.monotonic() - started


def halt(redis: RedisServer, how: signal.Signals) -> None:
    """End redis-server with ``how`` (SIGTERM: it shuts down cleanly; SIGKILL: it just dies)."""
    process, redis.process = redis.process, None
    assert process is not None and process.poll() is None
    os.kill(process.pid, how)
    process.wait(10)


def wait_for_log(tmp_path: Path, hub: HubProcess, text: str, timeout: float) -> bool:
    """Poll the server's log (``start_hub`` writes it to tmp_path) until ``text`` shows."""
    log = tmp_path / f"hub-{hub.port}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.02)
    return False


def seq(event_id: str) -> int:
    return int(event_id.rpartition("-")[2])


@contextlib.contextmanager
def servers(
    tmp_path: Path, *, appendonly: bool
) -> Iterator[tuple[RedisServer, HubProcess, HubProcess]]:
    """A redis-server and two serve processes on it; everything stopped by PID afterwards."""
    redis = RedisServer(tmp_path, appendonly=appendonly)
    redis.start()
    started: list[HubProcess] = []
    try:
        started.append(start_hub(tmp_path, "--backend", redis.url, *OPTIONS, token="T"))
        started.append(start_hub(tmp_path, "--backend", redis.url, *OPTIONS, token="T"))
        yield redis, started[0], started[1]
    finally:
        for hub in started:
            hub.stop()
        redis.stop()


def open_streams(*hubs: HubProcess) -> list[RawStream]:
    streams = [RawStream(hub, f"/api/events?channel={CHANNEL}") for hub in hubs]
    for stream in streams:
        # Open means subscribed: the opening "retry/id" block has arrived.
        assert stream.wait(lambda s: bool(s.frames), 10), (stream.status, stream.body)
        assert stream.status == 200
    return streams


def got_all(expected: list[tuple[str, int]]) -> Callable[[RawStream], bool]:
    return lambda s: len(s.events()) >= len(expected) or s.ended is not None


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_redis_down_keeps_streams_pinged_refuses_publishes_and_loses_nothing_accepted(
    tmp_path: Path, how: signal.Signals
) -> None:
    with servers(tmp_path, appendonly=True) as (redis, a, b):
        on_a, on_b = streams = open_streams(a, b)
        late: EventStream | None = None
        try:
            accepted: list[tuple[str, int]] = []  # (id the server answered, n) of every 200
            n = 0

            def publish(count: int) -> None:
                """POST ``count`` events in one batch; they must all be accepted."""
                nonlocal n
                ns = list(range(n, n + count))
                status, reply, _ = post(a, *ns)
                assert status == 200, reply
                accepted.extend(zip(reply["ids"], ns, strict=True))
                n += count

            for _ in range(30):
                publish(1)
            for stream in streams:
                assert stream.wait(got_all(accepted), 10)
                assert stream.events() == accepted

            # -- Redis goes away right after accepting a burst -----------------------------
            # B is frozen meanwhile, so its reader cannot have read the burst (at most the one
            # XREAD reply Redis left in its socket): the rest must come from the AOF after the
            # restart, from where the reader stopped. A's reader may be anywhere in it.
            os.kill(b.pid, signal.SIGSTOP)
            try:
                publish(1500)
                halt(redis, how)
            finally:
                os.kill(b.pid, signal.SIGCONT)
            down_at = time.monotonic()
            unread = {
                name: len(accepted) - len(s.events()) for name, s in zip("AB", streams, strict=True)
            }
            latencies = []
            refused = 0
            # Keep publishing until both streams have had several heartbeats since the stop
            # (bounded: 200 tries, 0.02 s apart, is far beyond the 3 pings of 0.2 s wanted).
            for _ in range(200):
                status, reply, took = post(a, n)
                n += 1
                assert status == 503, reply
                assert reply["status"] == 503 and set(reply) == {"error", "status"}
                assert f"Redis at {redis.url}" in reply["error"], reply  # names the Redis
                latencies.append(took)
                refused += 1
                if all(len([t for t in s.pings if t > down_at]) >= 3 for s in streams):
                    break
                time.sleep(0.02)
            assert max(latencies) < 3.0, latencies  # a clear answer, not a hang
            for stream in streams:
                assert stream.ended is None  # still open...
                assert len([t for t in stream.pings if t > down_at]) >= 3  # ...and pinged
                got = stream.events()
                assert got == accepted[: len(got)]  # and nothing but what was accepted

            # A new subscriber meanwhile: refused with the same clear 503, not an empty stream
            # that would look live (EventStream and the browser module retry a 503).
            refused_stream = RawStream(b, f"/api/events?channel={CHANNEL}")
            assert refused_stream.wait(lambda s: s.ended is not None, 10)
            assert refused_stream.status == 503
            error = json.loads(refused_stream.body)
            assert f"Redis at {redis.url}" in error["error"], error
            refused_stream.close()

            # A client that comes (back) during the outage with its cursor keeps retrying.
            late = EventStream(
                b.url, channels=[CHANNEL], token=b.token, last_event_id=accepted[9][0]
            )
            late_events: list[tuple[str, int]] = []

            def follow(stream: EventStream = late) -> None:
                for event in stream:
                    if event.event == "log":
                        late_events.append((str(event.id), event.json()["data"]["n"]))

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()

            # -- Redis comes back (its AOF replayed) ----------------------------------------
            # Accepted but not streamed yet: these can only come from Redis after the restart.
            held = {
                name: len(accepted) - len(s.events()) for name, s in zip("AB", streams, strict=True)
            }
            assert held["B"] > 0  # the resume from the reader's position is exercised
            redis.start()
            back_at = time.monotonic()
            before_restart = len(accepted)
            for _ in range(200):  # the first publish may meet a connection the stop broke
                status, reply, _ = post(a, n)
                if status == 200:
                    accepted.append((reply["ids"][0], n))
                    n += 1
                    break
                assert status == 503, reply
                n += 1
                time.sleep(0.02)
            first_200 = time.monotonic() - back_at
            for _ in range(29):
                publish(1)

            for stream in streams:
                assert stream.wait(got_all(accepted), 15), (len(stream.events()), len(accepted))
            deadline = time.monotonic() + 15
            while len(late_events) < len(accepted) - 10 and time.monotonic() < deadline:
                time.sleep(0.02)
            late.close()
            follower.join(5)

            # Exactly what got a 200, in order, once, with the same ids on A and B; the
            # refused publishes took no seq (the ids stay consecutive).
            assert on_a.events() == accepted
            assert on_b.events() == accepted
            assert [seq(i) for i, _ in accepted] == list(range(1, len(accepted) + 1))
            assert len({i.rpartition("-")[0] for i, _ in accepted}) == 1  # one epoch: no reset
            for stream in streams:
                assert not [f for _, f in stream.frames if f.get("event") == "reset"]
                assert stream.ended is None
            assert late_events == accepted[10:]

            resumed = {
                name: stream.arrival_of(accepted[before_restart][0]) - back_at
                for name, stream in zip("AB", streams, strict=True)
            }
            print(
                f"{how.name}: unread at the stop {unread}, at the restart {held}; "
                f"{refused} refused publishes, 503 in "
                f"{min(latencies) * 1000:.1f}-{max(latencies) * 1000:.1f} ms; "
                f"first 200 {first_200:.2f} s after restart; streams resumed after "
                f"A {resumed['A']:.2f} s, B {resumed['B']:.2f} s; late client connections "
                f"{late.connections}"
            )
        finally:
            if late is not None:
                late.close()
            for stream in streams:
                stream.close()


@pytest.mark.slow
def test_publisher_buffers_through_an_outage_and_every_event_arrives_once(tmp_path: Path) -> None:
    with servers(tmp_path, appendonly=True) as (redis, a, b):
        readers = [
            EventStream(hub.url, channels=[CHANNEL], token=hub.token, read_timeout=30)
            for hub in (a, b)
        ]
        got: list[list[tuple[str, int]]] = [[], []]
        total = 300

        def follow(stream: EventStream, into: list[tuple[str, int]]) -> None:
            for event in stream:
                if event.event == "log":
                    into.append((str(event.id), event.json()["data"]["n"]))
                    if len(into) == total:
                        return

        threads = [
            threading.Thread(target=follow, args=(s, g), daemon=True)
            for s, g in zip(readers, got, strict=True)
        ]
        for thread in threads:
            thread.start()
        # A reader is subscribed once its response has arrived.
        deadline = time.monotonic() + 10
        while not all(r.connections for r in readers) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(r.connections for r in readers)
        publisher = Publisher(a.url, a.token)
        try:
            for n in range(100):
                publisher.send(CHANNEL, "log", {"n": n})
            assert publisher.flush(10)  # nothing in flight when Redis stops
            redis.stop()
            for n in range(100, 200):
                publisher.send(CHANNEL, "log", {"n": n})
                time.sleep(0.005)
            # The hub answers 503: the publisher holds the events and retries them.
            assert publisher.stats["settled"] < 200, publisher.stats
            redis.start()
            for n in range(200, total):
                publisher.send(CHANNEL, "log", {"n": n})
                time.sleep(0.002)
            assert publisher.flush(30), publisher.stats
            assert publisher.stats["dropped"] == 0
        finally:
            publisher.close()
        for thread in threads:
            thread.join(20)
        for reader in readers:
            reader.close()
        assert [n for _, n in got[0]] == list(range(total))
        assert got[0] == got[1]  # the same ids on A and B
        assert [seq(i) for i, _ in got[0]] == list(range(1, total + 1))


@pytest.mark.slow
def test_redis_losing_its_data_resets_the_streams_on_both_servers(tmp_path: Path) -> None:
    # tests/test_redis_hub.py covers the reset for a subscriber of the hub that did *not*
    # publish; here the publishing process (whose script sees the new epoch first) has a
    # subscriber too, and both are real servers.
    with servers(tmp_path, appendonly=False) as (redis, a, b):
        streams = open_streams(a, b)
        try:
            before = [(post(a, n)[1]["ids"][0], n) for n in range(5)]
            for stream in streams:
                assert stream.wait(got_all(before), 10)
            old_epoch = before[0][0].rpartition("-")[0]
            redis.restart()  # no persistence: everything is gone
            after = []
            for n in range(5, 205):  # bounded; the first may meet a connection the stop broke
                status, reply, _ = post(a, n)
                if status == 200:
                    after.append((reply["ids"][0], n))
                    if len(after) == 5:
                        break
                else:
                    assert status == 503, reply
                    assert not after  # once back, every publish is accepted
                    time.sleep(0.02)
            new_epoch = after[0][0].rpartition("-")[0]
            assert new_epoch != old_epoch
            assert [seq(i) for i, _ in after] == [1, 2, 3, 4, 5]  # seqs start again
            for stream in streams:
                assert stream.wait(got_all(before + after), 15)
                frames = [f for _, f in stream.frames if f.get("event") in ("log", "reset")]
                assert [(f["event"], f["id"]) for f in frames] == [
                    *[("log", i) for i, _ in before],
                    ("reset", f"{new_epoch}-0"),
                    *[("log", i) for i, _ in after],
                ]
                reset = json.loads(frames[5]["data"])
                assert reset["channel"] == CHANNEL
                assert reset["data"] == {"reason": "hub-restarted"}
                assert stream.events() == before + after
        finally:
            for stream in streams:
                stream.close()


class LossyProxy:
    """A loopback TCP proxy to Redis that can lose the reply of the next publish script.

    Armed, it forwards the next ``EVALSHA``/``EVAL`` to Redis, waits for Redis's reply (so the
    script did run), drops it and cuts that connection: what a crash or a network fault right
    after Redis ran a command looks like to the server process.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.armed = threading.Event()
        self.lost = threading.Event()  # set once a reply was dropped
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._shut(server))
        loop.close()

    async def _shut(self, server: asyncio.Server) -> None:
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        pair = {client_w, server_w}
        self._writers |= pair
        swallow = False

        async def up() -> None:
            nonlocal swallow
            while chunk := await client_r.read(65536):
                if self.armed.is_set() and (b"EVALSHA\r\n" in chunk or b"$4\r\nEVAL\r\n" in chunk):
                    self.armed.clear()
                    swallow = True  # before forwarding: the reply cannot overtake the flag
                server_w.write(chunk)
                await server_w.drain()

        async def down() -> None:
            while chunk := await server_r.read(65536):
                if swallow:
                    self.lost.set()  # Redis ran the script; its answer goes nowhere
                    return
                client_w.write(chunk)
                await client_w.drain()

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for writer in pair:
                writer.transport.abort()
            self._writers -= pair
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.mark.slow
def test_a_publish_whose_reply_redis_lost_is_not_published_again_on_retry(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    proxy = LossyProxy(redis.port)
    hubs: list[HubProcess] = []
    streams: list[RawStream] = []
    try:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        hubs += [start_hub(tmp_path, "--backend", url, *OPTIONS, token="T") for _ in "AB"]
        a, b = hubs
        streams += open_streams(a, b)
        status, reply, _ = post(a, 0, headers={"Idempotency-Key": "batch-0"})
        assert status == 200, reply  # and the script is loaded in Redis
        [first] = reply["ids"]

        proxy.armed.set()
        status, reply, took = post(a, 1, headers={"Idempotency-Key": "batch-1"})
        assert proxy.lost.is_set()
        assert status == 503 and "Redis" in reply["error"], reply
        assert took < 3.0
        # Redis did publish it: the readers (their own connections) stream it.
        for stream in streams:
            assert stream.wait(lambda s: len(s.events()) >= 2, 10)
        assert [n for _, n in streams[0].events()] == [0, 1]
        lost_id = streams[0].events()[1][0]

        # The producer retries with the same key, as the Publisher does: on the same server
        # and on the other one (a load balancer may send it anywhere).
        for hub in (a, b):
            status, reply, _ = post(hub, 1, headers={"Idempotency-Key": "batch-1"})
            assert status == 200, reply
            assert reply["ids"] == [lost_id], "the retry published the batch a second time"
        status, reply, _ = post(a, 2, headers={"Idempotency-Key": "batch-2"})
        assert status == 200, reply
        expected = [(first, 0), (lost_id, 1), (reply["ids"][0], 2)]
        for stream in streams:
            assert stream.wait(got_all(expected), 10)
            time.sleep(0.3)  # a duplicate, if any, would be right behind
            assert stream.events() == expected
    finally:
        for stream in streams:
            stream.close()
        for hub in hubs:
            hub.stop()
        proxy.close()
        redis.stop()


@pytest.mark.slow
def test_a_hung_redis_gets_a_503_within_seconds_and_the_retry_publishes_once(
    tmp_path: Path,
) -> None:
    # Frozen (SIGSTOP), Redis keeps its connections open and answers nothing, as a hung host
    # or a partition would: the publish must still end with a 503 (redis-py's socket timeout,
    # 5 s by default in redis-py 8), and the command Redis finds in its socket once it runs
    # again makes that 503 ambiguous, which the Idempotency-Key of the retry resolves.
    with servers(tmp_path, appendonly=True) as (redis, a, b):
        streams = open_streams(a, b)
        try:
            status, reply, _ = post(a, 0, headers={"Idempotency-Key": "batch-0"})
            assert status == 200, reply
            first = reply["ids"][0]
            for stream in streams:
                assert stream.wait(lambda s: len(s.events()) == 1, 10)
            assert redis.process is not None
            os.kill(redis.process.pid, signal.SIGSTOP)
            try:
                frozen_at = time.monotonic()
                status, reply, took = post(a, 1, headers={"Idempotency-Key": "batch-1"})
                assert status == 503 and f"Redis at {redis.url}" in reply["error"], reply
                assert took < 8.0, took
                for stream in streams:
                    assert stream.ended is None
                    assert len([t for t in stream.pings if t > frozen_at]) >= 3
            finally:
                os.kill(redis.process.pid, signal.SIGCONT)
            for _ in range(100):  # bounded: 100 x 0.05 s
                status, reply, _ = post(a, 1, headers={"Idempotency-Key": "batch-1"})
                if status == 200:
                    break
                assert status == 503, reply
                time.sleep(0.05)
            assert status == 200, reply
            [retried] = reply["ids"]
            status, reply, _ = post(b, 2, headers={"Idempotency-Key": "batch-2"})
            assert status == 200, reply
            expected = [(first, 0), (retried, 1), (reply["ids"][0], 2)]
            for stream in streams:
                assert stream.wait(got_all(expected), 15)
                time.sleep(0.3)  # a duplicate, if any, would be right behind
                assert stream.events() == expected
            print(f"hung Redis: 503 after {took:.2f} s")
        finally:
            for stream in streams:
                stream.close()


@pytest.mark.slow
def test_once_redis_is_back_the_first_requests_succeed(tmp_path: Path) -> None:
    # Nothing reaches the servers while Redis is away: their pooled Redis connections, broken
    # by the stop, must not turn the first requests after the restart into 503s.
    with servers(tmp_path, appendonly=True) as (redis, a, b):
        streams = open_streams(a, b)
        try:
            status, reply, _ = post(a, 0)
            assert status == 200, reply
            for stream in streams:
                assert stream.wait(lambda s: len(s.events()) == 1, 10)
            redis.stop()
            for hub in (a, b):  # wait until both readers have noticed
                assert wait_for_log(tmp_path, hub, "lost Redis at", 10)
            redis.start()  # answers PING when this returns
            late = [RawStream(hub, f"/api/events?channel={CHANNEL}") for hub in (a, b)]
            streams += late
            for stream in late:
                assert stream.wait(lambda s: s.status is not None, 10)
                assert stream.status == 200, stream.body
            for n, hub in enumerate((a, b), start=1):
                status, reply, _ = post(hub, n)
                assert status == 200, reply
            for stream in streams:
                assert stream.wait(lambda s: len(s.events()) >= 2, 10)
        finally:
            for stream in streams:
                stream.close()


def keep_first_publishes(directory: Path, count: int) -> None:
    """Cut Redis's AOF after its first ``count`` publish scripts: what a crash can leave with
    ``appendfsync everysec`` (Redis's default), or what a replica that lagged has."""
    [aof] = (directory / "appendonlydir").glob("*.incr.aof")
    data = aof.read_bytes()
    marker = b"*1\r\n$5\r\nMULTI\r\n"  # a script's effects are written as MULTI ... EXEC
    starts = [i for i in range(len(data)) if data.startswith(marker, i)]
    assert len(starts) > count, f"unexpected AOF layout: {len(starts)} MULTI blocks"
    aof.write_bytes(data[: starts[count]])


@pytest.mark.slow
def test_redis_back_without_its_last_writes_hands_out_no_id_twice(tmp_path: Path) -> None:
    with servers(tmp_path, appendonly=True) as (redis, a, b):
        streams = open_streams(a, b)
        try:
            before = []
            for n in range(10):
                status, reply, _ = post(a, n)
                assert status == 200, reply
                before.append((reply["ids"][0], n))
            for stream in streams:
                assert stream.wait(got_all(before), 10)
            redis.stop()
            keep_first_publishes(redis.directory, 5)
            redis.start()
            for _ in range(100):  # bounded: 100 x 0.05 s
                status, reply, _ = post(a, 10)
                if status == 200:
                    break
                time.sleep(0.05)
            assert status == 200, reply
            [new_id] = reply["ids"]
            assert new_id not in dict(before), f"{new_id} was handed out before for another event"
            for stream in streams:  # the live subscribers get it
                assert stream.wait(lambda s: new_id in dict(s.events()), 10)
        finally:
            for stream in streams:
                stream.close()
