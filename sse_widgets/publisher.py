"""Publishing from notebook code, threads, processes and async code: never blocks on the network.

``channel("train").send("log", {...})`` serializes the data at once (so a bad payload fails
right there, and later changes to the object do not leak into the event) and appends one
NDJSON line to an in-memory queue. A background thread drains the queue into batches, one
``POST api/events`` each over a keep-alive connection; while a POST is in flight new events
gather into the next batch, so a hot loop costs one queue append per event.

When the hub is unreachable the queue is bounded (oldest events dropped first), one warning
is logged per outage, and the sender retries with backoff; the caller's loop never sees a
network exception. Each batch carries an ``Idempotency-Key``, so a batch retried after a lost
reply is not published twice.

Where the hub is: ``connect(url, token)``, else ``SSE_WIDGETS_URL`` / ``SSE_WIDGETS_TOKEN``
(exported by the Jupyter extension to its kernels), else an embedded hub started in this
process on a loopback port; outside a kernel, one line on stderr then names the URL of its
live page.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import quote

from .control import ControlRouter
from .errors import InvalidRequest, NotAuthorized, PayloadTooLarge, Unavailable
from .names import validate_channel_name, validate_event_name
from .transport import TOKEN_HEADER, HubAddress

__all__ = ["Publisher", "connect", "get_publisher"]

log = logging.getLogger("sse_widgets.publisher")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Publisher:
    """A connection to one hub that batches events in a background thread.

    Thread-safe; one per process is the norm (see :func:`get_publisher`).

    >>> pub = Publisher("http://127.0.0.1:9/", token="t", start=False)
    >>> pub.send("demo", "log", {"message": "queued, not sent: start=False"})
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        max_batch_events: int = 2000,
        max_batch_bytes: int = 256 * 1024,
        max_buffer_bytes: int = 64 * 1024 * 1024,
        timeout: float = 10.0,
        start: bool = True,
    ) -> None:
        self.address = HubAddress.parse(url)
        self.token = token
        self.max_batch_events = max_batch_events
        self.max_batch_bytes = max_batch_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self.timeout = timeout
        self._id = secrets.token_hex(6)
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._enqueued = 0  # events ever queued
        self._settled = 0  # events accepted by the hub or dropped
        self._dropped = 0
        self._batches = 0
        self._closing = False
        self._sender_idle = False
        self._thread: threading.Thread | None = None
        self._autostart = start
        self._outage_since: float | None = None
        self._control: ControlRouter | None = None
        # Sources that coalesce many small events into few (chart points): drained into the
        # queue by the sender thread when due, and at every flush.
        self._deferred: dict[Any, float] = {}
        self.coalescers: dict[Any, Any] = {}  # owned by their modules, keyed as they like

    # -- the caller's side: cheap, non-blocking --------------------------------------------

    def send(self, channel: str, event: str, data: Any = None) -> None:
        """Queue one event for ``channel``; returns at once.

        Raises InvalidRequest for a bad channel or event name and TypeError for data that is
        not JSON-serializable, before anything is queued.
        """
        try:
            payload = _encode(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"event {event!r}: data is not JSON-serializable: {exc}") from None
        self.send_json(channel, event, payload)

    def send_json(self, channel: str, event: str, payload: str) -> None:
        """Queue an event whose data is already JSON text (trusted to be valid JSON)."""
        validate_channel_name(channel)
        validate_event_name(event)
        self._enqueue(
            f'{{"channel":"{channel}","event":{_encode(event)},"data":{payload}}}'.encode()
        )

    def _enqueue(self, line: bytes) -> None:
        cond = self._cond
        with cond:
            if self._closing:
                raise InvalidRequest("this publisher is closed; use sse_widgets.connect() again")
            if self._queued_bytes + len(line) > self.max_buffer_bytes:
                self._make_room(len(line))
            self._queue.append(line)
            self._queued_bytes += len(line)
            self._enqueued += 1
            self._wake_sender()

    def send_call(self, call: str, event: str, payload: str) -> None:
        """Queue an event (data already JSON text) for an endpoint call (endpoints.py)."""
        validate_event_name(event)
        self._enqueue(f'{{"call":"{call}","event":{_encode(event)},"data":{payload}}}'.encode())

    def defer(self, source: Any, delay: float) -> None:
        """Have ``source.drain()`` called within ``delay`` seconds (or by the next flush);
        it returns ``(channel, event, payload JSON)`` triples to queue. Call it without
        holding a lock that ``drain`` takes."""
        with self._cond:
            due = time.monotonic() + delay
            if due < self._deferred.get(source, due + 1):
                self._deferred[source] = due
            self._wake_sender()

    def _wake_sender(self) -> None:
        # Called with the lock held.
        if self._thread is None:
            if self._autostart:
                self._start()
        elif self._sender_idle:
            self._cond.notify()

    def _drain_deferred(self, everything: bool) -> None:
        # Called with the lock held (by the sender thread or flush): never waits for room.
        now = time.monotonic()
        for source, due in list(self._deferred.items()):
            if everything or due <= now:
                del self._deferred[source]
                for channel, event, payload in source.drain():
                    text = f'{{"channel":"{channel}","event":{_encode(event)},"data":{payload}}}'
                    line = text.encode()
                    self._queue.append(line)
                    self._queued_bytes += len(line)
                    self._enqueued += 1

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every event queued before this call reached the hub (or was dropped).

        Returns True if all of them were accepted, False on timeout or after drops.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._deferred:
                self._drain_deferred(everything=True)
            target, dropped = self._enqueued, self._dropped
            if self._thread is None and self._queue and self._autostart:
                self._start()
            while self._settled < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return self._dropped == dropped

    async def aflush(self, timeout: float | None = 10.0) -> bool:
        """Async :meth:`flush` (asyncio or trio, via anyio); other tasks run meanwhile."""
        import anyio

        return await anyio.to_thread.run_sync(self.flush, timeout, abandon_on_cancel=True)

    def close(self, timeout: float | None = 5.0) -> None:
        """Flush, then stop the sender thread. Further sends raise InvalidRequest."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._control is not None:
            self._control.close()

    def post_control(self, channel: str, message: Any, timeout: float = 10.0) -> None:
        """POST a control message (``{"event": "cancel", "data": {"bar": id}}``) to the
        channel's producer through the hub, now (not queued); raises when the hub refuses it."""
        channel = validate_channel_name(channel)
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            raise InvalidRequest('a control message is an object like {"event": "cancel", ...}')
        validate_event_name(message["event"])
        connection = self.address.connection(timeout)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers[TOKEN_HEADER] = self.token
        try:
            path = self.address.path(f"api/channels/{quote(channel, safe='')}/control")
            connection.request("POST", path, json.dumps(message).encode(), headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        if response.status >= 400:
            _raise_for_reply(response.status, body)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (sends then raise InvalidRequest)."""
        return self._closing

    @property
    def control(self) -> ControlRouter:
        """Routes viewer-to-producer messages (cancel) of this hub to their receivers."""
        with self._cond:
            if self._control is None:
                self._control = ControlRouter(self, listen=self._autostart)
            return self._control

    @property
    def stats(self) -> dict[str, int]:
        """Counters: events queued, settled, dropped, and batches sent."""
        with self._cond:
            return {
                "queued": self._enqueued,
                "settled": self._settled,
                "dropped": self._dropped,
                "batches": self._batches,
                "pending": len(self._queue),
            }

    def _make_room(self, needed: int) -> None:
        """The queue is full (lock held): wait for the sender while the hub is taking events,
        drop the oldest while it is unreachable.

        A producer faster than the network is slowed down rather than losing events; a hub
        outage must not stall the caller's loop, so then the oldest events go instead.
        """
        while (
            self._queued_bytes + needed > self.max_buffer_bytes
            and self._outage_since is None
            and self._thread is not None
            and self._thread.is_alive()
            and self._queue
        ):
            self._cond.wait(0.1)
        if self._queued_bytes + needed > self.max_buffer_bytes:
            self._drop_oldest(needed)

    def _drop_oldest(self, needed: int) -> None:
        # Called with the lock held. Newer events matter more (the latest progress state).
        dropped = 0
        while self._queued_bytes + needed > self.max_buffer_bytes and self._queue:
            self._queued_bytes -= len(self._queue.popleft())
            dropped += 1
        self._dropped += dropped
        self._settled += dropped
        if dropped and self._dropped == dropped:
            log.warning(
                "sse_widgets: the hub at %s is not keeping up; dropping the oldest "
                "queued events (buffer limit %d bytes)",
                self.address.url,
                self.max_buffer_bytes,
            )

    # -- the sender thread ---------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sse-widgets-sender", daemon=True)
        self._thread.start()

    def _next_batch(self) -> list[bytes] | None:
        with self._cond:
            while not self._queue:
                if self._deferred:
                    self._drain_deferred(everything=self._closing)
                    if self._queue:
                        break
                if self._closing:
                    return None
                timeout = None
                if self._deferred:
                    timeout = max(0.0, min(self._deferred.values()) - time.monotonic())
                self._sender_idle = True
                self._cond.wait(timeout)
                self._sender_idle = False
            batch: list[bytes] = []
            size = 0
            queue = self._queue
            while queue and len(batch) < self.max_batch_events and size < self.max_batch_bytes:
                line = queue.popleft()
                batch.append(line)
                size += len(line)
            self._queued_bytes -= size
            self._cond.notify_all()  # producers waiting for room in _make_room
            return batch

    def _run(self) -> None:
        self._connection: Any = None
        while (batch := self._next_batch()) is not None:
            self._batches += 1
            self._deliver(batch, f"{self._id}-{self._batches}")
            with self._cond:
                self._settled += len(batch)
                self._cond.notify_all()
        if self._connection is not None:
            self._connection.close()

    def _deliver(self, batch: list[bytes], key: str) -> None:
        """POST one batch until the hub answers; retried with the same Idempotency-Key."""
        path = self.address.path("api/events")
        body = b"\n".join(batch)
        delay = 0.05
        while True:
            try:
                if self._connection is None:
                    self._connection = self.address.connection(self.timeout)
                status, reply = _post(self._connection, path, body, key, self.token)
            except Exception as exc:  # noqa: BLE001 - any transport fault is an outage
                if self._connection is not None:
                    self._connection.close()
                self._connection = None
                status, reply = 0, f"{type(exc).__name__}: {exc}"
            if status == 200:
                self._recovered()
                return
            if status in (400, 413, 415):
                self._recovered()
                self._reject(batch, key, status, reply)
                return
            self._outage(status, reply)
            if self._closing and time.monotonic() - (self._outage_since or 0) > 5:
                with self._cond:
                    self._dropped += len(batch)
                return  # shutting down: do not hold the process for an unreachable hub
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _outage(self, status: int, reply: str) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            why = f"HTTP {status}: {reply[:200]}" if status else reply
            log.warning(
                "sse_widgets: cannot reach the hub at %s (%s); buffering events and retrying",
                self.address.url,
                why,
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.info(
                "sse_widgets: the hub at %s is reachable again after %.1f s",
                self.address.url,
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None

    def _reject(self, batch: list[bytes], key: str, status: int, reply: str) -> None:
        # The hub refuses a batch as a whole; resend its events one by one so that only the
        # bad ones are lost, each reported with the hub's reason.
        if len(batch) == 1:
            log.warning("sse_widgets: the hub refused an event (HTTP %d: %s)", status, reply[:300])
            with self._cond:
                self._dropped += 1
            return
        for number, line in enumerate(batch):
            self._deliver([line], f"{key}.{number}")


def _raise_for_reply(status: int, body: str) -> None:
    """The hub's JSON error (``{"error", "status"}``) as the matching exception."""
    try:
        message = str(json.loads(body).get("error", body))
    except (ValueError, AttributeError):
        message = body
    if status == 403:
        raise NotAuthorized(f"HTTP 403: {message}")
    if status == 413:
        raise PayloadTooLarge(f"HTTP 413: {message}")
    if status == 503:
        raise Unavailable(f"HTTP 503: {message}")
    raise InvalidRequest(f"HTTP {status}: {message}", status=status)


def _post(connection: Any, path: str, body: bytes, key: str, token: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": key}
    if token:
        headers[TOKEN_HEADER] = token
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    reply = response.read().decode("utf-8", "replace")
    if response.status >= 500 or response.getheader("Connection", "").lower() == "close":
        connection.close()
    return response.status, reply


_default: Publisher | None = None
_default_pid = 0
_default_lock = threading.Lock()


def connect(url: str, token: str | None = None) -> Publisher:
    """Publish to the hub at ``url`` from now on (the process-wide default publisher).

    Example::

        sse_widgets.connect("http://127.0.0.1:8765/", token="...")
    """
    global _default, _default_pid
    publisher = Publisher(url, token)
    # Like the default publisher: what was queued is sent before the interpreter exits (a
    # script's last events, a bar's final state).
    atexit.register(publisher.close, 5.0)
    with _default_lock:
        old, _default, _default_pid = _default, publisher, os.getpid()
    if old is not None and _default_pid == os.getpid():
        old.close(timeout=2.0)
    return publisher


def get_publisher() -> Publisher:
    """The process-wide publisher: from ``connect()``, the environment, or an embedded hub."""
    global _default, _default_pid
    pid = os.getpid()
    if _default is not None and _default_pid == pid:
        return _default
    with _default_lock:
        if _default is None or _default_pid != pid:  # a forked child gets its own sender
            url = os.environ.get("SSE_WIDGETS_URL")
            token = os.environ.get("SSE_WIDGETS_TOKEN")
            if not url:
                from .server.embedded import start_embedded_hub

                url, token = start_embedded_hub()
                _announce_embedded_hub(url, token)
            _default, _default_pid = Publisher(url, token), pid
            atexit.register(_default.close, 5.0)
        return _default


def _announce_embedded_hub(url: str, token: str) -> None:
    """Say where a plain script's events can be watched (issue 12).

    A script with no hub configured would otherwise start one and show nothing anywhere. In a
    kernel (VS Code, Colab) the widgets show the events through the relay, so nothing is
    printed there; ``SSE_WIDGETS_QUIET=1`` silences it elsewhere.
    """
    import sys

    if "ipykernel" in sys.modules or os.environ.get("SSE_WIDGETS_QUIET"):
        return
    sys.stderr.write(
        f"sse_widgets: no hub configured; watch this process's progress, logs and charts at "
        f"{url}?token={token} while it runs (a hub that outlives it: `sse-widgets serve` and "
        "SSE_WIDGETS_URL / SSE_WIDGETS_TOKEN; SSE_WIDGETS_QUIET=1 hides this line)\n"
    )
    sys.stderr.flush()
