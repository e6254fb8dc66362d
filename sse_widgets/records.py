"""What a channel keeps: published records in a bounded ring buffer, and a snapshot.

:class:`Record` is one published event with its frame encoded once; :class:`Channel` holds
the recent records of one channel (bounded by count and bytes), the latest record per state
key (the snapshot a late viewer starts from), and the channel's subscribers. Pure Python.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import HubConfig
    from .subscription import Subscription

__all__ = ["Channel", "PublishItem", "Record"]

_seq_of = attrgetter("seq")


@dataclass(frozen=True, slots=True)
class PublishItem:
    """One validated event ready to publish: name, payload as JSON text, conflation key."""

    event: str
    payload: str
    key: tuple[str, str] | None = None


class Record:
    """A published event: its position, names and encoded frame.

    Only the multiplexed frame is stored; the payload and the single-channel frame are slices
    of it, so a retained event costs its frame's bytes once (plus the single-channel frame
    once some single-channel reader asked for it).
    """

    __slots__ = (
        "_data_end",
        "_data_start",
        "_single_frame",
        "channel",
        "event",
        "frame",
        "key",
        "seq",
        "time",
    )

    def __init__(self, seq: int, cursor: str, channel: str, item: PublishItem, now: float):
        self.seq = seq
        self.channel = channel
        self.event = item.event
        self.key = item.key
        self.time = now
        # Channel names are plain ASCII from a safe set, so they need no JSON escaping.
        head = f'id: {cursor}\nevent: {item.event}\ndata: {{"channel": "{channel}", "data": '
        head_bytes = head.encode()
        payload = item.payload.encode()
        self._data_start = len(head_bytes)
        self._data_end = self._data_start + len(payload)
        self.frame = b"".join((head_bytes, payload, f', "time": {now:.3f}}}\n\n'.encode()))
        self._single_frame: bytes | None = None

    @property
    def cursor(self) -> str:
        """The event's id on the wire, ``<epoch>-<seq>``."""
        return self.frame[4 : self.frame.index(b"\n")].decode()

    @property
    def payload(self) -> str:
        """The event's data as JSON text."""
        return self.frame[self._data_start : self._data_end].decode()

    @property
    def single_frame(self) -> bytes:
        """The frame of the single-channel endpoint, whose ``data:`` is the payload itself."""
        frame = self._single_frame
        if frame is None:
            header = self.frame[: self.frame.index(b"\ndata: ") + 7]  # id, event, "data: "
            frame = header + self.frame[self._data_start : self._data_end] + b"\n\n"
            self._single_frame = frame
        return frame


class Channel:
    """A named channel: a ring buffer of recent records, a snapshot, and its subscribers."""

    def __init__(self, name: str, config: HubConfig, evicted_upto: int = 0) -> None:
        self.name = name
        self._config = config
        # The history is a list read from _start (a ring buffer that stays sorted by seq, so a
        # resume finds its place by bisection); the dead prefix is dropped in bulk.
        self._records: list[Record] = []
        self._start = 0
        self.history_bytes = 0
        #: Highest seq this channel dropped from its history (0: nothing dropped yet).
        self.evicted_upto = evicted_upto
        #: Latest record per state key, oldest first (a dict keeps insertion order).
        self.snapshot: dict[tuple[str, str], Record] = {}
        self.subscribers: dict[Subscription, None] = {}  # ordered set: O(1) removal
        self.last: Record | None = None

    @property
    def history(self) -> list[Record]:
        """The retained records, oldest first (a copy)."""
        return self._records[self._start :]

    def __len__(self) -> int:
        return len(self._records) - self._start

    def append(self, records: list[Record]) -> None:
        """Add records to the history and snapshot, evicting what the limits push out."""
        config = self._config
        history, snapshot = self._records, self.snapshot
        for record in records:
            history.append(record)
            self.history_bytes += len(record.frame)
            key = record.key
            if key is not None:
                snapshot.pop(key, None)  # re-insert so the dict stays ordered by recency
                snapshot[key] = record
                if len(snapshot) > config.snapshot_size:
                    del snapshot[next(iter(snapshot))]
        start = self._start
        while len(history) - start > config.history_size or (
            self.history_bytes > config.history_bytes and len(history) - start > 1
        ):
            dropped = history[start]
            start += 1
            self.history_bytes -= len(dropped.frame)
            self.evicted_upto = dropped.seq
        # Drop the dead prefix once it is a sixteenth of the list (or 64 records, whichever is
        # more): evicted events must not stay alive long, and the memmove stays rare.
        if start >= 64 and start * 16 >= len(history):
            del history[:start]
            start = 0
        self._start = start
        self.last = records[-1]

    def after(self, seq: int, limit: int) -> list[Record]:
        """Up to ``limit`` retained records with a seq above ``seq``, oldest first."""
        records = self._records
        index = bisect_right(records, seq, lo=self._start, key=_seq_of)
        return records[index : index + limit]
