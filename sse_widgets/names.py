"""Names on the wire: which channel and event names the hub accepts, and why.

Pure Python. A name that could not travel intact (a CR, LF or NUL in an SSE field, a channel
name that is not one safe URL path segment) is refused with a message saying what is wrong,
never altered.
"""

from __future__ import annotations

import re

from .errors import InvalidRequest
from .protocol import validate_field

__all__ = [
    "CHANNEL_NAME_PATTERN",
    "RESERVED_EVENTS",
    "validate_channel_name",
    "validate_event_name",
]

#: Channel names: 1-128 characters from ``A-Z a-z 0-9 _ . : -``, not starting with ``.``,
#: ``:`` or ``-`` (so a name is always one safe URL path segment).
CHANNEL_NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}"
_CHANNEL_NAME = re.compile(CHANNEL_NAME_PATTERN + r"\Z")
#: Event names the hub itself sends on a stream; producers may not publish them.
RESERVED_EVENTS = frozenset({"reset", "close"})
_MAX_EVENT_NAME = 256


# Names already found valid: the same few names come with every event of a busy publisher,
# so the checks below run once per name, not once per event. Bounded, and never holds an
# invalid name.
_VALID_CACHE_SIZE = 4096
_valid_channels: set[str] = set()
_valid_events: set[str] = set()


def validate_channel_name(name: str) -> str:
    """Return ``name`` if it is a valid channel name, else raise InvalidRequest.

    >>> validate_channel_name("training.run-1")
    'training.run-1'
    """
    if type(name) is str and name in _valid_channels:
        return name
    if not isinstance(name, str) or _CHANNEL_NAME.match(name) is None:
        raise InvalidRequest(
            f"invalid channel name {name!r}: use 1-128 characters from A-Z a-z 0-9 _ . : - "
            "starting with a letter, digit or underscore"
        )
    if len(_valid_channels) < _VALID_CACHE_SIZE:
        _valid_channels.add(name)
    return name


def validate_event_name(name: str) -> str:
    """Return ``name`` if producers may publish events under it, else raise InvalidRequest."""
    if type(name) is str and name in _valid_events:
        return name
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"event name must be a non-empty string, not {name!r}")
    try:
        validate_field("event name", name)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if len(name) > _MAX_EVENT_NAME:
        raise InvalidRequest(
            f"event name is {len(name)} characters; the limit is {_MAX_EVENT_NAME}"
        )
    if name in RESERVED_EVENTS:
        raise InvalidRequest(f"event name {name!r} is reserved for the hub's own stream events")
    if len(_valid_events) < _VALID_CACHE_SIZE:
        _valid_events.add(name)
    return name
