"""The envelope: what the MX answered to a RCPT TO, and how many recipients it accepted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, NumberAnswer, Question, RfcRef, TypeAnswer
from tutor.learn.templates._base import (
    Option,
    Template,
    delivery_hops,
    enhanced_code,
    for_address,
    hop_first,
    plural,
    reply_class,
    reply_mix_up,
    single,
)
from tutor.trace import Event, Stage

_PATH = re.compile(r"<([^<>]*)>")


def _recipient(command: str) -> str:
    match = _PATH.search(command)
    return match.group(1) if match else ""


def _asked_rcpt(events: Sequence[Event]) -> story.Exchange | None:
    """The RCPT to ask about: on the hop to the MX if there is one, a refused one if any.

    While the MX has not answered any RCPT yet, there is nothing to ask (rather than a
    question about the submission hop that the lesson did not mean).
    """
    rcpts = [e for e in story.exchanges(events) if e.verb == "RCPT"]
    hops = delivery_hops(events)
    pool = [e for e in rcpts if e.session in hops] or rcpts
    answered = [e for e in pool if e.code is not None]
    refused = [e for e in answered if (e.code or 0) >= 300]
    return (refused or answered or [None])[0]


def _rcpt_reply(events: Sequence[Event], qid: str) -> Question | None:
    """What did the MX answer to RCPT TO:<x>? (the code, typed)"""
    exchange = _asked_rcpt(events)
    if exchange is None or exchange.code is None:
        return None
    code = str(exchange.code)
    detail = enhanced_code(exchange.reply[0])
    return Question(
        qid,
        f"{exchange.asked_by} sent `{exchange.command}` to {exchange.answered_by}. "
        "Which reply code came back?",
        TypeAnswer(accepted=(code, f"{code} {detail}") if detail else (code,), shown=code),
        Explanation(
            f"{exchange.answered_by} answered: {exchange.reply_text}. A 2xx reply to RCPT "
            "accepts that recipient; 4xx asks the sender to try again later, 5xx refuses "
            "it for good.",
            (RfcRef(5321, "4.1.1.3"), RfcRef(5321, "4.2.1")),
        ),
    )


def _submission_rcpt_reply(events: Sequence[Event], qid: str) -> Question | None:
    """What did the submission server answer to the author's own RCPT TO? (the code, typed)"""
    roles = story.host_roles(events)
    exchange = next(
        (
            e
            for e in story.exchanges(events)
            if e.verb == "RCPT"
            and e.code is not None
            and roles.get(e.asked_by) == story.Role.CLIENT
        ),
        None,
    )
    if exchange is None or exchange.code is None:
        return None
    code = str(exchange.code)
    detail = enhanced_code(exchange.reply[0])
    return Question(
        qid,
        f"{exchange.asked_by}, the author's mail program, sent `{exchange.command}` to "
        f"{exchange.answered_by}. Which reply code came back?",
        TypeAnswer(accepted=(code, f"{code} {detail}") if detail else (code,), shown=code),
        Explanation(
            f"{exchange.answered_by} answered: {exchange.reply_text}. A 2xx reply to RCPT "
            "accepts that recipient; 4xx asks the sender to try again later, 5xx refuses it for "
            "good. This is the author's own session with the submission server: what happens "
            "later, on the way to the recipient's MX, is the sending queue's business.",
            (RfcRef(5321, "4.1.1.3"), RfcRef(5321, "4.2.1")),
        ),
    )


def _plausible_rcpt_replies(recipient: str) -> tuple[str, ...]:
    """Reply lines a server could have given to RCPT for ``recipient`` (Postfix's wording)."""
    return (
        "250 2.1.5 Ok",
        f"550 5.1.1 <{recipient}>: Recipient address rejected: User unknown in virtual "
        "mailbox table",
        f"451 4.7.1 <{recipient}>: Recipient address rejected: Greylisted, please try again later",
        f"554 5.7.1 <{recipient}>: Relay access denied",
        f"452 4.2.2 <{recipient}>: Recipient address rejected: Mailbox is full",
    )


def _kind(line: str) -> tuple[str, str]:
    code = enhanced_code(line)
    return reply_class(line), code.split(".")[1] if code else ""


def _rcpt_reply_line(events: Sequence[Event], qid: str) -> Question | None:
    """What did the MX answer to RCPT TO:<x>? (the real reply line among plausible others)"""
    exchange = _asked_rcpt(events)
    if exchange is None or not exchange.reply:
        return None
    recipient, host = _recipient(exchange.command), exchange.answered_by
    real = " ".join(exchange.reply)
    seen = [
        for_address(" ".join(e.reply), recipient)
        for e in story.exchanges(events)
        if e.verb == "RCPT" and e.reply
    ]
    options = [Option(real, True, why=f"{host}'s very words")]
    kinds = {_kind(real)}
    for line in [*seen, *_plausible_rcpt_replies(recipient)]:
        if len(options) == 4 or line == real or _kind(line) in kinds or not reply_class(line):
            continue
        kinds.add(_kind(line))
        options.append(Option(line, misconception=reply_mix_up(real, line, host)))
    answer = single(options)
    if answer is None:
        return None
    return Question(
        qid,
        f"{exchange.asked_by} sent `{exchange.command}` to {host}. Which reply came back?",
        answer,
        Explanation(
            "The first digit of a reply says what happens next: 2 accepted, 4 not now (the "
            "sender keeps the message and tries again), 5 never (the sender gives up and tells "
            "the author). The enhanced code after it says what the reply is about: x.1 the "
            f"address, x.2 the mailbox, x.7 security or policy. {host} answered `{real}`.",
            (RfcRef(5321, "4.2.1"), RfcRef(3463, "2")),
        ),
    )


def _rcpt_count(events: Sequence[Event], qid: str) -> Question | None:
    """Of the recipients given in one session, how many did the server accept?"""
    by_session: dict[str, list[story.Exchange]] = {}
    complete: set[str] = set()  # sessions whose envelope is over: DATA, RSET or QUIT came next
    for exchange in story.exchanges(events):
        if exchange.verb == "RCPT" and exchange.code is not None:
            by_session.setdefault(exchange.session, []).append(exchange)
        elif exchange.verb in ("DATA", "RSET", "QUIT") and exchange.session in by_session:
            complete.add(exchange.session)
    for session in hop_first(by_session, events):
        rcpts = by_session[session]
        if len(rcpts) < 2 or session not in complete:
            continue
        accepted = sum(1 for e in rcpts if reply_class(e.reply[0]) == "2")
        client, server = rcpts[0].asked_by, rcpts[0].answered_by
        names = ", ".join(_recipient(e.command) for e in rcpts)
        each = "; ".join(f"{_recipient(e.command)}: {e.reply[0]}" for e in rcpts)
        return Question(
            qid,
            f"In one session {client} gave {server} {plural(len(rcpts), 'recipient')} with "
            f"RCPT TO ({names}). How many of them did {server} accept?",
            NumberAnswer(float(accepted), 0.0),
            Explanation(
                "Each RCPT TO gets its own reply, and the message is then sent once (one DATA) "
                "for the recipients that were accepted. A recipient refused with 4xx stays in "
                "the sender's queue for a later try; one refused with 5xx is reported back to "
                f"the author. Here: {each}.",
                (RfcRef(5321, "3.3"), RfcRef(5321, "4.5.4.1"), RfcRef(5321, "4.2.1")),
            ),
        )
    return None


TEMPLATES = (
    Template(
        "rcpt-reply", Stage.ENVELOPE, "the reply code to a RCPT TO, on the MX hop", _rcpt_reply
    ),
    Template(
        "submission-rcpt-reply",
        Stage.ENVELOPE,
        "the reply code the submission server gave the author's RCPT TO",
        _submission_rcpt_reply,
    ),
    Template(
        "rcpt-reply-line",
        Stage.ENVELOPE,
        "the reply to a RCPT TO, among other plausible replies",
        _rcpt_reply_line,
    ),
    Template(
        "rcpt-accepted-count",
        Stage.ENVELOPE,
        "how many of a session's recipients the server accepted",
        _rcpt_count,
    ),
)
