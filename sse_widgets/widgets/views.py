"""The widgets: progress bars, log view, streamed text, live chart, and all four at once."""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import SSEWidget

__all__ = ["ChannelView", "LiveChart", "LogView", "ProgressBar", "TextStream", "show"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ProgressBar(SSEWidget):
    """The progress bars of a channel: nested, with rate, ETA, state and a Cancel button.

    Example::

        ProgressBar(channel="train")            # every bar published to "train"
        ProgressBar(channel="train", bar="epochs")  # one bar (its id or desc) and its children
    """

    _module_name = "progress"
    _default_event = "progress"

    bar = traitlets.Unicode(None, allow_none=True, help="only this bar (id or desc)").tag(
        sync=True
    )
    show_cancel = traitlets.Bool(True, help="a Cancel button per running bar").tag(sync=True)


class LogView(SSEWidget):
    """Log lines of a channel: level colours and filter, text search, bounded, auto-scroll.

    Messages are shown as text, never as HTML.

    Example::

        sse_widgets.log_to("train")               # in the producer
        LogView(channel="train", level="INFO", max_lines=2_000)
    """

    _module_name = "log"
    _default_event = "log"

    level = traitlets.Enum(LEVELS, "DEBUG", help="lowest level shown").tag(sync=True)
    max_lines = traitlets.Int(1000, min=1, help="lines kept; older ones are dropped").tag(
        sync=True
    )
    height = traitlets.Unicode("300px", help="CSS height of the line area").tag(sync=True)
    search = traitlets.Unicode("", help="show only lines containing this text").tag(sync=True)


class TextStream(SSEWidget):
    """Text streamed in deltas (LLM tokens, a subprocess's output), appended as it comes.

    Example::

        TextStream(channel="chat", stream="answer")
    """

    _module_name = "text"
    _default_event = "text"

    stream = traitlets.Unicode(None, allow_none=True, help="only this stream").tag(sync=True)
    height = traitlets.Unicode("auto", help="CSS height; 'auto' grows up to a limit").tag(
        sync=True
    )
    max_chars = traitlets.Int(1_000_000, min=1, help="characters kept (the tail)").tag(sync=True)


class LiveChart(SSEWidget):
    """A live line chart of a channel's points: several series, rolling window, pause.

    Example::

        LiveChart(channel="train", series=["loss", "acc"], window=2_000)
    """

    _module_name = "chart"
    _default_event = "point"

    series = traitlets.List(traitlets.Unicode(), help="series shown (empty: all)").tag(sync=True)
    window = traitlets.Int(2000, min=2, help="points kept per series").tag(sync=True)
    height = traitlets.Int(300, min=80, help="plot height in pixels").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    x_label = traitlets.Unicode("").tag(sync=True)
    y_label = traitlets.Unicode("").tag(sync=True)
    paused = traitlets.Bool(False, help="stop redrawing (data keeps coming in)").tag(sync=True)


class ChannelView(SSEWidget):
    """Everything a channel shows: bars, chart, text and log together (sections appear as
    their kind of event arrives).

    Example::

        sse_widgets.show("train")
    """

    _module_name = "activity"
    _default_event = "message"

    max_lines = traitlets.Int(1000, min=1).tag(sync=True)
    window = traitlets.Int(2000, min=2).tag(sync=True)
    series = traitlets.List(traitlets.Unicode()).tag(sync=True)
    show_cancel = traitlets.Bool(True).tag(sync=True)


def show(channel: str = "default", **options: Any) -> ChannelView:
    """A widget showing a channel's whole activity; put it last in a cell (or ``display`` it).

    Example::

        import sse_widgets
        sse_widgets.show("train")
    """
    return ChannelView(channel, **options)
