"""Where a stream starts, and how a subscriber that is behind catches up from the history.

Kept apart from ``hub`` because it holds the one subtle algorithm there. A new subscription
gets a *position* (a ``seq``); until it has caught up with the head it is "catching up": it is
skipped by the live fan-out and instead pulls the history after its position in bounded
slices, each time its transport has written the previous one (:func:`refill`). Reading history
lazily keeps a long replay from filling the send buffer (which would cut off a reader before
its first byte, and again on every reconnect), costs no copies (history frames are shared), and
lets a reader that is slower than the producer but within the history keep going. The switch to
live happens in the same synchronous step that finds the history exhausted, so no event can
fall between the two.

The ids a client sees only ever increase; that is what makes a resume lose and repeat nothing:

- Every stream opens with ``retry:`` and an ``id:`` line (an id-only frame dispatches no event
  but sets the client's last event id), so a client that saw no event yet resumes correctly.
- When a channel lost events the reader had not seen (its cursor is older than the history,
  from another epoch, or it fell behind while catching up), the reader gets a ``reset`` event
  for that channel, then the channel's snapshot (latest state per progress bar) re-framed with
  the current id, then the history the hub still has, with superseded states left out.
- Everything else is history in ``seq`` order across all channels, each frame with its own id.

Pure Python; no I/O.
"""

from __future__ import annotations

import json
import time
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Hub
    from .records import Channel, Record
    from .subscription import Subscription

__all__ = ["open_stream", "parse_cursor", "refill"]

_SLICE_RECORDS = 512  # records read per channel per refill
_by_seq = attrgetter("seq")


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


def open_stream(
    hub: Hub, targets: list[Channel], sub: Subscription, *, cursor: str | None, replay: str
) -> list[bytes]:
    """Set where ``sub`` starts; return the frames to queue at once (the opening frame...)."""
    if cursor:
        seq, reason = parse_cursor(hub, cursor)
        sub.position, sub.catching_up, sub.announce = seq, True, True
        if reason is not None:
            sub.resets = dict.fromkeys(sub.channels, reason)
    elif replay == "history":
        sub.position, sub.catching_up, sub.announce = 0, True, False
    else:
        sub.position = hub.seq
    frames = [f"retry: {hub.config.retry_ms}\nid: {hub.epoch}-{sub.position}\n\n".encode()]
    if replay == "snapshot" and not cursor:
        records = sorted((r for t in targets for r in t.snapshot.values()), key=_by_seq)
        frames += [_reframe(r, hub.head, sub.single) for r in records if sub.wants(r.event)]
    return frames


def refill(hub: Hub, sub: Subscription, budget: int) -> None:
    """Queue the next slice of history after ``sub.position`` (about ``budget`` bytes).

    When the slice reaches the head of every channel the subscription turns live.
    """
    position = sub.position
    frame_id = f"{hub.epoch}-{position}"
    frames: list[bytes] = []
    collected: list[Record] = []
    cutoff: int | None = None
    targets = [
        t
        for t in map(hub.channel_or_none, sub.channels)
        if t is not None and t.name in sub.open_channels
    ]
    for target in targets:
        frames += _handle_loss(target, sub, position, frame_id)
        records = target.after(position, _SLICE_RECORDS)
        if len(records) == _SLICE_RECORDS and (cutoff is None or records[-1].seq < cutoff):
            cutoff = records[-1].seq  # this channel has more: go no further than it reached
        collected += records
    sub.announce = True  # from now on the reader has state, so any later loss is announced
    if len(targets) > 1:
        collected.sort(key=_by_seq)
    size = sum(map(len, frames))
    last = position
    for record in collected:
        if (cutoff is not None and record.seq > cutoff) or size >= budget:
            cutoff = last
            break
        last = record.seq
        if not sub.wants(record.event):
            continue
        key = record.key
        if key is not None and record.channel in sub.compact:
            channel = hub.channel_or_none(record.channel)
            if channel is not None and channel.snapshot.get(key) is not record:
                continue  # a later state of the same bar supersedes it
        frame = record.single_frame if sub.single else record.frame
        frames.append(frame)
        size += len(frame)
    sub.position = last
    if cutoff is None:
        sub.catching_up = False  # caught up: the fan-out pushes from the next event on
    if frames:
        sub.push_many(frames, size, from_history=True)


def _handle_loss(target: Channel, sub: Subscription, position: int, frame_id: str) -> list[bytes]:
    """Frames announcing (and repairing) events of ``target`` the reader can no longer get."""
    key = target.name
    reason = sub.resets.pop(key, None)
    evicted = target.evicted_upto
    if reason is None:
        if evicted <= max(position, sub.seen_evicted.get(key, 0)):
            return []
        reason = "history-exceeded"
    sub.seen_evicted[key] = evicted
    sub.compact.add(key)
    frames = [_reset_frame(key, reason, frame_id, sub.single)] if sub.announce else []
    lost_states = sorted((r for r in target.snapshot.values() if r.seq <= evicted), key=_by_seq)
    frames += [_reframe(r, frame_id, sub.single) for r in lost_states if sub.wants(r.event)]
    return frames


def _reframe(record: Record, frame_id: str, single: bool) -> bytes:
    """A record's frame carrying another id (see the module docstring for why)."""
    frame = record.single_frame if single else record.frame
    return f"id: {frame_id}".encode() + frame[frame.index(b"\n") :]


def _reset_frame(channel_key: str, reason: str, frame_id: str, single: bool) -> bytes:
    name = channel_key.partition("#")[0]
    payload = {"reason": reason}
    data = payload if single else {"channel": name, "data": payload, "time": round(time.time(), 3)}
    return f"id: {frame_id}\nevent: reset\ndata: {json.dumps(data)}\n\n".encode()
