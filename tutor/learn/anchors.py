"""Anchors: where in a real run a lesson speaks — "when the client sends STARTTLS", never "step 12".

A lesson's narration and questions are pinned to what happens, so the same lesson reads the
same with any what-if that still produces the anchored event. An anchor is a small filter
over one event (what it is, who acts, which command or reply, for which recipient) plus which
occurrence (``nth``). ``AnchorMatcher`` is fed the run's events in order, as they arrive, and
says which anchors an event fulfils; it keeps the little it must remember (the command each
session last sent, so "the MX answers RCPT for bob" is known when the reply comes).

Only the side that acts is matched: a server's copy of a line its client already recorded is
the same step seen again, and would make every anchor fire twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tutor.story import is_server_copy
from tutor.trace import (
    Direction,
    Event,
    SmtpLine,
)


class AnchorEvent(StrEnum):
    """The event kinds an anchor may name (the trace's event types a lesson cares about)."""

    SMTP_LINE = "smtp_line"
    DNS_QUERY = "dns_query"
    DNS_ANSWER = "dns_answer"
    TCP_CONNECT = "tcp_connect"
    TLS_HANDSHAKE = "tls_handshake"
    AUTH_RESULT = "auth_result"
    POLICY_VERDICT = "policy_verdict"
    QUEUE_CHANGE = "queue_change"
    RECIPIENT_RESULT = "recipient_result"
    DELIVERY = "delivery"
    BOUNCE = "bounce"
    NOTE = "note"
    LOG_LINE = "log_line"
    SCENARIO_STARTED = "scenario_started"
    SCENARIO_FINISHED = "scenario_finished"


# The keys an anchor table may hold, in the order ``describe`` reads them.
ANCHOR_KEYS = (
    "event",
    "sends",
    "answers",
    "reply",
    "rcpt",
    "host",
    "qtype",
    "state",
    "check",
    "nth",
)


@dataclass(frozen=True)
class Anchor:
    """One place in a run. Empty fields match anything; ``nth`` picks the occurrence."""

    event: AnchorEvent | None = None
    sends: str = ""  # the client sends this command verb ("STARTTLS", "RCPT"), or "payload"
    answers: str = ""  # a server's (final) reply line to this command verb
    reply: str = ""  # the reply code or its start: "4" (any 4xx), "25", "250"
    rcpt: str = ""  # the recipient the command or reply is about (RCPT TO, results, delivery)
    host: str = ""  # the host that acts: sends the line, asks DNS, publishes the event
    qtype: str = ""  # DNS question type: "MX", "A", "TXT"
    state: str = ""  # queue state ("deferred") or policy result ("fail")
    check: str = ""  # policy check: "spf", "dkim", "dmarc", "dnsbl", "greylist"
    nth: int = 1

    def describe(self) -> str:
        """The anchor in words a teacher checks a lesson against ("when ... ")."""
        parts: list[str] = []
        if self.sends:
            what = "the message content" if self.sends.lower() == "payload" else self.sends
            parts.append(f"{self.host or 'the client'} sends {what}")
        elif self.answers:
            parts.append(f"the server answers {self.answers}")
        elif self.reply:
            parts.append(f"a {self.reply}{'x' * (3 - len(self.reply))} reply comes back")
        elif self.event is not None:
            parts.append(f"a {self.event.replace('_', ' ')} event")
            if self.host:
                parts.append(f"at {self.host}")
        if self.reply and (self.sends or self.answers):
            parts.append(f"with {self.reply}")
        for name, label in (("rcpt", "for"), ("qtype", "of type"), ("check", "check")):
            value = getattr(self, name)
            if value:
                parts.append(f"{label} {value}")
        if self.state:
            parts.append(f"({self.state})")
        ordinal = "" if self.nth == 1 else f" (occurrence {self.nth})"
        return "when " + " ".join(parts) + ordinal


@dataclass
class _SessionMemory:
    command: str = ""  # the verb the next reply answers
    rcpt: str = ""  # the address of the last RCPT TO


@dataclass
class AnchorMatcher:
    """Feeds on a run's events in order; says which anchors each event fulfils (once each)."""

    anchors: Sequence[Anchor]
    _counts: list[int] = field(init=False)
    _sessions: dict[str, _SessionMemory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._counts = [0] * len(self.anchors)

    def feed(self, event: Event) -> list[int]:
        """Indexes of the anchors this event fulfils (at their ``nth`` occurrence)."""
        # A server's copy of a step its client recorded too would fire every anchor twice.
        # Lessons run the world's own sessions, where every server copy has its client twin;
        # a learner's own nc session (only a server copy) is what labs read, never anchors.
        if is_server_copy(event):
            return []
        facts = self._facts(event)
        fired = []
        for index, anchor in enumerate(self.anchors):
            if self._counts[index] >= anchor.nth or not _matches(anchor, event, facts):
                continue
            self._counts[index] += 1
            if self._counts[index] == anchor.nth:
                fired.append(index)
        return fired

    def _facts(self, event: Event) -> _Facts:
        if not isinstance(event, SmtpLine):
            return _Facts(rcpt=_recipient_of(event))
        memory = self._sessions.setdefault(event.session, _SessionMemory())
        if event.direction is Direction.CLIENT_TO_SERVER:
            verb = "PAYLOAD" if event.is_payload else event.text.split(" ", 1)[0].upper()
            memory.command = verb
            if verb == "RCPT":
                memory.rcpt = event.text.partition("<")[2].partition(">")[0]
            return _Facts(sends=verb, rcpt=memory.rcpt if verb == "RCPT" else "")
        text = event.text
        final = len(text) < 4 or text[3] != "-"
        return _Facts(
            answers=memory.command if final else "",
            reply=text[:3] if final else "",
            rcpt=memory.rcpt if memory.command == "RCPT" else "",
        )


def matches_in(anchors: Sequence[Anchor], events: Iterable[Event]) -> list[Event | None]:
    """For each anchor, the event of a whole run that fulfils it (None where none does)."""
    matcher = AnchorMatcher(anchors)
    found: list[Event | None] = [None] * len(anchors)
    for event in events:
        for index in matcher.feed(event):
            found[index] = event
    return found


@dataclass(frozen=True)
class _Facts:
    sends: str = ""
    answers: str = ""
    reply: str = ""
    rcpt: str = ""


def _recipient_of(event: Event) -> str:
    return str(getattr(event, "recipient", "") or "")


def _matches(anchor: Anchor, event: Event, facts: _Facts) -> bool:
    if anchor.event is not None and event.type != anchor.event:
        return False
    if anchor.sends and facts.sends != anchor.sends.upper():
        return False
    if anchor.answers and facts.answers != anchor.answers.upper():
        return False
    if anchor.reply and not (facts.reply or _reply_of(event)).startswith(anchor.reply):
        return False
    if anchor.rcpt and facts.rcpt.lower() != anchor.rcpt.lower():
        return False
    if anchor.host and not _acts(event, anchor.host):
        return False
    if anchor.qtype and str(getattr(event, "qtype", "")).upper() != anchor.qtype.upper():
        return False
    if anchor.state and anchor.state not in (
        str(getattr(event, "state", "")),
        str(getattr(event, "result", "")),
    ):
        return False
    return not (anchor.check and str(getattr(event, "check", "")) != anchor.check)


def _reply_of(event: Event) -> str:
    """The reply code an event carries, for ``reply`` on non-line events (a result, a DSN)."""
    reply = str(getattr(event, "reply", "") or "")
    return reply[:3] if reply[:3].isdigit() else ""


def _acts(event: Event, host: str) -> bool:
    """Whether ``host`` (a full name, or its first label) is who acts in the event."""
    actor = event.sender if isinstance(event, SmtpLine) else event.host
    return actor == host or actor.split(".", 1)[0] == host


__all__ = ["ANCHOR_KEYS", "Anchor", "AnchorEvent", "AnchorMatcher", "matches_in"]
