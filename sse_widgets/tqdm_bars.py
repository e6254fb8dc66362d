"""tqdm, streamed: change one import and existing tqdm code publishes ``progress`` events.

Example::

    from sse_widgets import tqdm          # instead of: from tqdm import tqdm

    for item in tqdm(items, desc="items"):
        work(item)

:class:`tqdm` is a subclass of ``tqdm.std.tqdm`` (tqdm is an optional dependency:
``pip install sse_widgets[tqdm]``; ``import sse_widgets`` alone never imports it). Everything
tqdm accepts still works; three keywords are added: ``channel`` (default ``"default"``),
``publisher`` and ``parent``. It sends the same ``progress`` events as
:class:`sse_widgets.Bar` (``bar, value, total, desc, unit, rate, elapsed, eta, parent, state,
message``), so the same viewers show it.

Decisions:

- **Throttling** is tqdm's own: an event goes out wherever tqdm would redraw its bar
  (``display()``, i.e. at most once per ``mininterval``, subject to ``miniters``, ``delay`` and
  tqdm's monitor thread), plus one when the bar starts and one when it ends.
- **No terminal output by default.** Without ``file=`` nothing is written anywhere (no red
  stderr block in notebooks). An explicit ``file=`` is honoured: tqdm's text bar is written
  there too, as plain tqdm would. ``disable=None`` ("off when not a TTY") means *on*, as in
  ``tqdm.notebook``, since a stream does not need a terminal; ``disable=True`` sends nothing.
- **Nesting** follows :mod:`sse_widgets.progress`'s context variable, not ``position``: a bar
  created while another bar's loop (or ``with`` block) runs, in the same thread or task, is its
  child, whether either is a tqdm bar or a :class:`~sse_widgets.Bar`. ``position=`` only
  arranges terminal lines (parallel bars in worker threads use it for siblings); pass
  ``parent=`` to link bars explicitly.
- **Fields:** ``desc`` loses the ``": "`` that ``set_description`` appends; ``message`` is the
  postfix (``set_postfix``) while running, the exception's message on ``error``; a numeric
  ``unit_scale`` scales value, total and rate as tqdm displays them.
- **Ends:** ``done`` on close or when the loop finishes, ``error`` (with the exception's
  message) when an exception leaves a ``with tqdm(...)`` block or comes from the iterable, and
  ``cancelled`` when a viewer cancels: the next ``update()`` (in a loop: tqdm's next refresh,
  within ``mininterval``) raises :class:`~sse_widgets.Cancelled`. A plain loop left early
  settles like :func:`sse_widgets.progress`'s (``done`` where it stopped, ``error`` if an
  exception reaches the cell's or the program's top level).
"""

from __future__ import annotations

import operator
import os
import secrets
from collections.abc import Callable, Iterator
from itertools import count
from types import TracebackType
from typing import Any, ClassVar, cast
from weakref import WeakSet

from tqdm.std import tqdm as std_tqdm

from .errors import Cancelled, InvalidRequest
from .loop_outcome import describe, stopped_early
from .names import validate_channel_name
from .progress import DEFAULT_CHANNEL, _current, enter_current, leave_current
from .publisher import Publisher, get_publisher

__all__ = ["process_map", "thread_map", "tqdm", "trange"]

_AUTO: Any = object()
_serial = count(1)


class _Discard:
    """Where tqdm's text goes when no ``file=`` was given: nowhere."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class tqdm(std_tqdm):
    """A tqdm progress bar that streams ``progress`` events to a channel.

    Takes every tqdm argument, plus ``channel`` (default ``"default"``), ``publisher`` (default
    :func:`sse_widgets.get_publisher`) and ``parent`` (default: the bar whose loop or ``with``
    block is running, if any; ``None`` for a top-level bar).

    >>> offline = Publisher("http://127.0.0.1:9/", start=False)  # queues, never sends
    >>> bar = tqdm(range(3), desc="demo", publisher=offline)
    >>> [x for x in bar], bar.state, bar.n
    ([0, 1, 2], 'done', 3)
    """

    # Our own registry of live bars (tqdm uses it for terminal positions and its monitor
    # thread): bars that print nothing must not push plain tqdm bars' lines down.
    _instances: ClassVar[WeakSet[Any]] = WeakSet()
    monitor = None

    def __init__(
        self,
        *args: Any,
        channel: str | None = None,
        publisher: Publisher | None = None,
        parent: Any = _AUTO,
        **kwargs: Any,
    ) -> None:
        # Set before tqdm's __init__, which may call display()/close() (or fail, then __del__).
        self.channel = validate_channel_name(channel or DEFAULT_CHANNEL)
        self.id = f"t{secrets.token_hex(3)}{os.getpid():x}-{next(_serial)}"
        self.parent: Any = None
        self.state = "running"
        self._message: str | None = None
        self._publisher: Publisher | None = None  # None: a disabled bar, nothing is sent
        self._streaming = False  # display() publishes
        self._sent = False
        self._in_iter = False
        self._entered = False
        self._cancel_requested = False
        self._context_tokens: list[Any] = []
        self._echo = kwargs.get("file") is not None
        if not self._echo:
            kwargs["file"] = _Discard()
        kwargs["gui"] = not self._echo  # gui: tqdm neither prints nor keeps a status printer
        if kwargs.get("disable") is None:
            kwargs["disable"] = False
        super().__init__(*args, **kwargs)
        if self.disable:
            return
        self._publisher = publisher or get_publisher()
        self.parent = _current.get() if parent is _AUTO else parent
        self._publisher.control.register(self.channel, self.id, self)
        self._streaming = True
        if self.delay <= 0:
            self._send()

    # -- tqdm's drawing hooks ---------------------------------------------------------------

    def display(self, msg: str | None = None, pos: int | None = None) -> Any:
        """Publish the bar's state (tqdm calls this whenever it would redraw the bar)."""
        if self._streaming:
            self._send()
        if self._echo:
            return super().display(msg, pos)
        return True

    def clear(self, nolock: bool = False) -> None:
        if self._echo:
            super().clear(nolock)

    def close(self) -> None:
        """End the bar as done (if it is still running); the final state is always sent."""
        streaming = getattr(self, "_publisher", None) is not None
        self._streaming = False  # tqdm's final redraw is not a separate event
        super().close()
        if streaming and not self._in_iter:  # a loop settles its own end
            self._end("done")

    # -- iteration and updates ------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        if self._publisher is None:
            yield from super().__iter__()
            return
        self._enter_context()
        self._in_iter = True
        try:
            yield from super().__iter__()
        except GeneratorExit:  # the loop was left early: break, or an exception in its body
            self._in_iter = False
            if not self._entered:
                stopped_early(cast(Any, self))
            raise
        except BaseException as error:  # from the iterable itself, or Cancelled
            self._in_iter = False
            if not self._entered:
                self._end("error", describe(error))
            raise
        finally:
            self._in_iter = False
            self._leave_context()
        if not self._entered:
            self._end("done")

    def update(self, n: float = 1) -> bool | None:
        """Advance by ``n``; raises Cancelled if a viewer cancelled the bar (or its parent)."""
        if self._cancel_requested or self._parent_cancelled():
            self.n += n
            message = self._cancel_message()
            self._end("cancelled", message)
            raise Cancelled(message)
        return cast("bool | None", super().update(n))

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> tqdm:
        if self._publisher is not None:
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
        if isinstance(error, Cancelled):
            self._end("cancelled", str(error))
        elif error is not None:
            self._end("error", describe(error))  # queued before the exception propagates
        self.close()

    def _enter_context(self) -> None:
        enter_current(self, self._context_tokens)

    def _leave_context(self) -> None:
        leave_current(self._context_tokens)

    # -- cancel and ending --------------------------------------------------------------------

    def on_control(self, event: str, data: Any) -> None:
        """Called by the control router (another thread) for messages naming this bar."""
        if event == "cancel":
            self._cancel_requested = True
            self.miniters = 0  # a loop reaches update() at its next refresh, not after N items

    def _parent_cancelled(self) -> bool:
        bar = self.parent
        while bar is not None:
            if getattr(bar, "_cancel_requested", False):
                return True
            bar = getattr(bar, "parent", None)
        return False

    def _cancel_message(self) -> str:
        return f"progress bar {self._desc() or self.id!r} was cancelled by a viewer"

    def _end(self, state: str, message: str | None = None, *, force: bool = False) -> None:
        publisher = self._publisher
        if publisher is None or (self.state != "running" and not force):
            return
        self.state = state
        if message is not None:
            self._message = message
        if self._sent or state != "done" or self.delay <= 0:
            self._send()  # (a bar that ended within its ``delay`` stays unseen, as in tqdm)
        publisher.control.unregister(self.channel, self.id)

    # -- publishing ---------------------------------------------------------------------------

    def _desc(self) -> str:
        desc = str(self.desc or "")
        return desc[:-2] if desc.endswith(": ") else desc

    def _send(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        elapsed = self._time() - self.start_t if hasattr(self, "start_t") else 0.0
        n, total, initial = self.n, self.total, self.initial
        rate = None
        if self.state == "running":
            ema_dt = self._ema_dt()
            rate = self._ema_dn() / ema_dt if ema_dt else None
        if rate is None and elapsed > 0 and n != initial:
            rate = (n - initial) / elapsed  # tqdm's fallback, and its final (overall) rate
        scale = self.unit_scale
        if scale and scale is not True and scale != 1:
            n, total = n * scale, None if total is None else total * scale
            rate = None if rate is None else rate * scale
        eta = None
        if rate and total is not None and self.state == "running":
            eta = max(total - n, 0) / rate
        postfix = self.postfix
        data: dict[str, Any] = {
            "bar": self.id,
            "value": _number(n),
            "total": None if total is None else _number(total),
            "desc": self._desc(),
            "unit": str(self.unit),
            "rate": None if rate is None else float(rate),
            "elapsed": round(elapsed, 3),
            "eta": None if eta is None else round(float(eta), 3),
            "parent": getattr(self.parent, "id", None),
            "state": self.state,
            "message": self._message or (str(postfix) if postfix else None),
        }
        # tqdm's leave (None: keep only a top-level bar); viewers remove a done bar without it
        if not (self.leave if self.leave is not None else self.parent is None):
            data["leave"] = False
        try:
            publisher.send(self.channel, "progress", data)
        except InvalidRequest:
            return  # the publisher was closed (interpreter exit, garbage collection)
        self._sent = True


def _number(value: Any) -> int | float:
    # numpy integers and the like are not JSON-serializable as such
    if isinstance(value, (int, float)):
        return value
    try:
        return operator.index(value)
    except TypeError:
        return float(value)


def trange(*args: int, **kwargs: Any) -> tqdm:
    """``tqdm(range(*args), **kwargs)``."""
    return tqdm(range(*args), **kwargs)


# -- concurrent.futures maps -------------------------------------------------------------------


class _MapBar(tqdm):
    """The bar of :func:`thread_map` / :func:`process_map`.

    tqdm advances it from the futures' done-callbacks, which must not raise (the executor
    would log each one), so ``update`` only counts; a cancel is honoured by the map instead.
    """

    def __init__(self, *args: Any, _gate: _Gate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _gate is not None:
            _gate.bar = self

    def update(self, n: float = 1) -> bool | None:
        return cast("bool | None", std_tqdm.update(self, n))

    def on_control(self, event: str, data: Any) -> None:
        super().on_control(event, data)
        if event == "cancel":
            with self.get_lock():  # not between a redraw's snapshot and its send
                self._streaming = False
                self._end("cancelled", self._cancel_message())  # shown at once

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None and (self._cancel_requested or self._parent_cancelled()):
            message = self._cancel_message()
            super().__exit__(Cancelled, Cancelled(message), None)
            raise Cancelled(message)
        super().__exit__(kind, error, tb)


class _Gate:
    """Wraps a thread_map function: items that have not started when a viewer cancels the bar
    raise Cancelled instead of running, so the map ends soon (items already running finish)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.bar: _MapBar | None = None

    def __call__(self, *args: Any) -> Any:
        bar = self.bar
        if bar is not None and (bar._cancel_requested or bar._parent_cancelled()):
            raise Cancelled(bar._cancel_message())
        return self.fn(*args)


def thread_map(fn: Callable[..., Any], *iterables: Any, **tqdm_kwargs: Any) -> list[Any]:
    """``list(map(fn, *iterables))`` on a thread pool, with a streamed bar.

    :func:`tqdm.contrib.concurrent.thread_map` with this module's bar; takes the same options
    (``max_workers``, ``chunksize``, ``timeout``, ...) and the bar's (``desc``, ``channel``,
    ``publisher``, ...). When a viewer cancels, items not yet started are skipped and
    :class:`~sse_widgets.Cancelled` is raised once the running ones have finished.
    """
    from tqdm.contrib.concurrent import thread_map as tqdm_thread_map

    bar_class = tqdm_kwargs.pop("tqdm_class", _MapBar)
    if not (isinstance(bar_class, type) and issubclass(bar_class, _MapBar)):
        return cast(
            "list[Any]", tqdm_thread_map(fn, *iterables, tqdm_class=bar_class, **tqdm_kwargs)
        )
    gate = _Gate(fn)
    result = tqdm_thread_map(gate, *iterables, tqdm_class=bar_class, _gate=gate, **tqdm_kwargs)
    return cast("list[Any]", result)


def process_map(fn: Callable[..., Any], *iterables: Any, **tqdm_kwargs: Any) -> list[Any]:
    """``list(map(fn, *iterables))`` on a process pool, with a streamed bar.

    :func:`tqdm.contrib.concurrent.process_map` with this module's bar (``fn`` and the items
    must be picklable). A viewer's cancel cannot reach work already handed to the worker
    processes: the bar ends ``cancelled`` and :class:`~sse_widgets.Cancelled` is raised when
    the map has finished, instead of returning its results.
    """
    from tqdm.contrib.concurrent import process_map as tqdm_process_map

    tqdm_kwargs.setdefault("tqdm_class", _MapBar)
    return cast("list[Any]", tqdm_process_map(fn, *iterables, **tqdm_kwargs))
