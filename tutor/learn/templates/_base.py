"""What every template shares: the Template record, lettered choices, hops, reply lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tutor import story
from tutor.learn.questions import Choice, MultipleChoice, Question, SingleChoice
from tutor.trace import Event, Stage

Build = Callable[[Sequence[Event], str], Question | None]


@dataclass(frozen=True)
class Template:
    """One kind of generated question: what it asks about, and how it is built from a run."""

    id: str
    stage: Stage
    title: str  # what it asks, in a teacher's words
    build: Build


# --------------------------------------------------------------------------- choices


@dataclass(frozen=True)
class Option:
    """A choice before it gets its key: the text, and what picking it says about the learner."""

    text: str
    correct: bool = False
    misconception: str = ""  # a distractor's: the wrong belief that leads to picking it
    why: str = ""  # a right choice's: why it is right


def _lettered(options: Iterable[Option], ordered: bool) -> tuple[Choice, ...]:
    unique: dict[str, Option] = {}
    for option in options:
        # The first option with a text wins, so a right answer is never lost to a distractor
        # that happens to read the same.
        unique.setdefault(option.text, option)
    kept = list(unique.values())
    if not ordered:
        # Sorted by text, so where the right answer sits says nothing about which one it is.
        kept.sort(key=lambda o: o.text.casefold())
    return tuple(
        Choice(chr(ord("a") + i), o.text, o.correct, o.misconception, o.why)
        for i, o in enumerate(kept)
    )


def single(options: Iterable[Option], *, ordered: bool = False) -> SingleChoice | None:
    """A single-choice answer, or None when the options leave nothing to choose between."""
    choices = _lettered(options, ordered)
    if len(choices) < 2 or sum(c.correct for c in choices) != 1:
        return None
    return SingleChoice(choices)


def multiple(options: Iterable[Option], *, ordered: bool = False) -> MultipleChoice | None:
    """A multiple-choice answer, or None without a right choice and a distractor."""
    choices = _lettered(options, ordered)
    if not any(c.correct for c in choices) or all(c.correct for c in choices):
        return None
    return MultipleChoice(choices)


def plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def duration(seconds: float) -> str:
    """A span of world time in the unit a person would use: 5 minutes, 4 hours, 5 days."""
    minutes = seconds / 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return plural(round(minutes), "minute")
    if minutes < 48 * 60:
        return f"{minutes / 60:.3g} hours"
    return f"{minutes / 1440:.3g} days"


# --------------------------------------------------------------------------- hops


def delivery_hops(events: Sequence[Event]) -> tuple[str, ...]:
    """Sessions that carried the message towards its recipients, first hop first.

    A session to a receiving host (an MX or a gateway, by the role the run announced) whose
    envelope is not a DSN's null reverse-path: the hops a quiz calls "the MX hop", as opposed
    to the submission hop and a bounce going back to the sender's own MX.
    """
    receiving = story.receiving_hosts(events)
    hops: dict[str, bool] = {}
    for exchange in story.exchanges(events):
        if exchange.answered_by not in receiving and exchange.session not in hops:
            continue
        hops.setdefault(exchange.session, True)
        if exchange.verb == "MAIL" and "<>" in exchange.command.replace(" ", ""):
            hops[exchange.session] = False
    return tuple(session for session, carries in hops.items() if carries)


def hop_first(sessions: Iterable[str], events: Sequence[Event]) -> list[str]:
    """``sessions`` with the delivery hops first (in hop order), the others after."""
    hops = delivery_hops(events)
    given = list(dict.fromkeys(sessions))
    return [s for s in hops if s in given] + [s for s in given if s not in hops]


# --------------------------------------------------------------------------- replies

_ENHANCED = re.compile(r"^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_ENHANCED_BARE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_ADDRESS = re.compile(r"<[^<>@\s]+@[^<>\s]+>")

# RFC 3463 §2: what the middle number of an enhanced status code is about.
SUBJECTS = {
    "0": "other or undefined",
    "1": "the address",
    "2": "the mailbox",
    "3": "the mail system",
    "4": "the network or routing",
    "5": "the mail delivery protocol",
    "6": "the message content",
    "7": "security or policy",
}


def enhanced_code(text: str) -> str:
    """The enhanced status code of a reply line ("5.1.1"), or of a bare one; '' if none."""
    match = _ENHANCED.match(text) or _ENHANCED_BARE.match(text)
    return ".".join(match.groups()) if match else ""


def reply_class(text: str) -> str:
    """The first digit of a reply line: 2 accepted, 3 go on, 4 not now, 5 never."""
    return text[:1] if text[:3].isdigit() else ""


def for_address(line: str, address: str) -> str:
    """A reply line as it would read for ``address`` (other recipients' addresses replaced)."""
    return _ADDRESS.sub(f"<{address}>", line) if address else line


def reply_mix_up(real: str, other: str, host: str) -> str:
    """The misconception behind picking reply line ``other`` when ``host`` answered ``real``."""
    have, got = reply_class(real), reply_class(other)
    if got != have:
        return {
            ("2", "4"): f"that {host} accepted it at once: a 4xx reply means 'not now', and the "
            "sender keeps the message to try again later",
            ("2", "5"): f"that {host} accepted it: a 5xx reply refused it for good",
            ("4", "2"): "that it was put off until later: a 2xx reply accepted it at once",
            ("4", "5"): "that the refusal was only for now: a 5xx reply is permanent, so the "
            "sender gives up instead of retrying",
            ("5", "2"): "that it was refused: a 2xx reply accepted it",
            ("5", "4"): "that the refusal was for good: a 4xx reply is temporary, so the sender "
            "keeps the message and tries again later",
        }.get((got, have), f"that {host} answered with a {got}xx reply: it answered {have}xx")
    real_code, other_code = enhanced_code(real), enhanced_code(other)
    if real_code and other_code and real_code.split(".")[1] != other_code.split(".")[1]:
        return (
            f"that the reason was {SUBJECTS.get(other_code.split('.')[1], 'another one')}: the "
            f"enhanced code {real_code} says it was about "
            f"{SUBJECTS.get(real_code.split('.')[1], 'something else')} (RFC 3463 §2)"
        )
    return f"that this was the reply: {host} answered `{real}`"
