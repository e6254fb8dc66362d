"""Request-scoped endpoints: the hub's registry of workers, their endpoints and running calls.

An *endpoint* is a function in some process (a kernel, a script) decorated with
:func:`sse_widgets.endpoint`. That process, the *worker*, registers it with
``POST api/endpoints/<name>/workers`` and keeps the response open: it is the worker's *feed*,
an SSE stream on which the hub sends ``call`` and ``cancel`` messages. A caller's
``POST api/endpoints/<name>`` creates a :class:`CallState`, sends ``call`` on the feed of the
least busy worker and streams the call's events back; the worker publishes them as lines
``{"call": id, "event": ..., "data": ...}`` of its ordinary ``POST api/events`` batches.

Calls are process-local, like the workers' connections: they are not in the hub's channels
(nor in Redis), so they never appear in ``api/channels`` and need no cleanup there. A call's
events are numbered ``1, 2, ...`` (its stream's ids), kept until the call has been finished
for ``retention`` seconds, so a reader can resume with ``Last-Event-ID``.

A call ends with exactly one terminal event (``complete`` or ``error``); its readers' streams
then end. The last reader leaving cancels the call, at once or, when the caller asked for a
``resume_window``, after that many seconds without a reader.

Pure asyncio, no tornado: the handlers are in ``endpoint_handlers.py``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest, Unavailable
from ..names import validate_channel_name
from ..records import PublishItem
from ..subscription import Subscription

__all__ = ["CallState", "EndpointInfo", "EndpointRegistry", "TERMINAL_EVENTS"]

#: The events that end a call's stream; a worker sends exactly one of them, last.
TERMINAL_EVENTS = frozenset({"complete", "error"})
#: How long a worker's calls survive its feed connection dropping (a reconnect keeps them).
WORKER_GRACE = 5.0
_PING = b": ping\n\n"
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class EndpointInfo:
    """What a worker says about its function: shown by ``GET api/endpoints``."""

    name: str
    signature: str = "()"
    doc: str = ""
    #: ``[{"name", "required", "annotation", "default"?}]``, injected helpers excluded.
    parameters: tuple[dict[str, Any], ...] = ()
    #: The function takes ``**kwargs``: any argument name is accepted.
    accepts_any: bool = False
    max_concurrency: int = 4

    @classmethod
    def from_json(cls, name: str, value: Any, default_concurrency: int) -> EndpointInfo:
        """Validate a worker's registration body; raises InvalidRequest naming the problem."""
        if not isinstance(value, dict):
            raise InvalidRequest("a worker registration is a JSON object")
        params = value.get("parameters", [])
        if not isinstance(params, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in params
        ):
            raise InvalidRequest('"parameters" is a list of objects with a "name"')
        limit = value.get("max_concurrency")
        if limit is None:
            limit = default_concurrency
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidRequest(f'"max_concurrency" must be a positive int, not {limit!r}')
        for key in ("signature", "doc"):
            if not isinstance(value.get(key, ""), str):
                raise InvalidRequest(f'"{key}" must be a string')
        return cls(
            name=name,
            signature=value.get("signature", "()"),
            doc=value.get("doc", ""),
            parameters=tuple(params),
            accepts_any=bool(value.get("accepts_any", False)),
            max_concurrency=limit,
        )

    def check_arguments(self, arguments: Any) -> dict[str, Any]:
        """The call's keyword arguments, or InvalidRequest saying what is wrong with them."""
        if not isinstance(arguments, dict):
            raise InvalidRequest(
                f"the body must be a JSON object of keyword arguments for "
                f"{self.name}{self.signature}, not {type(arguments).__name__}"
            )
        known = {p["name"] for p in self.parameters}
        unknown = sorted(set(arguments) - known)
        if unknown and not self.accepts_any:
            raise InvalidRequest(f"{self.name}{self.signature} has no parameter(s) {unknown}")
        missing = [p["name"] for p in self.parameters if p.get("required")]
        missing = [name for name in missing if name not in arguments]
        if missing:
            raise InvalidRequest(f"{self.name}{self.signature} is missing argument(s) {missing}")
        return arguments

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signature": self.signature,
            "doc": self.doc,
            "parameters": list(self.parameters),
            "max_concurrency": self.max_concurrency,
        }


@dataclass(eq=False)
class WorkerLink:
    """One worker process serving one endpoint, and its feed connection (when connected)."""

    id: str
    info: EndpointInfo
    feed: Subscription | None = None
    calls: dict[str, CallState] = field(default_factory=dict)
    gone_timer: asyncio.TimerHandle | None = None
    #: Calls started and not finished. A counter, not a scan of ``calls``: that also holds the
    #: finished calls kept for resuming, thousands of them under load.
    running: int = 0

    def send(self, event: str, data: Any) -> None:
        if self.feed is not None:
            self.feed.push(f"event: {event}\ndata: {_encode(data)}\n\n".encode())


@dataclass(eq=False)
class CallState:
    """One call: its numbered events, its readers, and whether it is finished."""

    id: str
    endpoint: str
    worker: WorkerLink
    arguments: dict[str, Any]
    resume_window: float
    max_bytes: int
    frames: deque[tuple[int, bytes]] = field(default_factory=deque)
    size: int = 0
    seq: int = 0
    finished: bool = False
    finished_at: float = 0.0
    cancel_reason: str | None = None
    readers: set[Subscription] = field(default_factory=set)
    detach_timer: asyncio.TimerHandle | None = None

    def frame(self, event: str, payload: str) -> bytes:
        self.seq += 1
        head = f"id: {self.seq}\n" if event == "message" else f"id: {self.seq}\nevent: {event}\n"
        return f"{head}data: {payload}\n\n".encode()

    def keep(self, frame: bytes) -> None:
        # Bounded like a channel's history: the oldest events go first, never the last one.
        self.frames.append((self.seq, frame))
        self.size += len(frame)
        while self.size > self.max_bytes and len(self.frames) > 1:
            self.size -= len(self.frames.popleft()[1])


class EndpointRegistry:
    """Every endpoint of this server process, its workers and its calls.

    >>> registry = EndpointRegistry()
    >>> registry.describe()
    []
    """

    def __init__(
        self,
        *,
        default_concurrency: int = 4,
        max_resume_window: float = 300.0,
        retention: float = 60.0,
        max_call_bytes: int = 16 * 1024 * 1024,
        buffer_bytes: int = 8 * 1024 * 1024,
        ping_interval: float = 15.0,
    ) -> None:
        self.default_concurrency = default_concurrency
        self.max_resume_window = max_resume_window
        self.retention = retention
        self.max_call_bytes = max_call_bytes
        self.buffer_bytes = buffer_bytes
        self.ping_interval = ping_interval
        self._endpoints: dict[str, dict[str, WorkerLink]] = {}
        self._calls: dict[str, CallState] = {}
        self._finished: deque[CallState] = deque()
        self._pinger: asyncio.Task[None] | None = None

    # -- workers ------------------------------------------------------------------------------

    def attach_worker(self, info: EndpointInfo, worker_id: str) -> Subscription:
        """Register (or re-register) a worker; return its feed, already holding the calls it
        must (re)start and the cancels it must apply."""
        self._start_pinger()
        links = self._endpoints.setdefault(info.name, {})
        link = links.get(worker_id)
        if link is None:
            link = links[worker_id] = WorkerLink(worker_id, info)
        else:
            link.info = info
            if link.gone_timer is not None:
                link.gone_timer.cancel()
                link.gone_timer = None
            if link.feed is not None:
                link.feed.close("replaced")
        feed = Subscription((f"{info.name}#worker",), single=True, limit_bytes=self.buffer_bytes)
        link.feed = feed
        for call in link.calls.values():
            if not call.finished:  # the worker skips the calls it already runs
                link.send("call", {"id": call.id, "arguments": call.arguments})
                if call.cancel_reason is not None:
                    link.send("cancel", {"id": call.id, "reason": call.cancel_reason})
        return feed

    def detach_worker(self, info: EndpointInfo, worker_id: str, feed: Subscription) -> None:
        """A worker's feed connection ended: its calls fail unless it is back within the grace."""
        link = self._endpoints.get(info.name, {}).get(worker_id)
        if link is None or link.feed is not feed:
            return  # already replaced by a newer connection
        link.feed = None
        loop = asyncio.get_running_loop()
        link.gone_timer = loop.call_later(WORKER_GRACE, self._drop_worker, link)

    def _drop_worker(self, link: WorkerLink) -> None:
        name = link.info.name
        links = self._endpoints.get(name, {})
        if links.get(link.id) is not link or link.feed is not None:
            return
        del links[link.id]
        if not links:
            self._endpoints.pop(name, None)
        for call in list(link.calls.values()):
            if not call.finished:
                message = (
                    f"the process serving endpoint {name!r} went away (its kernel or script "
                    "stopped or restarted) before the call finished"
                )
                self._record(call, "error", _encode({"type": "WorkerGone", "message": message}))

    # -- listing ------------------------------------------------------------------------------

    def describe(self, name: str | None = None) -> list[dict[str, Any]]:
        """``GET api/endpoints``: each endpoint with its newest worker's description."""
        found = []
        for endpoint, links in sorted(self._endpoints.items()):
            if name is not None and endpoint != name:
                continue
            newest = list(links.values())[-1]
            entry = newest.info.describe()
            entry["running"] = sum(link.running for link in links.values())
            entry["workers"] = sum(link.feed is not None for link in links.values())
            found.append(entry)
        return found

    # -- calls ----------------------------------------------------------------------------------

    def start_call(self, name: str, arguments: Any, resume_window: float = 0.0) -> CallState:
        """Create a call and hand it to the least busy connected worker.

        Raises InvalidRequest (404 unknown endpoint, 400 bad arguments or window, 429 every
        worker at its limit) or Unavailable (503: the worker is reconnecting).
        """
        validate_channel_name(name)
        links = self._endpoints.get(name)
        if not links:
            raise InvalidRequest(
                f"no endpoint named {name!r}: run the code that defines "
                f"@sse_widgets.endpoint({name!r}) (GET api/endpoints lists them)",
                status=404,
            )
        if not 0 <= resume_window <= self.max_resume_window:
            raise InvalidRequest(
                f"resume_window must be between 0 and {self.max_resume_window} seconds "
                "(c.SSEWidgets.endpoint_resume_window)"
            )
        connected = [link for link in links.values() if link.feed is not None]
        if not connected:
            raise Unavailable(f"the worker of endpoint {name!r} is reconnecting; try again")
        newest = list(links.values())[-1]
        arguments = newest.info.check_arguments(arguments)
        free = [link for link in connected if link.running < link.info.max_concurrency]
        if not free:
            limit = sum(link.info.max_concurrency for link in connected)
            raise InvalidRequest(
                f"endpoint {name!r} is running {limit} calls, its limit "
                "(@endpoint(max_concurrency=...)); try again when one finishes",
                status=429,
            )
        link = min(free, key=lambda link: link.running / link.info.max_concurrency)
        call = CallState(
            secrets.token_urlsafe(16), name, link, arguments, resume_window, self.max_call_bytes
        )
        self._calls[call.id] = call
        link.calls[call.id] = call
        link.running += 1
        link.send("call", {"id": call.id, "arguments": arguments})
        return call

    def call(self, name: str, call_id: str) -> CallState:
        """A call still known to this process; InvalidRequest 404 otherwise."""
        self._expire()
        call = self._calls.get(call_id)
        if call is None or call.endpoint != name:
            raise InvalidRequest(
                f"no call {call_id!r} of endpoint {name!r} (finished calls are kept "
                f"{self.retention:g} s)",
                status=404,
            )
        return call

    def open_reader(self, call: CallState, after: str | None = None) -> Subscription:
        """A stream of the call's events after id ``after``; it ends after the terminal one."""
        if call.detach_timer is not None:
            call.detach_timer.cancel()
            call.detach_timer = None
        sub = Subscription((call.id,), single=True, limit_bytes=self.buffer_bytes)
        start = int(after) if after is not None and after.isdigit() else 0
        frames = [frame for seq, frame in call.frames if seq > start]
        sub.push_many(frames, sum(map(len, frames)))
        if call.finished:
            sub.close("finished")
        else:
            call.readers.add(sub)
        return sub

    def reader_gone(self, call: CallState, sub: Subscription) -> None:
        """A reader's connection ended: the last one leaving cancels the call (maybe later)."""
        call.readers.discard(sub)
        if call.readers or call.finished:
            return
        if call.resume_window <= 0:
            self.cancel(call, "the caller went away")
        elif call.detach_timer is None:
            call.detach_timer = asyncio.get_running_loop().call_later(
                call.resume_window, self._cancel_detached, call
            )

    def _cancel_detached(self, call: CallState) -> None:
        call.detach_timer = None
        if not call.readers:
            self.cancel(call, f"no reader came back within {call.resume_window:g} s")

    def cancel(self, call: CallState, reason: str) -> None:
        """Ask the worker to stop the call; it ends with an ``error`` event of type Cancelled."""
        if call.finished or call.cancel_reason is not None:
            return
        call.cancel_reason = reason
        call.worker.send("cancel", {"id": call.id, "reason": reason})

    def record(self, call_id: str, items: Sequence[PublishItem]) -> list[str]:
        """Events a worker published for a call; those of unknown or finished calls are dropped
        (a cancelled call's last steps may still be in flight)."""
        call = self._calls.get(call_id)
        if call is None or call.finished:
            return []
        ids = []
        for item in items:
            self._record(call, item.event, item.payload)
            ids.append(str(call.seq))
            if call.finished:
                break
        return ids

    def _record(self, call: CallState, event: str, payload: str) -> None:
        frame = call.frame(event, payload)
        call.keep(frame)
        for sub in tuple(call.readers):
            if not sub.push(frame):
                call.readers.discard(sub)
        if event in TERMINAL_EVENTS:
            call.finished = True
            call.worker.running -= 1
            call.finished_at = time.monotonic()
            for sub in call.readers:
                sub.close("finished")
            call.readers.clear()
            if call.detach_timer is not None:
                call.detach_timer.cancel()
                call.detach_timer = None
            self._finished.append(call)
            self._expire()

    def _expire(self) -> None:
        horizon = time.monotonic() - self.retention
        finished = self._finished
        while finished and (finished[0].finished_at < horizon or len(finished) > 10_000):
            call = finished.popleft()
            self._calls.pop(call.id, None)
            call.worker.calls.pop(call.id, None)

    # -- heartbeats -------------------------------------------------------------------------------

    def _start_pinger(self) -> None:
        if self._pinger is None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping())

    async def _ping(self) -> None:
        # Worker feeds and call streams can be silent for minutes; proxies close idle ones.
        while True:
            await asyncio.sleep(self.ping_interval)
            for sub in self._streams():
                if sub.idle:
                    sub.push(_PING)
                sub.idle = True

    def _streams(self) -> Iterable[Subscription]:
        for links in self._endpoints.values():
            for link in links.values():
                if link.feed is not None:
                    yield link.feed
        for call in self._calls.values():
            yield from call.readers

    def close(self) -> None:
        """End every stream (server shutdown)."""
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        for sub in list(self._streams()):
            sub.close("hub-closed")
