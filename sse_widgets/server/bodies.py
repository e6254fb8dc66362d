"""Parsing and validating publish request bodies into hub items, all or nothing.

A batch is checked entirely before anything is published, so one bad line rejects the whole
request (with its line number) and nothing already accepted is disturbed. No tornado here:
it takes bytes and a content type, and raises :class:`~sse_widgets.errors.InvalidRequest`
with the HTTP status to answer.
"""

from __future__ import annotations

import json
from typing import Any

from ..channel import PublishItem
from ..errors import InvalidRequest
from ..hub import Hub
from ..names import validate_channel_name

__all__ = ["JSON_TYPES", "NDJSON_TYPES", "parse_publish_body"]

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines"})


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header value, lower-cased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


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
    objects: list[tuple[str, Any]] = []  # (where, object) for error messages
    if kind in JSON_TYPES:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidRequest(f"malformed JSON body: {exc}") from None
        if isinstance(value, list):
            objects = [(f"item {i}", item) for i, item in enumerate(value)]
        else:
            objects = [("body", value)]
    elif kind in NDJSON_TYPES:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    objects.append((f"line {number}", json.loads(line)))
                except ValueError as exc:
                    raise InvalidRequest(f"line {number}: malformed JSON: {exc}") from None
    else:
        raise InvalidRequest(
            f"unsupported Content-Type {content_type!r}: send application/json (one event or "
            "an array) or application/x-ndjson (one event per line)",
            status=415,
        )
    if not objects:
        raise InvalidRequest("the request has no events to publish")
    runs: list[tuple[str, list[PublishItem]]] = []
    for where, obj in objects:
        target, item = _parse_event(hub, where, obj, channel)
        if runs and runs[-1][0] == target:
            runs[-1][1].append(item)
        else:
            runs.append((target, [item]))
    return runs


def _parse_event(hub: Hub, where: str, obj: Any, channel: str | None) -> tuple[str, PublishItem]:
    if not isinstance(obj, dict):
        raise InvalidRequest(f'{where}: an event is a JSON object {{"event": ..., "data": ...}}')
    unknown = set(obj) - {"event", "data", "channel"}
    if unknown:
        raise InvalidRequest(f"{where}: unknown field(s) {sorted(unknown)}; use event and data")
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
