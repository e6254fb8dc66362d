"""Server-Sent Events wire format: encoding frames and parsing streams.

This module is pure: no I/O, no event loop, no imports beyond the standard library. It is the
single place that knows the text format of ``text/event-stream``, so the server, the Python
client and the tests all agree byte for byte.

- :func:`encode` turns an :class:`Event` into the bytes of one frame, refusing anything the
  format cannot carry (CR, LF or NUL in an event name or id; a retry that is not a
  non-negative int) instead of silently altering it.
- :class:`EventParser` is an incremental parser that follows the WHATWG HTML "server-sent
  events" interpretation rules exactly: feed it bytes as they arrive, in chunks of any size,
  and it returns the events that were dispatched.

It must not know about channels, cursors or JSON payloads: those live in ``hub``.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

__all__ = ["Event", "EventParser", "comment", "encode", "validate_field"]

# Line ends in an event stream: CRLF, lone LF or lone CR (the WHATWG grammar's "end-of-line").
_LINE_END = re.compile(r"\r\n|\r|\n")
_FORBIDDEN = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, as sent or as dispatched by :class:`EventParser`.

    ``event`` is the event type (``"message"`` when the stream names none; ``None`` means the
    same), ``data`` the text of the ``data:`` lines joined with LF (``None``, the default when
    encoding: no ``data:`` line, so the frame dispatches no event; ``""`` is an event with
    empty data), ``id`` the last event id in force when the event was dispatched (``None`` when
    encoding an event that sets no id), and ``retry`` a reconnection delay in milliseconds to
    send with the event (encoding only; the parser keeps the delay on
    :attr:`EventParser.retry`).

    >>> Event("hello", event="greeting", id="7")
    Event(data='hello', event='greeting', id='7', retry=None)
    >>> encode(Event(retry=5000))  # sets the reconnection delay, dispatches nothing
    b'retry: 5000\\n\\n'
    """

    data: str | None = None
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def __post_init__(self) -> None:
        if self.event is None:  # the default type, as a stream without an event: field
            object.__setattr__(self, "event", "message")

    def json(self) -> Any:
        """The data parsed as JSON (the hub's payloads always are).

        >>> Event('{"channel": "a", "data": 1}').json()["data"]
        1
        """
        return json.loads(self.data or "null")


def validate_field(what: str, value: str) -> str:
    """Return ``value`` if it can stand in a single SSE field, else raise ProtocolError.

    Event names and ids are one line each: a CR, LF or NUL would end the line early (or, for
    an id, make clients ignore it), so they are refused rather than stripped.

    >>> validate_field("event name", "progress")
    'progress'
    """
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a str, not {type(value).__name__}")
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise ProtocolError(
            f"{what} {value!r} contains {bad.group()!r} at position {bad.start()}; "
            "CR, LF and NUL cannot appear in an SSE field"
        )
    return value


def encode(event: Event) -> bytes:
    """Encode one event as the UTF-8 bytes of an SSE frame, ending with the blank line.

    Data with line breaks (CR, LF or CRLF) becomes several ``data:`` lines, which clients join
    back with LF. ``data=None`` sends no data lines (a frame that only sets ``id`` or
    ``retry`` and dispatches nothing).

    >>> encode(Event("a\\nb", event="note", id="1"))
    b'id: 1\\nevent: note\\ndata: a\\ndata: b\\n\\n'
    """
    lines: list[str] = []
    if event.id is not None:
        lines.append("id: " + validate_field("event id", event.id))
    if event.event != "message":
        lines.append("event: " + validate_field("event name", event.event))
    if event.retry is not None:
        retry = event.retry
        if isinstance(retry, bool) or not isinstance(retry, int):
            raise ProtocolError(f"retry must be an int of milliseconds, not {retry!r}")
        if retry < 0:
            raise ProtocolError(f"retry must be zero or more milliseconds, not {retry}")
        lines.append(f"retry: {retry}")
    if event.data is not None:
        if not isinstance(event.data, str):
            raise ProtocolError(f"event data must be a str, not {type(event.data).__name__}")
        lines.extend("data: " + line for line in _LINE_END.split(event.data))
    lines.append("\n")
    return "\n".join(lines).encode("utf-8")


def comment(text: str = "") -> bytes:
    """Encode a comment: ignored by clients, used for heartbeats and to open a stream at once.

    >>> comment("ping")
    b': ping\\n\\n'
    """
    body = "".join(f": {line}\n" if line else ":\n" for line in _LINE_END.split(text))
    return (body + "\n").encode("utf-8")


class EventParser:
    """Incremental parser for ``text/event-stream`` bytes (WHATWG HTML, section 9.2.6).

    Feed bytes in chunks of any size; each call returns the events dispatched by the lines it
    completed. State that the spec keeps on the EventSource itself (the last event id and the
    reconnection time) lives on the parser and survives across events; call :meth:`reset`
    before parsing a new response on reconnect, which keeps both as the spec requires.

    A reconnecting client starts from the id it knows: ``EventParser(last_event_id="41")``.
    Each new response's *last event ID buffer* starts with the id in force, as browsers do
    (Chromium builds each reconnection's parser with the EventSource's last event id), so an
    event without an ``id:`` field after a reconnect reports that id, not ``""``; an empty
    ``id:`` field still clears it.

    >>> parser = EventParser()
    >>> parser.feed(b"id: 1\\ndata: hel")
    []
    >>> parser.feed(b"lo\\n\\n")
    [Event(data='hello', event='message', id='1', retry=None)]
    >>> EventParser(last_event_id="41").feed(b"data: after a reconnect\\n\\n")[0].id
    '41'
    """

    def __init__(self, last_event_id: str = "") -> None:
        if not isinstance(last_event_id, str) or "\x00" in last_event_id:
            raise ProtocolError(f"last_event_id must be a str without NUL, not {last_event_id!r}")
        #: The last event id string, sent back as ``Last-Event-ID`` when reconnecting.
        self.last_event_id: str = last_event_id
        #: The reconnection time in milliseconds set by the last valid ``retry:`` field.
        self.retry: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forget any partial line or event (a new response begins); keep id and retry."""
        # errors="replace": the spec decodes with UTF-8 decode, which replaces bad sequences
        # with U+FFFD. The incremental decoder keeps a multi-byte character split across chunks.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_stream_start = True  # a BOM may still be waiting to be stripped
        self._pending_line = ""
        # A chunk that ended with CR: if the next one starts with LF, that LF is the second half
        # of a CRLF, not a second (blank) line that would dispatch an event.
        self._skip_lf = False
        self._data: list[str] = []
        self._event_type = ""
        # Every stream has its own last event ID buffer; it starts with the id in force (the
        # EventSource's last event id string, which outlives streams), so events of the new
        # stream that carry no id: report the id the client resumed from.
        self._id_buffer = self.last_event_id

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse the next bytes of the stream; return the events they dispatched, in order."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if self._at_stream_start:
            # Exactly one leading U+FEFF is stripped; a second one is part of the first line.
            self._at_stream_start = False
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        buffered = self._pending_line + text
        lines = _LINE_END.split(buffered)
        self._pending_line = lines.pop()  # the text after the last line end is incomplete
        self._skip_lf = buffered[-1] == "\r"
        events: list[Event] = []
        for line in lines:
            if not line:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
            else:
                self._process_line(line)
        return events

    def close(self) -> list[Event]:
        """End of stream: an event without its final blank line is discarded, as the spec says."""
        self._decoder.decode(b"", final=True)
        self.reset()
        return []

    def _process_line(self, line: str) -> None:
        if line[0] == ":":
            return  # a comment
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event_type = value
        elif field == "id" and "\x00" not in value:  # an id containing NUL is ignored
            self._id_buffer = value
        elif field == "retry" and value.isascii() and value.isdigit():  # only ASCII digits
            self.retry = int(value)
        # Any other field (and an id with NUL, a retry with anything but digits) is ignored.

    def _dispatch(self) -> Event | None:
        # The id buffer becomes the stream's last event id even when no event is dispatched.
        self.last_event_id = self._id_buffer
        data, event_type = self._data, self._event_type
        self._data, self._event_type = [], ""
        if not data:
            return None
        return Event(data="\n".join(data), event=event_type or "message", id=self.last_event_id)
