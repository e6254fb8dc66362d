"""The ``progress`` event of a bar, written as JSON text.

Written directly rather than by ``json`` from a dict: an update in a hot loop with
``mininterval=0`` is mostly this, and the fields that rarely change (id, desc, unit, parent)
are encoded once and cached on the bar, which halves its cost. The schema is in
docs/events.md.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["event_json", "number"]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def number(value: Any) -> str:
    """A number as JSON text; None, NaN and infinities are null (JSON has no NaN)."""
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    as_float = float(value)
    return repr(as_float) if math.isfinite(as_float) else "null"


def event_json(bar: Any, rate: float | None, eta: float | None, elapsed: float) -> str:
    """The JSON text of ``bar``'s current ``progress`` event."""
    key = (bar.desc, bar.unit, bar.parent)
    if key != bar._head_key:
        parent_json = _encode(bar.parent.id) if bar.parent is not None else "null"
        bar._head = (
            f'{{"bar":{_encode(bar.id)},"desc":{_encode(bar.desc)},'
            f'"unit":{_encode(bar.unit)},"parent":{parent_json},'
        )
        bar._head_key = key
    message = "null" if bar.message is None else _encode(bar.message)
    payload = (
        f'{bar._head}"value":{number(bar.n)},"total":{number(bar.total)},'
        f'"rate":{number(rate)},"elapsed":{elapsed:.3f},'
        f'"eta":{"null" if eta is None else format(eta, ".3f")},'
        f'"state":"{bar.state}","message":{message}'
    )
    if bar.succeeded or bar.failures:
        payload += (
            f',"ok":{bar.succeeded},"failed":{bar.failures},"errors":{_encode(list(bar.errors))}'
        )
    if bar.phases:
        payload += f',"phase":{_encode(bar.phase)},"phases":{_encode(bar.phases)}'
    if not bar.leave:
        payload += ',"leave":false'
    return payload + "}"
