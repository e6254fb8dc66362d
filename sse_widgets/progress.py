"""Progress bars from Python code: :func:`progress` works like tqdm and streams ``progress``
events (the schema in docs/events.md) to a channel.

The hot loop costs less than tqdm's: iteration runs through C-level iterators
(``itertools.chain`` over ``islice`` slices of the iterable) and this module's Python code only
runs between slices, sized so that a slice takes about a quarter of ``mininterval``. That is
also where the bar checks the clock (sending at most one update per ``mininterval``) and
whether a viewer asked to cancel it.

Nesting: a bar created while another bar's loop (or ``with`` block) is running, in the same
thread or task, becomes its child. Ends: ``done`` when the loop finishes or the bar is closed,
``error`` (with the exception's message) when an exception leaves a ``with progress(...)``
block, ``cancelled`` when a viewer cancels (the loop raises :class:`~sse_widgets.Cancelled`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from itertools import chain, count, islice
from operator import itemgetter
from types import TracebackType
from typing import Any

from .errors import Cancelled
from .loop_outcome import describe, stopped_early
from .names import validate_channel_name
from .progress_event import event_json
from .publisher import Publisher, get_publisher

__all__ = ["DEFAULT_CHANNEL", "Bar", "aprogress", "progress"]

#: The channel bars, logs, text and points go to when none is named.
DEFAULT_CHANNEL = "default"
_MAX_SLICE = 1 << 20
_SMOOTHING = 0.3  # weight of the newest rate sample, as tqdm's default
_current: ContextVar[Bar | None] = ContextVar("sse_widgets_current_bar", default=None)
_serial = count(1)
_AUTO: Any = object()
_first = itemgetter(0)


def _consumed(counter: count[int]) -> int:
    # itertools.count shows its next value in its repr; reading it does not advance it.
    return int(repr(counter)[6:-1])


class Bar:
    """One progress bar. Create it with :func:`progress` (or :func:`aprogress`).

    Example::

        for item in sse_widgets.progress(items, desc="items"):
            work(item)

        with sse_widgets.progress(total=3, desc="steps") as bar:
            for step in steps:
                run(step)
                bar.update()
    """

    # Slots: a bar's attributes are read in hot loops (update(), between slices).
    __slots__ = (
        "__weakref__",
        "_calls_per_check",
        "_cancel_requested",
        "_context_tokens",
        "_countdown",
        "_entered",
        "_head",
        "_head_key",
        "_last_check",
        "_last_n",
        "_last_sent",
        "_phase_base",
        "_phase_of",
        "_publisher",
        "_rate",
        "_started",
        "channel",
        "desc",
        "errors",
        "failures",
        "id",
        "iterable",
        "leave",
        "message",
        "mininterval",
        "n",
        "parent",
        "phase",
        "phases",
        "state",
        "succeeded",
        "total",
        "unit",
    )

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        channel: str | None = None,
        mininterval: float = 0.1,
        parent: Bar | None = _AUTO,
        phases: Mapping[str, float] | None = None,
        leave: bool = True,
        publisher: Publisher | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        if phases is not None:
            if not phases or any(w <= 0 for w in phases.values()):
                raise ValueError("phases maps each phase name to a positive weight")
            total = float(sum(phases.values()))
        if mininterval < 0:
            raise ValueError("mininterval must be 0 or more seconds")
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.channel = validate_channel_name(channel or DEFAULT_CHANNEL)
        self.mininterval = mininterval
        self.parent: Bar | None = _current.get() if parent is _AUTO else parent
        self.id = f"{secrets.token_hex(3)}{os.getpid():x}-{next(_serial)}"
        self.n: float = 0
        self.state = "running"
        self.message: str | None = None
        self.succeeded = 0
        self.failures = 0
        self.errors: deque[str] = deque(maxlen=5)
        self.phases = dict(phases) if phases else None
        self.leave = bool(leave)  # False: viewers remove the bar once it is done (tqdm's)
        self.phase: str | None = None
        self._phase_base = 0.0  # weight of the phases already finished
        self._phase_of: tuple[Bar, str] | None = None  # (parent, phase) this bar drives
        self._publisher = publisher or get_publisher()
        self._started = self._last_sent = time.monotonic()
        self._last_n: float = 0
        self._rate: float | None = None
        self._cancel_requested = False
        self._countdown = self._calls_per_check = 1
        self._last_check = self._started
        self._head_key: tuple[Any, ...] = ()
        self._head = ""
        self._entered = False
        self._context_tokens: list[Any] = []
        self._publisher.control.register(self.channel, self.id, self)
        self._send(self._started)

    # -- iteration -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this bar has no iterable: call bar.update() as work progresses")
        return chain.from_iterable(self._slices())

    def _slices(self) -> Iterator[Iterator[Any]]:
        counter = count()
        items = map(_first, zip(self.iterable, counter, strict=False))  # type: ignore[arg-type]
        size, offered, start = 1, 0, self.n
        self._enter_context()
        try:
            while True:
                slice_started = time.monotonic()
                yield islice(items, size)
                offered += size
                done = _consumed(counter)
                self.n = start + done
                if done < offered:
                    break  # the iterable is exhausted
                now = time.monotonic()
                self._check_cancel()
                if now - self._last_sent >= self.mininterval:
                    self._send(now)
                per_item = (now - slice_started) / size
                target = int(self.mininterval / 4 / per_item) if per_item > 0 else _MAX_SLICE
                size = max(1, min(size * 2, target, _MAX_SLICE))
        except GeneratorExit:
            self.n = start + _consumed(counter)
            if not self._entered:
                stopped_early(self)
            raise
        finally:
            self._leave_context()
        if not self._entered:
            self._end("done")

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._aiterate()

    async def _aiterate(self) -> AsyncIterator[Any]:
        if self.iterable is None:
            raise TypeError("this bar has no iterable: call bar.update() as work progresses")
        self._enter_context()
        try:
            async for item in self.iterable:  # type: ignore[attr-defined]
                yield item
                self.update()
        finally:
            self._leave_context()
        if not self._entered:
            self._end("done")

    # -- manual updates ---------------------------------------------------------------------

    def update(self, n: float = 1) -> None:
        """Advance by ``n``; raises Cancelled if a viewer cancelled the bar."""
        self.n += n
        # Like tqdm's miniters, the clock is read only every so many calls: as many as fit
        # in a quarter of mininterval at the recent call rate.
        self._countdown -= 1
        if self._countdown > 0:
            return  # a cancel is noticed at the next clock read, within mininterval / 4
        if self._cancel_requested:
            self._check_cancel()
        now = time.monotonic()
        if now - self._last_sent >= self.mininterval:
            self._send(now)
        spent = now - self._last_check
        self._last_check = now
        if spent > 0:
            target = int(self._calls_per_check * self.mininterval / 4 / spent)
            self._calls_per_check = max(1, min(target, self._calls_per_check * 2, _MAX_SLICE))
        self._countdown = self._calls_per_check

    def set(
        self,
        *,
        desc: str | None = None,
        total: float | None = None,
        message: str | None = None,
        value: float | None = None,
    ) -> None:
        """Change what the bar shows; sent at once."""
        if desc is not None:
            self.desc = desc
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message
        if value is not None:
            self.n = value
        self._send(time.monotonic())

    def ok(self, n: int = 1) -> None:
        """Count ``n`` items as succeeded (batch results)."""
        self.succeeded += n

    def fail(self, error: BaseException | str) -> None:
        """Count one failed item; the last few error messages travel with the bar."""
        self.failures += 1
        self.errors.append(describe(error) if isinstance(error, BaseException) else str(error))

    def close(self) -> None:
        """End the bar as done (if it is still running); the final state is always sent."""
        self._end("done")

    # -- phases -------------------------------------------------------------------------------

    def phase_bar(
        self,
        name: str,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        **options: Any,
    ) -> Bar:
        """A child bar for phase ``name``; its progress moves this bar by the phase's weight.

        Example::

            with sse_widgets.progress(phases={"load": 10, "train": 90}, desc="job") as job:
                data = load()
                for batch in job.phase_bar("train", batches):
                    step(batch)
        """
        if not self.phases or name not in self.phases:
            raise KeyError(
                f"unknown phase {name!r}; this bar's phases are {list(self.phases or [])}"
            )
        options.setdefault("mininterval", self.mininterval)
        child = Bar(
            iterable,
            total=total,
            desc=options.pop("desc", name),
            parent=self,
            channel=self.channel,
            publisher=self._publisher,
            **options,
        )
        child._phase_of = (self, name)
        self.phase = name
        self._send(time.monotonic())
        return child

    def _phase_moved(self, name: str, fraction: float, finished: bool) -> None:
        assert self.phases is not None
        weight = self.phases[name]
        if finished:
            self._phase_base += weight
            self.n = self._phase_base
        else:
            self.n = self._phase_base + weight * min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        if finished or now - self._last_sent >= self.mininterval:
            self._send(now)

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> Bar:
        self._entered = True
        self._enter_context()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave_context()
        if error is None:
            self._end("done")
        elif isinstance(error, Cancelled):
            self._end("cancelled", str(error))
        else:
            self._end("error", describe(error))  # queued before the exception propagates

    async def __aenter__(self) -> Bar:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, error, tb)

    def _enter_context(self) -> None:
        enter_current(self, self._context_tokens)

    def _leave_context(self) -> None:
        leave_current(self._context_tokens)

    # -- cancel and ending ----------------------------------------------------------------------

    def on_control(self, event: str, data: Any) -> None:
        """Called by the control router (another thread) for messages naming this bar."""
        if event == "cancel":
            self._cancel_requested = True
            self._countdown = 0  # a manual bar reads the clock (and the flag) at its next update

    def _check_cancel(self) -> None:
        bar: Bar | None = self
        path: list[Bar] = []
        while bar is not None:
            path.append(bar)
            if bar._cancel_requested:
                # Name the bar the viewer cancelled, and end every bar from this one up to it
                # as cancelled now: an enclosing plain `for` loop cannot see the exception
                # pass (it only gets GeneratorExit) and would otherwise end `done`.
                message = f"progress bar {bar.desc or bar.id!r} was cancelled by a viewer"
                for ended in path:
                    ended._end("cancelled", message)
                raise Cancelled(message)
            bar = bar.parent

    def _end(self, state: str, message: str | None = None, *, force: bool = False) -> None:
        if self.state != "running" and not force:
            return
        self.state = state
        if message is not None:
            self.message = message
        self._send(time.monotonic())
        self._publisher.control.unregister(self.channel, self.id)
        if self._phase_of is not None:
            parent, name = self._phase_of
            parent._phase_moved(name, 1.0, finished=True)

    # -- publishing ---------------------------------------------------------------------------

    def _send(self, now: float) -> None:
        elapsed = now - self._started
        interval = now - self._last_sent
        if interval > 0 and self.n != self._last_n:
            sample = (self.n - self._last_n) / interval
            self._rate = (
                sample
                if self._rate is None
                else (_SMOOTHING * sample + (1 - _SMOOTHING) * self._rate)
            )
        self._last_sent, self._last_n = now, self.n
        rate = self._rate
        eta = None
        if rate and self.total is not None and self.state == "running":
            eta = max(self.total - self.n, 0) / rate
        self._publisher.send_json(self.channel, "progress", event_json(self, rate, eta, elapsed))
        if self._phase_of is not None and self.state == "running" and self.total:
            parent, name = self._phase_of
            parent._phase_moved(name, self.n / self.total, finished=False)

    def __repr__(self) -> str:
        total = "?" if self.total is None else f"{self.total:g}"
        return f"<Bar {self.desc!r} {self.n:g}/{total} {self.state} on {self.channel!r}>"


def enter_current(bar: Any, tokens: list[Any]) -> None:
    """Make ``bar`` the parent of bars created from now on in this thread or task."""
    tokens.append(_current.set(bar))


def leave_current(tokens: list[Any]) -> None:
    """Undo the last :func:`enter_current` of these tokens."""
    if tokens:
        try:
            _current.reset(tokens.pop())
        except ValueError:
            pass  # finalized from another context (garbage collection): nothing to undo


def progress(iterable: Iterable[Any] | None = None, **options: Any) -> Bar:
    """A progress bar over ``iterable`` (or a manual one), streamed to a channel.

    Options: ``total``, ``desc``, ``unit``, ``channel`` (default ``"default"``),
    ``mininterval`` (seconds between updates, default 0.1), ``parent``, ``phases``,
    ``leave`` (default True; False: viewers remove the bar once it is done, like tqdm's).

    >>> offline = Publisher("http://127.0.0.1:9/", start=False)  # queues, never sends
    >>> bar = progress(range(3), desc="demo", publisher=offline)
    >>> [x for x in bar], bar.state, bar.n
    ([0, 1, 2], 'done', 3)
    """
    return Bar(iterable, **options)


def aprogress(aiterable: Any = None, **options: Any) -> Bar:
    """:func:`progress` for async iterables: ``async for item in aprogress(source): ...``.

    Works under asyncio and trio; ``async with aprogress(total=n) as bar`` for manual bars.
    """
    return Bar(aiterable, **options)
