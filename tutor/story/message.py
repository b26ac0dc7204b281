"""The message as it grows: its headers at each hop, and which host added which header.

Read only from the trace: each DATA payload a client sent is the message as it left that host,
and each Delivery lists the headers the receiving host prepended (Return-Path, Received, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.trace import Delivery, Event, Side, SmtpLine


@dataclass(frozen=True)
class HeaderLine:
    """One header and the hop that added it ('' for the headers the author's program wrote)."""

    name: str
    value: str
    added_by: str


@dataclass(frozen=True)
class MessageState:
    hops: tuple[str, ...]  # where the message has been, in order
    headers: tuple[HeaderLine, ...]  # top to bottom, as the final reader sees them
    body_preview: str
    size: int


def _unstuff(payload: bytes) -> bytes:
    lines = payload.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    if lines and lines[-1] == b".":
        lines = lines[:-1]
    return b"\r\n".join(line[1:] if line.startswith(b"..") else line for line in lines) + b"\r\n"


def _headers_of(raw: bytes) -> list[tuple[str, str]]:
    # email is imported on first use: the first frame does not need it.
    from email.parser import BytesHeaderParser
    from email.policy import SMTP

    parsed = BytesHeaderParser(policy=SMTP).parsebytes(raw)
    return [(name, " ".join(str(value).split())) for name, value in parsed.items()]


def _parse_added(header_text: str) -> tuple[str, str]:
    name, _, value = header_text.partition(":")
    return name.strip(), " ".join(value.split())


def shaping_events(events: Sequence[Event]) -> tuple[Event, ...]:
    """The events ``message_state`` reads: equal tuples give the same state, so a view can
    skip re-reading a multi-megabyte message on every step (a restarted run's events are new
    objects with a new Message-ID, so they never compare equal to the old run's)."""
    return tuple(
        e
        for e in events
        if isinstance(e, Delivery)
        or (isinstance(e, SmtpLine) and e.is_payload and e.side is not Side.SERVER)
    )


def message_state(events: Sequence[Event]) -> MessageState | None:
    """The newest view of the message after ``events``; None before any DATA was sent."""
    headers: list[HeaderLine] = []
    hops: list[str] = []
    body = ""
    size = 0
    for event in events:
        if isinstance(event, SmtpLine) and event.is_payload and event.side is not Side.SERVER:
            raw = _unstuff(event.data)
            size = len(raw)
            known = {(h.name, h.value): h.added_by for h in headers}
            hop = event.sender
            fresh = []
            for name, value in _headers_of(raw):
                added_by = known.get((name, value), hop if hops else "")
                fresh.append(HeaderLine(name, value, added_by))
            headers = fresh
            if not hops:
                hops.append(event.sender)
            hops.append(event.receiver)
            _, _, body_part = raw.partition(b"\r\n\r\n")
            body = body_part.decode("utf-8", "replace").replace("\r\n", "\n")
        elif isinstance(event, Delivery):
            added = [_parse_added(text) for text in event.headers_added]
            new = [HeaderLine(name, value, event.host) for name, value in added]
            seen = {(h.name, h.value) for h in headers}
            headers = [h for h in new if (h.name, h.value) not in seen] + headers
            hops.append(f"{event.recipient} mailbox")
    if not hops:
        return None
    return MessageState(tuple(hops), tuple(headers), body[:400], size)
