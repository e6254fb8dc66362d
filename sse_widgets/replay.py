"""What a new subscription receives before live events: the opening frame and the replay.

Kept apart from ``hub`` because it is the one subtle algorithm there: given a cursor (or a
replay mode) and the channels of a stream, produce frames such that the ids the client sees
only ever increase. That property is what makes a resume lose and repeat nothing, so:

- Every stream opens with ``retry:`` and an ``id:`` line (an id-only frame dispatches no
  event but sets the client's last event id), so even a client that saw no event yet resumes
  from the right place.
- Frames that do not come from the history in order (``reset`` events, snapshot records that
  were evicted from the history) carry the opening id, not their own, and come first.
- Everything after them is history in ``seq`` order across all channels, each with its own id.

Pure Python; no I/O.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Channel, Hub, Record
    from .subscription import Subscription

__all__ = ["build_replay", "parse_cursor"]


def parse_cursor(hub: Hub, cursor: str) -> tuple[int, str | None]:
    """Return ``(seq, None)`` for a usable cursor, else ``(0, reason)`` for a reset.

    Reasons: ``"hub-restarted"`` (a cursor from another epoch: the hub lost its memory) and
    ``"unknown-cursor"`` (not a cursor this hub could have issued).
    """
    epoch, dash, digits = cursor.rpartition("-")
    if not dash or not digits.isascii() or not digits.isdigit():
        return 0, "unknown-cursor"
    if epoch != hub.epoch:
        return 0, "hub-restarted"
    seq = int(digits)
    if seq > hub.seq:
        return 0, "unknown-cursor"
    return seq, None


def build_replay(
    hub: Hub, targets: list[Channel], sub: Subscription, *, cursor: str | None, replay: str
) -> list[bytes]:
    """The frames a new subscription starts with, in the order they must be sent."""
    config = hub.config
    if cursor:
        seq, reason = parse_cursor(hub, cursor)
        start_id, announce, compact_all = cursor, True, False
    elif replay == "history":
        seq, reason = 0, None
        start_id, announce, compact_all = f"{hub.epoch}-0", False, True
    else:
        start_id = hub.head
        frames = [f"retry: {config.retry_ms}\nid: {start_id}\n\n".encode()]
        if replay == "snapshot":
            records = sorted((r for t in targets for r in t.snapshot.values()), key=lambda r: r.seq)
            frames.extend(_reframe(r, start_id, sub.single) for r in records if sub.wants(r.event))
        return frames

    preamble = [f"retry: {config.retry_ms}\nid: {start_id}\n\n".encode()]
    ordered: list[Record] = []
    for target in targets:
        lost = reason or ("history-exceeded" if target.evicted_upto > seq else None)
        if lost is None and not compact_all:
            ordered.extend(target.since(seq))
            continue
        if lost is not None and announce:
            preamble.append(_reset_frame(target.name, lost, start_id, sub.single))
        evicted, retained = target.compacted()
        preamble.extend(_reframe(r, start_id, sub.single) for r in evicted if sub.wants(r.event))
        ordered.extend(retained)
    if len(targets) > 1:
        ordered.sort(key=lambda r: r.seq)
    if sub.single:
        rest = [r.single_frame for r in ordered if sub.wants(r.event)]
    else:
        rest = [r.frame for r in ordered if sub.wants(r.event)]
    return preamble + rest


def _reframe(record: Record, frame_id: str, single: bool) -> bytes:
    """A record's frame carrying another id (see the module docstring for why)."""
    frame = record.single_frame if single else record.frame
    return f"id: {frame_id}".encode() + frame[frame.index(b"\n") :]


def _reset_frame(channel_key: str, reason: str, frame_id: str, single: bool) -> bytes:
    name = channel_key.partition("#")[0]
    payload = {"reason": reason}
    data = payload if single else {"channel": name, "data": payload, "time": round(time.time(), 3)}
    return f"id: {frame_id}\nevent: reset\ndata: {json.dumps(data)}\n\n".encode()
