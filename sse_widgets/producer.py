"""What notebook code writes to a channel: events, log lines, streamed text, chart points.

:func:`channel` returns a :class:`ChannelPublisher`, a light handle on the process's
publisher. Every method returns at once; nothing here waits for the network.

Chart points are coalesced before they are queued: ``point()`` appends to a per-channel
buffer that leaves as one columnar event per series (``{"x": [...], "y": {"loss": [...]}}``)
every 50 ms or 5,000 points, so a hot loop costs a list append per point, not an event.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import Any

from .names import validate_channel_name
from .publisher import Publisher, get_publisher

__all__ = ["ChannelPublisher", "TextWriter", "channel"]

_POINT_DELAY = 0.05
_POINT_BATCH = 5000
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ChannelPublisher:
    """A channel as seen by a producer.

    Example::

        ch = sse_widgets.channel("train")
        ch.log("epoch", 1, "started")
        ch.point("loss", 1, 0.42)
        ch.send("custom", {"anything": "JSON"})
    """

    def __init__(self, name: str, publisher: Publisher | None = None) -> None:
        self.name = validate_channel_name(name)
        self._publisher = publisher

    @property
    def publisher(self) -> Publisher:
        return self._publisher or get_publisher()

    def send(self, event: str, data: Any = None) -> None:
        """Queue an event on this channel; never blocks on the network."""
        self.publisher.send(self.name, event, data)

    async def asend(self, event: str, data: Any = None) -> None:
        """Queue an event, then yield to other tasks (asyncio or trio, via anyio)."""
        import anyio

        self.publisher.send(self.name, event, data)
        await anyio.lowlevel.checkpoint()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until what was sent so far reached the hub; see :meth:`Publisher.flush`."""
        return self.publisher.flush(timeout)

    def control(self, event: str, data: Any = None, *, timeout: float = 10.0) -> None:
        """Send a control message to this channel's producer, as a viewer's button does, and
        wait until the hub took it (raises :class:`InvalidRequest` or :class:`NotAuthorized`
        when refused, ``OSError`` when the hub cannot be reached).

        ``control("cancel", {"bar": bar.id})`` cancels that bar's loop (and its children)
        wherever it runs: another thread, another process.
        """
        self.publisher.post_control(self.name, {"event": event, "data": data}, timeout=timeout)

    # -- logs ---------------------------------------------------------------------------------

    def log(self, *values: Any, level: str = "INFO", logger: str = "", sep: str = " ") -> None:
        """A log line, ``print``-style: ``ch.log("loss", 0.3, level="WARNING")``."""
        message = sep.join(str(value) for value in values)
        self.send(
            "log",
            {"level": level.upper(), "logger": logger, "message": message, "time": time.time()},
        )

    # -- streamed text ----------------------------------------------------------------------

    def text(self, stream: str = "text") -> TextWriter:
        """A writer that appends text to stream ``stream`` (e.g. an LLM's tokens)."""
        return TextWriter(self, stream)

    def stream_text(self, source: Iterable[str], stream: str = "text") -> str:
        """Write every string ``source`` yields as it comes; return the whole text."""
        writer = self.text(stream)
        for delta in source:
            writer.write(delta)
        return writer.value

    async def astream_text(
        self, source: AsyncIterable[str] | Iterable[str], stream: str = "text"
    ) -> str:
        """:meth:`stream_text` for async iterables (asyncio or trio)."""
        import anyio

        writer = self.text(stream)
        if isinstance(source, AsyncIterable):
            async for delta in source:
                writer.write(delta)
        else:
            for delta in source:
                writer.write(delta)
                await anyio.lowlevel.checkpoint()
        return writer.value

    # -- chart points -----------------------------------------------------------------------

    def point(self, series: str, x: float, y: float) -> None:
        """Add one point to a chart series; coalesced with its neighbours before sending."""
        publisher = self.publisher
        buffer = publisher.coalescers.get(("points", self.name))
        if buffer is None:
            buffer = publisher.coalescers.setdefault(("points", self.name), _PointBuffer(self.name))
        count = buffer.add(series, x, y)
        if count == 1:
            publisher.defer(buffer, _POINT_DELAY)
        elif count >= _POINT_BATCH:
            publisher.defer(buffer, 0)

    def points(self, x: Sequence[float], y: Mapping[str, Sequence[float]]) -> None:
        """A columnar batch: ``ch.points(x=[1, 2], y={"loss": [.5, .4], "acc": [.7, .8]})``."""
        lengths = {name: len(values) for name, values in y.items()}
        if any(length != len(x) for length in lengths.values()):
            raise ValueError(f"every series needs {len(x)} values like x, got {lengths}")
        self.send("point", {"x": list(x), "y": {name: list(v) for name, v in y.items()}})

    def __repr__(self) -> str:
        return f"ChannelPublisher({self.name!r})"


class TextWriter:
    """Appends to one text stream of a channel (``text`` events); keeps the text so far."""

    def __init__(self, channel: ChannelPublisher, stream: str) -> None:
        if not isinstance(stream, str) or not stream:
            raise ValueError("a text stream needs a non-empty name")
        self.channel = channel
        self.stream = stream
        self._parts: list[str] = []

    def write(self, delta: str) -> int:
        """Append ``delta``; returns its length, like a file's ``write``."""
        if not isinstance(delta, str):
            raise TypeError(f"write() takes str, not {type(delta).__name__}")
        if delta:
            self._parts.append(delta)
            self.channel.send("text", {"stream": self.stream, "delta": delta})
        return len(delta)

    def reset(self) -> None:
        """Start the stream over (viewers clear it)."""
        self._parts.clear()
        self.channel.send("text", {"stream": self.stream, "reset": True})

    @property
    def value(self) -> str:
        """Everything written since the last reset."""
        return "".join(self._parts)


def _chart_value(value: Any, axis: str) -> Any:
    """A JSON-ready chart coordinate: numbers (numpy's too), str; NaN and inf become gaps."""
    if isinstance(value, bool) or value is None:
        return None if value is None else int(value)
    if isinstance(value, int | str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"a chart {axis} must be a number or a str, not {value!r}") from None
    return number if math.isfinite(number) else None


class _PointBuffer:
    """Points waiting to leave as columnar events, one per series."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[Any], list[Any]]] = {}
        self._count = 0

    def add(self, series: str, x: Any, y: Any) -> int:
        x, y = _chart_value(x, "x"), _chart_value(y, "y")  # fail here, in the caller
        with self._lock:
            columns = self._series.get(series)
            if columns is None:
                columns = self._series[series] = ([], [])
            columns[0].append(x)
            columns[1].append(y)
            self._count += 1
            return self._count

    def drain(self) -> list[tuple[str, str, str]]:
        with self._lock:
            series, self._series, self._count = self._series, {}, 0
        return [
            (self.channel, "point", _encode({"x": xs, "y": {name: ys}}))
            for name, (xs, ys) in series.items()
        ]


def channel(name: str) -> ChannelPublisher:
    """The channel ``name`` of the default publisher.

    Example::

        sse_widgets.channel("train").send("log", {"message": "epoch 1"})
    """
    return ChannelPublisher(name)
