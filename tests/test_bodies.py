"""Publish bodies: the publisher's canonical lines take a fast path (no re-encoding) that must
give exactly what the general path gives, and neither may let invalid JSON through."""

from __future__ import annotations

import json

import pytest

from sse_widgets.errors import InvalidRequest
from sse_widgets.hub import Hub
from sse_widgets.server.bodies import parse_publish_body

NDJSON = "application/x-ndjson"

DATA = [
    {"n": 1},
    "text with a \u2028 line separator and \u2029 paragraph separator",
    {"nested": {"data": "x", "list": [1, 2.5, None, True]}},
    'quote " backslash \\ and a NUL \u0000 escaped',
    "\u00e9t\u00e9 \U0001f600",
    [],
    None,
    12345678901234567890,
]


def _parse(lines: list[str], channel: str | None = None):  # type: ignore[no-untyped-def]
    return parse_publish_body(Hub(), "\n".join(lines).encode(), NDJSON, channel=channel)


@pytest.mark.parametrize("data", DATA, ids=range(len(DATA)))
def test_canonical_and_general_lines_give_the_same_item(data):
    canonical = json.dumps(
        {"channel": "c", "event": "log", "data": data}, ensure_ascii=False, separators=(",", ":")
    )
    spaced = json.dumps({"data": data, "event": "log", "channel": "c"}, indent=None)
    [(c1, [fast])] = _parse([canonical])
    [(c2, [slow])] = _parse([spaced])
    assert c1 == c2 == "c"
    assert json.loads(fast.payload) == json.loads(slow.payload) == data
    assert fast.event == slow.event == "log"


def test_a_u2028_inside_a_string_does_not_split_the_line():
    line = json.dumps({"channel": "c", "event": "log", "data": "a\u2028b"}, ensure_ascii=False)
    [(_, [item])] = _parse([line])
    assert json.loads(item.payload) == "a\u2028b"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"channel":"c","event":"log","data":NaN}', "NaN is not valid JSON"),
        ('{"channel":"c","event":"log","data":Infinity}', "Infinity is not valid JSON"),
        ('{"channel":"c","event":"log","data":1} trailing', "malformed"),
        ('{"channel":"c","event":"close","data":1}', "reserved"),
        ('{"channel":"c","event":"a\\nb","data":1}', "CR, LF and NUL"),
        ('{"channel":".c","event":"log","data":1}', "invalid channel name"),
    ],
)
def test_invalid_lines_are_refused_on_either_path(line, words):
    with pytest.raises(InvalidRequest, match=words):
        _parse(['{"channel":"c","event":"log","data":0}', line])


def test_duplicate_keys_keep_the_last_value_like_json_parse_in_browsers():
    [(_, [item])] = _parse(['{"channel":"c","event":"log","data":1,"data":2}'])
    assert item.payload == "2"


def test_lone_surrogate_in_data_is_a_400_not_a_server_error():
    hub = Hub()
    with pytest.raises(InvalidRequest, match="not JSON-serializable"):
        hub.prepare("log", "\ud800")
    # Escaped in the body it is valid JSON text and travels as such.
    [(_, [item])] = _parse(['{"channel":"c","event":"log","data":"\\ud800"}'])
    assert item.payload == '"\\ud800"'


def test_the_per_channel_endpoint_refuses_another_channel_in_the_body():
    with pytest.raises(InvalidRequest, match="differs from the URL"):
        _parse(['{"channel":"other","event":"log","data":1}'], channel="c")
