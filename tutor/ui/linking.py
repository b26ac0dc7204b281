"""Find the other records of one step: the peer's copy of an SMTP line or DNS message, log lines.

Both ends of a connection record what they see. The client's ``EHLO`` and the server's
``EHLO`` are the same bytes seen from two sides; the learner selects one and sees the other.
Which record is whose twin is ``tutor.story.pair_sides``, the one pairing every view uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.story import pair_sides
from tutor.trace import Event, LogLine, SmtpLine


@dataclass(frozen=True)
class LinkedView:
    """The selected event and the records of the same step on the other side and in the log."""

    selected: Event
    peer: Event | None = None
    log_lines: tuple[LogLine, ...] = field(default_factory=tuple)


def find_peer(events: Sequence[Event], index: int) -> Event | None:
    """The other end's record of the selected step, as the trace pairs them (tutor.story)."""
    return pair_sides(events).twin(index)


def log_lines_near(events: Sequence[Event], index: int, window: int = 6) -> tuple[LogLine, ...]:
    """Mail-log lines written right after the selected step by a host involved in it."""
    selected = events[index]
    hosts = {selected.host}
    if isinstance(selected, SmtpLine):
        hosts |= {selected.sender, selected.receiver}
    found = []
    for event in events[index + 1 : index + 1 + window]:
        if isinstance(event, LogLine) and event.host in hosts:
            found.append(event)
    return tuple(found)


def linked_view(events: Sequence[Event], index: int) -> LinkedView:
    return LinkedView(
        selected=events[index],
        peer=find_peer(events, index),
        log_lines=log_lines_near(events, index),
    )
