"""Pins the SSE wire format of ``sse_widgets.protocol``.

``EventParser`` must follow the WHATWG HTML "server-sent events" interpretation rules exactly
(BOM, UTF-8 replacement, CR/LF/CRLF, comments, fields without colon, the one leading space,
``id`` with NUL, empty ``id``, ``retry`` digits only, dispatch on a blank line, end of stream,
reconnect). Every stream in the table is also fed whole, one byte at a time and cut at random
points (fixed seeds): chunking must never change the result.

``encode`` must produce byte-exact frames, refuse what a field cannot carry (CR, LF, NUL in an
event name or id; a retry that is not a non-negative int) and round-trip through the parser.
"""

from __future__ import annotations

import itertools
import random

import pytest

from sse_widgets.errors import ProtocolError
from sse_widgets.protocol import Event, EventParser, comment, encode


def E(data: str, event: str = "message", id: str = "") -> Event:
    """An event as the parser dispatches it (``id`` is the last event id in force)."""
    return Event(data=data, event=event, id=id)


def run(
    chunks: list[bytes], parser: EventParser | None = None
) -> tuple[list[Event], str, int | None]:
    parser = parser or EventParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    events += parser.close()
    return events, parser.last_event_id, parser.retry


def splittings(stream: bytes) -> dict[str, list[bytes]]:
    """The same stream whole, one byte at a time, and cut at random points (fixed seeds)."""
    ways = {"whole": [stream], "bytewise": [stream[i : i + 1] for i in range(len(stream))]}
    for seed in range(8):
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(1, 6))))
        bounds = [0, *cuts, len(stream)]
        ways[f"seed{seed}"] = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    return ways


def parse_every_way(stream: bytes) -> tuple[list[Event], str, int | None]:
    """Parse ``stream`` split every way; assert they all agree; return the result."""
    results = {name: run(chunks) for name, chunks in splittings(stream).items()}
    for name, result in results.items():
        assert result == results["whole"], f"{name} split differs from whole stream"
    return results["whole"]


BOM = b"\xef\xbb\xbf"

# (id, stream, dispatched events, last_event_id after the stream, retry after the stream)
PARSE_TABLE = [
    ("simple", b"data: hello\n\n", [E("hello")], "", None),
    ("bom-stripped", BOM + b"data: x\n\n", [E("x")], "", None),
    ("second-bom-is-part-of-field-name", BOM + BOM + b"data: x\n\ndata: y\n\n", [E("y")], "", None),
    ("bom-after-start-is-not-stripped", b"data: a\n\n" + BOM + b"data: b\n\n", [E("a")], "", None),
    ("invalid-byte-replaced", b"data: a\xffb\n\n", [E("a\ufffdb")], "", None),
    ("truncated-sequence-one-replacement", b"data: \xe2\x82\n\n", [E("\ufffd")], "", None),
    ("surrogate-bytes-each-replaced", b"data: \xed\xa0\x80\n\n", [E("\ufffd" * 3)], "", None),
    ("overlong-each-replaced", b"data: \xc0\xaf!\n\n", [E("\ufffd\ufffd!")], "", None),
    ("multibyte-utf8", "data: é€😀\n\n".encode(), [E("é€😀")], "", None),
    ("lf", b"data: a\n\n", [E("a")], "", None),
    ("cr", b"data: a\r\r", [E("a")], "", None),
    ("crlf", b"data: a\r\n\r\n", [E("a")], "", None),
    ("crlf-between-data-lines", b"data: a\r\ndata: b\r\n\r\n", [E("a\nb")], "", None),
    ("mixed-line-ends", b"data: a\rdata: b\ndata: c\r\n\r\n", [E("a\nb\nc")], "", None),
    ("cr-then-crlf-is-two-line-ends", b"data: a\r\r\ndata: b\n\n", [E("a"), E("b")], "", None),
    ("lf-then-cr-is-two-line-ends", b"data: a\n\rdata: b\n\n", [E("a"), E("b")], "", None),
    ("comments-ignored", b": hi\ndata: a\n:\n:data: b\n\n", [E("a")], "", None),
    ("comment-only-block-dispatches-nothing", b": hi\n\n", [], "", None),
    ("data-without-colon-is-empty-line", b"data\n\n", [E("")], "", None),
    (
        "data-without-colon-appends-empty-line",
        b"data: a\ndata\ndata: b\n\n",
        [E("a\n\nb")],
        "",
        None,
    ),
    ("no-space-after-colon", b"data:a\n\n", [E("a")], "", None),
    ("two-spaces-leave-one", b"data:  a\n\n", [E(" a")], "", None),
    ("trailing-space-kept", b"data: a \n\n", [E("a ")], "", None),
    ("tab-not-stripped", b"data:\ta\n\n", [E("\ta")], "", None),
    ("colon-in-value-kept", b"data: a: b\n\n", [E("a: b")], "", None),
    ("data-lines-joined-with-lf", b"data: a\ndata: b\n\n", [E("a\nb")], "", None),
    ("two-empty-data-lines", b"data:\ndata:\n\n", [E("\n")], "", None),
    ("nul-in-data-kept", b"data: a\x00b\n\n", [E("a\x00b")], "", None),
    (
        "only-cr-and-lf-end-lines",
        "data: a\u2028b\u2029c\x85d\x0be\x0cf\n\n".encode(),
        [E("a\u2028b\u2029c\x85d\x0be\x0cf")],
        "",
        None,
    ),
    ("event-type", b"event: add\ndata: 1\n\n", [E("1", "add")], "", None),
    (
        "event-type-resets-to-message",
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [E("1", "add"), E("2")],
        "",
        None,
    ),
    ("empty-event-type-is-message", b"event\ndata: 1\n\n", [E("1")], "", None),
    ("last-event-field-wins", b"event: a\nevent: b\ndata: 1\n\n", [E("1", "b")], "", None),
    ("event-type-keeps-second-space", b"event:  a\ndata: 1\n\n", [E("1", " a")], "", None),
    ("event-without-data-dispatches-nothing", b"event: x\n\ndata: y\n\n", [E("y")], "", None),
    ("id", b"id: 7\ndata: a\n\n", [E("a", id="7")], "7", None),
    ("id-after-data-in-block", b"data: a\nid: 3\n\n", [E("a", id="3")], "3", None),
    (
        "id-kept-across-events",
        b"id: 7\ndata: a\n\ndata: b\n\n",
        [E("a", id="7"), E("b", id="7")],
        "7",
        None,
    ),
    (
        "id-with-nul-ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E("a", id="1"), E("b", id="1")],
        "1",
        None,
    ),
    (
        "empty-id-resets",
        b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
        [E("a", id="1"), E("b", id="")],
        "",
        None,
    ),
    ("id-without-colon-resets", b"id: 1\n\nid\ndata: b\n\n", [E("b", id="")], "", None),
    ("data-less-block-updates-last-id", b"id: 5\n\n", [], "5", None),
    ("retry", b"retry: 1500\n\n", [], "", 1500),
    ("retry-zero", b"retry: 0\n\n", [], "", 0),
    ("retry-leading-zeros", b"retry: 007\n\n", [], "", 7),
    ("retry-does-not-dispatch", b"retry: 10\ndata: a\n\n", [E("a")], "", 10),
    ("no-blank-line-no-dispatch", b"data: a\n", [], "", None),
    ("incomplete-final-event-discarded", b"data: a\n\ndata: b", [E("a")], "", None),
    (
        "incomplete-final-id-not-applied",
        b"id: 1\ndata: a\n\nid: 2\ndata: b\n",
        [E("a", id="1")],
        "1",
        None,
    ),
    (
        "unknown-fields-ignored",
        b"foo: bar\nDATA: x\ndata : y\nData: w\ndata: z\n\n",
        [E("z")],
        "",
        None,
    ),
    ("blank-lines-only", b"\n\n\r\n\r", [], "", None),
    ("leading-blank-line", b"\ndata: a\n\n", [E("a")], "", None),
]
PARSE_TABLE += [
    (f"retry-rejects-{name}", b"retry: 100\n\nretry:" + value + b"\n\n", [], "", 100)
    for name, value in [
        ("letter", b" 1a"),
        ("leading-space", b"  10"),
        ("minus", b" -1"),
        ("plus", b" +1"),
        ("decimal", b" 1.5"),
        ("fullwidth-digits", " \uff11\uff12".encode()),
        ("superscript-digit", " ²".encode()),
    ]
]


@pytest.mark.parametrize(
    ("stream", "events", "last_id", "retry"),
    [row[1:] for row in PARSE_TABLE],
    ids=[row[0] for row in PARSE_TABLE],
)
def test_parser_follows_whatwg_rules_in_any_chunking(stream, events, last_id, retry):
    assert parse_every_way(stream) == (events, last_id, retry)


def test_crlf_split_across_chunks_is_one_line_end():
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"") == []  # an empty chunk does not forget the pending CR
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r\n") == [E("a\nb")]


def test_cr_at_chunk_end_followed_by_cr_is_a_blank_line():
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\r") == [E("a")]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: \xe2", b"\x82", b"\xac\n\n"],
        [b"data: \xf0\x9f", b"\x98\x80\n", b"\n"],
        [b"\xef", b"\xbb", b"\xbfdata: \xc3", b"\xa9\n\n"],
    ],
    ids=["euro-3-chunks", "emoji-split", "bom-and-char-split"],
)
def test_multibyte_character_split_across_chunks(chunks):
    expected = b"".join(chunks).removeprefix(BOM).decode()[len("data: ") :].rstrip("\n")
    assert run(chunks)[0] == [E(expected)]


def test_reset_keeps_last_event_id_and_retry_but_not_the_partial_event():
    parser = EventParser()
    assert parser.feed(b"id: 5\nretry: 300\ndata: a\n\nid: 6\ndata: partial") == [E("a", id="5")]
    parser.reset()  # reconnect: a new response begins
    assert (parser.last_event_id, parser.retry) == ("5", 300)
    assert parser.feed(BOM + b": the BOM of the new response is stripped\n") == []
    assert parser.feed(b"\n") == []  # the partial event and its id were dropped
    assert parser.last_event_id == "5"  # the new stream's id buffer started with the id in force


def test_reset_then_id_in_new_stream():
    parser = EventParser()
    parser.feed(b"id: 5\ndata: a\n\n")
    parser.reset()
    assert parser.feed(b"id: 9\ndata: b\n\ndata: c\n\n") == [E("b", id="9"), E("c", id="9")]


def test_close_discards_incomplete_event_and_parser_can_start_again():
    parser = EventParser()
    assert parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b") == [E("a", id="1")]
    assert parser.close() == []
    assert parser.last_event_id == "1"
    assert parser.feed(b"\xef\xbb\xbfdata: c\n\n") == [E("c", id="1")]


def test_a_parser_starts_from_a_known_last_event_id():
    # A reconnecting client's state (issue 12): the id in force is reported by events that
    # carry none, is what a reconnect sends, and an empty id: field still clears it.
    parser = EventParser(last_event_id="41")
    assert parser.last_event_id == "41"
    assert parser.feed(b"data: a\n\n") == [E("a", id="41")]
    assert parser.feed(b"id: 42\ndata: b\n\n") == [E("b", id="42")]
    parser.reset()
    assert parser.feed(b"data: c\n\n") == [E("c", id="42")]
    assert parser.feed(b"id\ndata: d\n\n") == [E("d", id="")]
    assert parser.last_event_id == ""
    with pytest.raises(ProtocolError):
        EventParser(last_event_id="a\x00b")


# -- encode ------------------------------------------------------------------------------

ENCODE_TABLE = [
    ("data-only", Event("a"), b"data: a\n\n"),
    ("id", Event("a", id="1"), b"id: 1\ndata: a\n\n"),
    ("event", Event("a", event="note"), b"event: note\ndata: a\n\n"),
    ("message-event-has-no-line", Event("a", event="message"), b"data: a\n\n"),
    ("retry", Event("a", retry=1500), b"retry: 1500\ndata: a\n\n"),
    (
        "all-fields",
        Event("a", event="note", id="9", retry=0),
        b"id: 9\nevent: note\nretry: 0\ndata: a\n\n",
    ),
    ("lf-splits-data", Event("a\nb"), b"data: a\ndata: b\n\n"),
    ("cr-splits-data", Event("a\rb"), b"data: a\ndata: b\n\n"),
    ("crlf-splits-data", Event("a\r\nb"), b"data: a\ndata: b\n\n"),
    ("blank-line-in-data", Event("a\n\nb"), b"data: a\ndata: \ndata: b\n\n"),
    ("cr-cr-lf-is-two-breaks", Event("a\r\r\nb"), b"data: a\ndata: \ndata: b\n\n"),
    ("trailing-break", Event("a\n"), b"data: a\ndata: \n\n"),
    ("only-break", Event("\n"), b"data: \ndata: \n\n"),
    ("empty-data", Event(""), b"data: \n\n"),
    ("leading-space-kept", Event(" a"), b"data:  a\n\n"),
    ("unicode-utf8", Event("é\u2028😀"), "data: é\u2028😀\n\n".encode()),
    ("no-data-with-id", Event(None, id="1"), b"id: 1\n\n"),
    ("no-data-empty-id", Event(None, id=""), b"id: \n\n"),
    ("no-data-with-retry", Event(None, retry=10), b"retry: 10\n\n"),
]


@pytest.mark.parametrize(
    ("event", "expected"), [r[1:] for r in ENCODE_TABLE], ids=[r[0] for r in ENCODE_TABLE]
)
def test_encode_is_byte_exact(event, expected):
    assert encode(event) == expected


@pytest.mark.parametrize("char", ["\r", "\n", "\x00"], ids=["cr", "lf", "nul"])
@pytest.mark.parametrize("field", ["event name", "event id"])
def test_encode_refuses_line_breaks_and_nul_in_event_name_or_id(field, char):
    value = f"a{char}b"
    event = Event("x", event=value) if field == "event name" else Event("x", id=value)
    with pytest.raises(ProtocolError) as info:
        encode(event)
    message = str(info.value)
    assert field in message
    assert repr(char) in message
    assert "position 1" in message


def test_retry_only_and_comment_only_frames_fire_no_event():
    # issue 12: Event(retry=...) used to write an empty data: line, dispatching an empty message
    assert encode(Event(retry=5000)) == b"retry: 5000\n\n"
    assert encode(Event(id="7")) == b"id: 7\n\n"
    for frame in (encode(Event(retry=5000)), comment("keep-alive"), encode(Event(id="7"))):
        parser = EventParser()
        assert parser.feed(frame) == []
    parser = EventParser()
    assert parser.feed(encode(Event(retry=5000))) == [] and parser.retry == 5000
    # an explicit empty string is still an event with empty data
    assert EventParser().feed(encode(Event(""))) == [E("")]


def test_event_none_means_the_default_type():
    assert Event("x", event=None).event == "message"  # type: ignore[arg-type]
    assert encode(Event("x", event=None)) == b"data: x\n\n"  # type: ignore[arg-type]
    assert EventParser().feed(encode(Event("x", event=None))) == [E("x")]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "retry",
    [-1, True, False, 1.5, 1000.0, "10", "-1"],
    ids=["negative", "true", "false", "float", "whole-float", "str", "neg-str"],
)
def test_encode_refuses_retry_that_is_not_a_non_negative_int(retry):
    with pytest.raises(ProtocolError, match="retry"):
        encode(Event("x", retry=retry))


@pytest.mark.parametrize(
    "event",
    [Event(b"bytes"), Event("x", id=5), Event("x", event=5)],
    ids=["bytes-data", "int-id", "int-event"],
)
def test_encode_refuses_values_of_the_wrong_type(event):
    with pytest.raises(ProtocolError, match="must be a str"):
        encode(event)


def test_protocol_error_is_a_value_error():
    assert issubclass(ProtocolError, ValueError)


TRICKY_DATA = [
    "", " ", "  two leading spaces", "a:b", ":", ": looks like a comment", "data: x", "id: 3",
    "é ✓ 😀", "\u2028", "\u2029\x85\x0b\x0c", "\x00", "a\nb", "\n", "a\n", "\n\na", "\ufeff",
    "retry: 5",
]  # fmt: skip
TRICKY_FIELDS = [" ", " leading", "a:b", ":", "é😀", "\u2028", "\x85", "\ufeff", "id: 2", "x" * 300]


@pytest.mark.parametrize("text", TRICKY_DATA, ids=[repr(t) for t in TRICKY_DATA])
def test_data_round_trips_through_encode_and_parse(text):
    stream = encode(Event(text, event="e", id="1")) + encode(Event("after"))
    assert parse_every_way(stream)[0] == [E(text, "e", "1"), E("after", id="1")]


@pytest.mark.parametrize("text", TRICKY_FIELDS, ids=[repr(t) for t in TRICKY_FIELDS])
def test_event_name_and_id_round_trip_through_encode_and_parse(text):
    stream = encode(Event("d", event=text, id=text))
    assert parse_every_way(stream) == ([E("d", text, text)], text, None)


def test_all_tricky_events_in_one_stream_round_trip():
    sent = [
        Event(t, event=f or "x", id=f) for t, f in zip(TRICKY_DATA, TRICKY_FIELDS * 2, strict=False)
    ]
    stream = b"".join(map(encode, sent))
    assert parse_every_way(stream)[0] == [E(e.data, e.event, e.id) for e in sent]


# -- comment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", b":\n\n"),
        ("ping", b": ping\n\n"),
        ("a\nb", b": a\n: b\n\n"),
        ("a\r\nb\rc", b": a\n: b\n: c\n\n"),
        ("a\n\nb", b": a\n:\n: b\n\n"),
        ("é", ": é\n\n".encode()),
    ],
    ids=["empty", "ping", "lf", "crlf-and-cr", "blank-line-inside", "unicode"],
)
def test_comment_is_byte_exact(text, expected):
    assert comment(text) == expected


@pytest.mark.parametrize("text", ["", "ping", "a\n\nb", "\n", "data: x", "id: 9"])
def test_comment_dispatches_nothing_and_keeps_last_event_id(text):
    stream = encode(Event(None, id="4")) + comment(text) + encode(Event("x"))
    assert parse_every_way(stream) == ([E("x", id="4")], "4", None)
