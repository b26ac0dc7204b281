"""Find the other records of one step: the peer's copy of an SMTP line or DNS message, log lines.

Both ends of a connection record what they see. The client's ``EHLO`` and the server's
``EHLO`` are the same bytes seen from two sides; the learner selects one and sees the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.trace import DnsAnswer, DnsQuery, Event, LogLine, Side, SmtpLine, TlsHandshake


@dataclass(frozen=True)
class LinkedView:
    """The selected event and the records of the same step on the other side and in the log."""

    selected: Event
    peer: Event | None = None
    log_lines: tuple[LogLine, ...] = field(default_factory=tuple)


def _same_step(a: Event, b: Event) -> bool:
    if a.side is b.side or Side.WORLD in (a.side, b.side):
        return False
    if isinstance(a, SmtpLine) and isinstance(b, SmtpLine):
        return (
            a.data == b.data
            and a.direction is b.direction
            and a.sender == b.sender
            and a.receiver == b.receiver
        )
    if isinstance(a, DnsQuery) and isinstance(b, DnsQuery):
        return (a.qname, a.qtype, a.query_id) == (b.qname, b.qtype, b.query_id)
    if isinstance(a, DnsAnswer) and isinstance(b, DnsAnswer):
        return (a.qname, a.qtype, a.query_id) == (b.qname, b.qtype, b.query_id)
    if isinstance(a, TlsHandshake) and isinstance(b, TlsHandshake):
        return a.session == b.session or (a.subject, a.version) == (b.subject, b.version)
    return False


def find_peer(events: Sequence[Event], index: int, window: int = 40) -> Event | None:
    """The nearest record of the same bytes made by the other end (same session pair)."""
    selected = events[index]
    lo, hi = max(0, index - window), min(len(events), index + window + 1)
    candidates = [i for i in range(lo, hi) if i != index and _same_step(selected, events[i])]
    if not candidates:
        return None
    # Prefer the same session id, then the closest record in time order.
    candidates.sort(key=lambda i: (events[i].session != selected.session, abs(i - index)))
    return events[candidates[0]]


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
