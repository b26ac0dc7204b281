"""Bounce: the Status: and Action: a DSN carries, and the envelope sender it is sent with."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, Question, RfcRef
from tutor.learn.templates._base import SUBJECTS, Option, Template, duration, single
from tutor.trace import Delivery, Event, QueueChange, RecipientResult, Stage

# RFC 3463: the section that lists the detail codes of each subject.
_SUBJECT_SECTION = {
    "1": "3.2",
    "2": "3.3",
    "3": "3.4",
    "4": "3.5",
    "5": "3.6",
    "6": "3.7",
    "7": "3.8",
}
_CLASS = {"2": "success", "4": "a persistent transient failure", "5": "a permanent failure"}
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_REVERSE_PATH = re.compile(r"^MAIL FROM:\s*(<[^<>]*>)", re.IGNORECASE)


def _ordered(dsns: Sequence[story.Dsn]) -> list[story.Dsn]:
    """Non-delivery reports first: they end a message's story."""
    return sorted(dsns, key=lambda d: d.action != "failed")


def _result_of(events: Sequence[Event], queue_id: str) -> RecipientResult | None:
    return next(
        (e for e in events if isinstance(e, RecipientResult) and e.queue_id == queue_id), None
    )


def _reverse_path(events: Sequence[Event], queue_id: str) -> str:
    """The reverse-path the message with ``queue_id`` was sent on with ('' if not yet sent)."""
    result = _result_of(events, queue_id)
    if result is None:
        return ""
    if not result.session:  # delivered locally (virtual(8)): its Return-Path says it
        return _local_return_path(events, result)
    for exchange in story.exchanges(events, result.session):
        if exchange.verb == "MAIL":
            match = _REVERSE_PATH.match(exchange.command)
            return match.group(1) if match else ""
    return ""


def _local_return_path(events: Sequence[Event], result: RecipientResult) -> str:
    """The reverse-path a local delivery wrote as Return-Path ('' if none is seen)."""
    delivery = None
    for event in events:
        if event is result:
            break
        if isinstance(event, Delivery) and event.recipient == result.recipient:
            delivery = event
    for header in delivery.headers_added if delivery is not None else ():
        if header.lower().startswith("return-path:"):
            return header.split(":", 1)[1].strip()
    return ""


def _dsn_status(events: Sequence[Event], qid: str) -> Question | None:
    """Which Status: does the DSN carry?"""
    for dsn in _ordered(story.dsns(events)):
        for recipient in dsn.recipients:
            status = dsn.value("Status", recipient) or ""
            match = _STATUS.match(status)
            if match is None:
                continue
            klass, subject, _ = match.groups()
            diagnostic = dsn.value("Diagnostic-Code", recipient) or ""
            options = [Option(status, True)]
            if diagnostic[:3].isdigit():
                options.append(
                    Option(
                        diagnostic[:3],
                        misconception="that Status: holds the SMTP reply code: it holds the "
                        "enhanced status code class.subject.detail; the reply itself goes into "
                        "Diagnostic-Code",
                    )
                )
            flipped = {"5": "4", "4": "5"}.get(klass)
            if flipped:
                options.append(
                    Option(
                        f"{flipped}{status[1:]}",
                        misconception="that the failure was temporary: a status starting with "
                        "4 is a transient failure, and this one is permanent"
                        if klass == "5"
                        else "that a DSN that gives up must carry a permanent status: it keeps "
                        "the class of the failure, 4 (transient), even when the queue stops "
                        "trying"
                        if dsn.action == "failed"
                        else "that the failure was permanent: this status starts with 4, a "
                        "transient failure that kept the message in the queue",
                    )
                )
            other = "7" if subject == "1" else "1"
            options.append(
                Option(
                    f"{klass}.{other}.1",
                    misconception=f"that it was about {SUBJECTS[other]}: the middle number of "
                    f"{status} says it was about {SUBJECTS.get(subject, 'something else')}",
                )
            )
            if klass != "2":
                options.append(
                    Option(
                        "2.0.0",
                        misconception=f"that a DSN reports success: 2.x.x would mean delivered, "
                        f"and this one says {dsn.action}",
                    )
                )
            answer = single(options[:4])
            if answer is None:
                continue
            section = _SUBJECT_SECTION.get(subject)
            return Question(
                qid,
                f"The queue generated a delivery status notification (DSN, Action: {dsn.action}) "
                f"about message {dsn.queue_id} and its recipient {recipient}. Which Status: "
                f"does it carry for {recipient}?",
                answer,
                Explanation(
                    "The Status: field of a DSN carries an enhanced status code, "
                    "class.subject.detail: the class says 2 success, 4 a persistent transient "
                    "failure, 5 a permanent failure; the subject says what it was about. "
                    f"{status} is {_CLASS[klass]} about {SUBJECTS.get(subject, 'another subject')}"
                    + (f"; what caused it, in Diagnostic-Code: {diagnostic}" if diagnostic else "")
                    + ".",
                    (RfcRef(3464, "2.3.4"), RfcRef(3463, "2"))
                    + ((RfcRef(3463, section),) if section else ())
                    # A 4.x.x status in a DSN that gives up: RFC 3464's note on Action vs Status.
                    + ((RfcRef(3464, "2.3.3"),) if klass == "4" and dsn.action == "failed" else ()),
                ),
            )
    return None


_ACTIONS = ("failed", "delayed", "delivered", "relayed")


def _action_mix_up(picked: str, right: str) -> str:
    if picked == "failed":
        return (
            "that the queue has given up: 'delayed' says it is still trying; a 'failed' DSN "
            "comes only when it gives up"
        )
    if picked == "delayed":
        return "that the queue is still trying: after a 'failed' DSN no more attempts come"
    if picked == "delivered":
        return f"that the message reached the mailbox: this DSN says {right}"
    return (
        "that the message was handed on to a system that sends no DSNs: that is what "
        "'relayed' says, and it did not happen here"
    )


def _arrival(events: Sequence[Event], queue_id: str) -> float | None:
    return next(
        (
            e.time
            for e in events
            if isinstance(e, QueueChange) and e.queue_id == queue_id and str(e.state) == "incoming"
        ),
        None,
    )


def _dsn_action(events: Sequence[Event], qid: str) -> Question | None:
    """Which Action: does the (first) DSN carry?"""
    for dsn in story.dsns(events):
        recipient = next(iter(dsn.recipients), "")
        action = (dsn.value("Action", recipient) or dsn.action).lower()
        if not recipient or action not in _ACTIONS:
            continue
        options = [
            Option(a, a == action, "" if a == action else _action_mix_up(a, action))
            for a in _ACTIONS
        ]
        answer = single(options, ordered=True)
        if answer is None:
            continue
        bounce_time = next(e.time for e in events if e.seq == dsn.seq)
        arrival = _arrival(events, dsn.queue_id)
        when = (
            f", {duration(bounce_time - arrival)} after the message entered the queue"
            if arrival is not None and bounce_time - arrival >= 60
            else ""
        )
        later = (
            " The queue went on trying after it."
            if action == "delayed"
            else " No more attempts came for this recipient after it."
        )
        return Question(
            qid,
            f"The queue generated a delivery status notification (DSN) about message "
            f"{dsn.queue_id} and its recipient {recipient}{when}. Which Action: does it carry "
            f"for {recipient}?",
            answer,
            Explanation(
                "A DSN's Action: field says what the reporting MTA did: failed (it gave up; no "
                "more notifications follow), delayed (not delivered yet, still trying), "
                "delivered, relayed (passed on to a system that sends no DSNs) or expanded. "
                f"This one says {action}.{later}",
                (RfcRef(3464, "2.3.3"),),
            ),
        )
    return None


def _dsn_sender(events: Sequence[Event], qid: str) -> Question | None:
    """With which MAIL FROM was the DSN sent back to the sender?"""
    for dsn in story.dsns(events):
        path = _reverse_path(events, dsn.dsn_queue_id)
        result = _result_of(events, dsn.dsn_queue_id)
        # The DSN goes to the original message's reverse-path: its own recipient says who.
        original = result.recipient if result is not None else ""
        if path != "<>" or not original or result is None:
            continue
        domain = original.rpartition("@")[2]
        options = [
            Option("MAIL FROM:<>", True, why="the null reverse-path"),
            Option(
                f"MAIL FROM:<{original}>",
                misconception="that a DSN is sent from the author's own address: it goes with "
                "the null reverse-path, so that a DSN that cannot be delivered never causes "
                "another one",
            ),
            Option(
                f"MAIL FROM:<postmaster@{domain}>",
                misconception="that DSNs come from the postmaster: the envelope of a DSN is the "
                "null reverse-path (a postmaster may get to read DSNs that fail)",
            ),
            Option(
                f"MAIL FROM:<MAILER-DAEMON@{result.host}>",
                misconception="that the name in the DSN's From: header is its envelope sender: "
                "the header may say MAILER-DAEMON, the envelope says <>",
            ),
        ]
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"{result.host} sent the DSN about message {dsn.queue_id} back to {original}. "
            "With which envelope sender (the MAIL FROM of its transaction, the Return-Path "
            "it was delivered with) did it go?",
            answer,
            Explanation(
                "Non-delivery reports and other DSNs go to the reverse-path of the message they "
                "report on, and are themselves sent with the null reverse-path, MAIL FROM:<>. "
                "An MTA must never send an error message in answer to an error message, so a "
                "DSN that cannot be delivered ends there instead of starting a loop.",
                (RfcRef(5321, "4.5.5"), RfcRef(5321, "4.5.4")),
            ),
        )
    return None


TEMPLATES = (
    Template("dsn-status", Stage.BOUNCE, "the Status: a DSN carries", _dsn_status),
    Template("dsn-action", Stage.BOUNCE, "the Action: a DSN carries", _dsn_action),
    Template("dsn-null-sender", Stage.BOUNCE, "the envelope sender of a DSN", _dsn_sender),
)
