"""Parsing and validating publish request bodies into hub items, all or nothing.

A batch is checked entirely before anything is published, so one bad line rejects the whole
request (with its line number) and nothing already accepted is disturbed. No tornado here:
it takes bytes and a content type, and raises :class:`~sse_widgets.errors.InvalidRequest`
with the HTTP status to answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import InvalidRequest
from ..hub import Hub
from ..names import CHANNEL_NAME_PATTERN, validate_channel_name
from ..records import PublishItem

__all__ = ["CALL_TARGET", "JSON_TYPES", "NDJSON_TYPES", "parse_publish_body"]

#: Runs for an endpoint call (lines with ``"call"`` instead of ``"channel"``) have this prefix
#: before the call's id; '#' cannot start a channel name.
CALL_TARGET = "#call:"
_CALL_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines"})


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header value, lower-cased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# json.loads accepts NaN and Infinity, which browsers' JSON.parse does not: refuse them.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
# The exact form the Python publisher writes: {"channel":"c","event":"e","data":<data>}.
# A line in that form needs no re-encoding: its data is a slice of the line, checked by
# parsing only that slice. Anything else takes the general path.
_CANONICAL = re.compile(
    r'\{"(?:channel":"(' + CHANNEL_NAME_PATTERN + r')|call":"([A-Za-z0-9_\-]{1,64}))",'
    r'"event":"([^"\\\x00-\x1f]{1,256})","data":'
)


def parse_publish_body(
    hub: Hub, body: bytes, content_type: str | None, *, channel: str | None
) -> list[tuple[str, list[PublishItem]]]:
    """Turn a publish body into runs of ``(channel, items)`` in publish order.

    With ``channel`` (the per-channel endpoint) objects are ``{"event", "data"}``; without it
    (the multi-channel ``POST api/events``) each object also names its ``"channel"``.
    ``application/json`` takes one object or an array of them; ``application/x-ndjson`` one
    object per line (blank lines are skipped).
    """
    kind = media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None
    parsed: list[tuple[str, PublishItem]] = []
    if kind in JSON_TYPES:
        try:
            value = _DECODER.decode(text)
        except ValueError as exc:
            raise InvalidRequest(f"malformed JSON body: {exc}") from None
        if isinstance(value, list):
            parsed = [_parse_event(hub, f"item {i}", obj, channel) for i, obj in enumerate(value)]
        else:
            parsed = [_parse_event(hub, "body", value, channel)]
    elif kind in NDJSON_TYPES:
        # Lines end at LF only: JSON text may hold U+2028 and other characters that
        # str.splitlines() would wrongly treat as line ends.
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                parsed.append(_parse_line(hub, number, line, channel))
    else:
        raise InvalidRequest(
            f"unsupported Content-Type {content_type!r}: send application/json (one event or "
            "an array) or application/x-ndjson (one event per line)",
            status=415,
        )
    if not parsed:
        raise InvalidRequest("the request has no events to publish")
    runs: list[tuple[str, list[PublishItem]]] = []
    for target, item in parsed:
        if runs and runs[-1][0] == target:
            runs[-1][1].append(item)
        else:
            runs.append((target, [item]))
    return runs


def _parse_line(hub: Hub, number: int, line: str, channel: str | None) -> tuple[str, PublishItem]:
    match = _CANONICAL.match(line)
    if match is not None and (
        channel is None if match.group(2) else channel is None or match.group(1) == channel
    ):
        try:
            data, end = _DECODER.raw_decode(line, match.end())
        except ValueError:
            pass  # the general path says what is wrong
        else:
            if line[end:].strip() == "}":
                target = match.group(1) or CALL_TARGET + match.group(2)
                try:
                    return target, hub.prepare_json(match.group(3), line[match.end() : end], data)
                except InvalidRequest as exc:
                    raise type(exc)(f"line {number}: {exc}", status=exc.status) from None
    try:
        obj = _DECODER.decode(line)
    except ValueError as exc:
        raise InvalidRequest(f"line {number}: malformed JSON: {exc}") from None
    return _parse_event(hub, f"line {number}", obj, channel)


def _parse_event(hub: Hub, where: str, obj: Any, channel: str | None) -> tuple[str, PublishItem]:
    if not isinstance(obj, dict):
        raise InvalidRequest(f'{where}: an event is a JSON object {{"event": ..., "data": ...}}')
    unknown = set(obj) - {"event", "data", "channel", "call"}
    if unknown:
        raise InvalidRequest(f"{where}: unknown field(s) {sorted(unknown)}; use event and data")
    if "call" in obj and channel is None and "channel" not in obj:
        # A worker's event for an endpoint call (endpoints.py); the call id is opaque here.
        call = obj["call"]
        if not isinstance(call, str) or not _CALL_ID.fullmatch(call):
            raise InvalidRequest(f"{where}: {call!r} is not a call id")
        try:
            return CALL_TARGET + call, hub.prepare(obj.get("event", "message"), obj.get("data"))
        except InvalidRequest as exc:
            raise type(exc)(f"{where}: {exc}", status=exc.status) from None
    target = obj.get("channel", channel)
    if channel is not None and target != channel:
        raise InvalidRequest(f"{where}: channel {target!r} differs from the URL's {channel!r}")
    if target is None:
        raise InvalidRequest(f'{where}: name the channel of each event ("channel": ...)')
    try:
        validate_channel_name(target)
        return target, hub.prepare(obj.get("event", "message"), obj.get("data"))
    except InvalidRequest as exc:
        raise type(exc)(f"{where}: {exc}", status=exc.status) from None
