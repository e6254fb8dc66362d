"""Running one call of an endpoint function in the worker, and the helper it is given.

Every call runs in a thread of its own, so a slow call never holds up another and the kernel
stays free for cells. What the function produces leaves through the process's publisher as
events of that call (``Publisher.send_call``): each yielded value is a ``message``, the
helper's ``progress``/``log``/``text`` use the schemas of docs/events.md, and exactly one
terminal event closes the call: ``complete`` (the return value) or ``error`` (type, message).

Cancelling is cooperative, like a progress bar's Cancel: the hub sends ``cancel`` when the
caller goes away; the function sees :class:`~sse_widgets.errors.Cancelled` at its next
``yield`` (thrown into the generator) or its next helper call. Nothing is killed mid-step.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import Cancelled, InvalidRequest
from .publisher import Publisher

__all__ = ["Call", "CallProgress", "HELPER_PARAMETERS", "run_call"]

#: Parameters an endpoint function may declare to be given the call's helpers; they are not
#: arguments a caller can send.
HELPER_PARAMETERS = frozenset({"call", "progress", "log"})
#: Names a function may not send with ``call.send``: the terminal events are the runner's.
_RESERVED = frozenset({"complete", "error", "reset", "close"})
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class Call:
    """What an endpoint function is handed (as its ``call`` parameter) to report and to check
    whether its caller is still there.

    Example::

        @sse_widgets.endpoint("resize")
        def resize(paths: list, call: sse_widgets.Call):
            for path in call.progress(paths, desc="resizing"):
                call.log("resizing", path)
                shrink(path)
            return {"done": len(paths)}
    """

    def __init__(self, call_id: str, endpoint: str, publisher: Publisher) -> None:
        self.id = call_id
        self.endpoint = endpoint
        self._publisher = publisher
        self._cancel_reason: str | None = None
        self._cancelled = threading.Event()

    # -- cancellation --------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """True once the caller went away or cancelled; the function should stop soon."""
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`~sse_widgets.Cancelled` if the call was cancelled."""
        if self._cancelled.is_set():
            raise self.cancelled_error()

    def cancelled_error(self) -> Cancelled:
        """The exception the function sees: names the endpoint and why it was cancelled."""
        return Cancelled(f"endpoint {self.endpoint!r} cancelled: {self._cancel_reason}")

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block until the call is cancelled (True) or ``timeout`` passes (False)."""
        return self._cancelled.wait(timeout)

    def cancel(self, reason: str) -> None:
        """Mark the call cancelled (the worker does this when the hub says so)."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._cancelled.set()

    # -- reporting -------------------------------------------------------------------------------

    def send(self, event: str, data: Any = None) -> None:
        """Send an event of any name on the call's stream; raises Cancelled when cancelled."""
        if event in _RESERVED:
            raise InvalidRequest(f"{event!r} is sent by sse_widgets itself; use another name")
        self.check()
        self.emit(event, data)

    def emit(self, event: str, data: Any) -> None:
        """Send without checking for cancellation (the runner's final events)."""
        try:
            payload = _encode(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"event {event!r}: data is not JSON-serializable: {exc}") from None
        self._publisher.send_call(self.id, event, payload)

    def log(self, *values: Any, level: str = "INFO", logger: str = "", sep: str = " ") -> None:
        """A log line on the call's stream, ``print``-style: ``log("step", 3, level="DEBUG")``."""
        message = sep.join(str(value) for value in values)
        self.send(
            "log",
            {"level": level.upper(), "logger": logger, "message": message, "time": time.time()},
        )

    def text(self, delta: str, stream: str = "text") -> None:
        """Append ``delta`` to the streamed text ``stream`` (LLM tokens, say)."""
        self.send("text", {"stream": stream, "delta": str(delta)})

    def progress(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        mininterval: float = 0.1,
    ) -> CallProgress:
        """A progress bar on the call's stream; iterate it, or ``update()`` it by hand."""
        return CallProgress(
            self, iterable, total=total, desc=desc, unit=unit, mininterval=mininterval
        )


class CallProgress:
    """A call's progress bar: ``progress`` events (docs/events.md), cancel checked each step."""

    _ids = itertools.count(1)

    def __init__(
        self,
        call: Call,
        iterable: Iterable[Any] | None,
        *,
        total: float | None,
        desc: str,
        unit: str,
        mininterval: float,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.call = call
        self.iterable = iterable
        self.id = f"{call.id}-{next(CallProgress._ids)}"
        self.total = total
        self.desc = desc
        self.unit = unit
        self.mininterval = mininterval
        self.value: float = 0
        self._started = time.monotonic()
        self._last_sent = 0.0
        self._rate: float | None = None
        self._last = (self._started, 0.0)
        self._send("running", force=True)

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress bar has no iterable; call update() instead")
        try:
            for item in self.iterable:
                self.call.check()
                yield item
                self.update()
        except Cancelled as exc:
            self._send("cancelled", force=True, message=str(exc))
            raise
        except GeneratorExit:
            raise
        except BaseException as exc:
            self._send("error", force=True, message=f"{type(exc).__name__}: {exc}")
            raise
        self.close()

    def update(self, n: float = 1) -> None:
        """Advance by ``n``; raises Cancelled when the call was cancelled."""
        self.call.check()
        self.value += n
        self._send("running")

    def set(self, value: float, total: float | None = None) -> None:
        """Set the value (and total) outright."""
        self.call.check()
        self.value = value
        if total is not None:
            self.total = total
        self._send("running")

    def close(self) -> None:
        """Mark the bar done."""
        self._send("done", force=True)

    def _send(self, state: str, *, force: bool = False, message: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_sent < self.mininterval:
            return
        then, before = self._last
        if now > then and self.value > before:
            instant = (self.value - before) / (now - then)
            self._rate = instant if self._rate is None else 0.3 * instant + 0.7 * self._rate
        self._last, self._last_sent = (now, self.value), now
        eta = None
        if self._rate and self.total is not None:
            eta = max(0.0, (self.total - self.value) / self._rate)
        self.call.emit(
            "progress",
            {
                "bar": self.id,
                "value": self.value,
                "total": self.total,
                "desc": self.desc,
                "unit": self.unit,
                "rate": self._rate,
                "elapsed": now - self._started,
                "eta": eta,
                "parent": None,
                "state": state,
                "message": message,
            },
        )


@functools.lru_cache(maxsize=256)
def _helper_names(function: Callable[..., Any]) -> frozenset[str]:
    # Cached: inspect.signature costs more than a trivial call's whole run.
    return HELPER_PARAMETERS & set(inspect.signature(function).parameters)


def _helpers(function: Callable[..., Any], call: Call) -> dict[str, Any]:
    offered = {"call": call, "progress": call.progress, "log": call.log}
    return {name: offered[name] for name in _helper_names(function)}


def run_call(function: Callable[..., Any], call: Call, arguments: dict[str, Any]) -> None:
    """Run one call to its end and send its terminal event (in the calling thread)."""
    try:
        kwargs = {**arguments, **_helpers(function, call)}
        if inspect.isasyncgenfunction(function) or inspect.iscoroutinefunction(function):
            result = asyncio.run(_run_async(function, call, kwargs))
        else:
            result = _run_sync(function, call, kwargs)
        call.emit("complete", result)
    except BaseException as exc:  # every failure is the caller's to see
        kind = "Cancelled" if isinstance(exc, Cancelled) else type(exc).__name__
        message = str(exc) or kind
        try:
            call.emit("error", {"type": kind, "message": message})
        except Exception:  # noqa: BLE001 - the publisher is closed: nothing to tell
            traceback.print_exc()
        if not isinstance(exc, Exception):
            raise


def _run_sync(function: Callable[..., Any], call: Call, kwargs: dict[str, Any]) -> Any:
    if not inspect.isgeneratorfunction(function):
        return function(**kwargs)
    generator = function(**kwargs)
    thrown = False
    try:
        while True:
            try:
                if call.cancelled and not thrown:
                    thrown = True
                    value = generator.throw(call.cancelled_error())
                else:
                    value = next(generator)
            except StopIteration as stop:
                return stop.value
            call.emit("message", value)
    finally:
        generator.close()


async def _run_async(function: Callable[..., Any], call: Call, kwargs: dict[str, Any]) -> Any:
    if not inspect.isasyncgenfunction(function):
        return await function(**kwargs)
    generator = function(**kwargs)
    thrown = False
    try:
        while True:
            try:
                if call.cancelled and not thrown:
                    thrown = True
                    value = await generator.athrow(call.cancelled_error())
                else:
                    value = await generator.__anext__()
            except StopAsyncIteration:
                return None
            call.emit("message", value)
    finally:
        await generator.aclose()
