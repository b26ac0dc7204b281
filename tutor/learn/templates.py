"""Generated questions: a template plus a fold of the run just watched gives a concrete question.

The answer and the distractors come from this run's trace (through tutor.story), so the same
template asks a different question of another scenario or what-if. A template that finds
nothing to ask about on a run returns None: the question is skipped, never asked wrong.
Adding a template is adding a function here and a line to TEMPLATES.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tutor import story
from tutor.learn.questions import (
    Choice,
    Explanation,
    OrderItem,
    PutInOrder,
    Question,
    RfcRef,
    SingleChoice,
    TypeAnswer,
)
from tutor.trace import Event, Stage

Build = Callable[[Sequence[Event], str], Question | None]


@dataclass(frozen=True)
class Template:
    """One kind of generated question: what it asks about, and how it is built from a run."""

    id: str
    stage: Stage
    title: str  # what it asks, in a teacher's words
    build: Build


def generate(
    template_id: str,
    events: Sequence[Event],
    question_id: str,
    explanation: Explanation | None = None,
    hints: tuple[str, ...] = (),
) -> Question | None:
    """The template's question on this run, with the lesson's own explanation if it gives one."""
    question = TEMPLATES[template_id].build(events, question_id)
    if question is None:
        return None
    if explanation is not None and explanation.text:
        question = Question(
            question.id,
            question.prompt,
            question.answer,
            Explanation(
                f"{question.explanation.text}\n\n{explanation.text}",
                question.explanation.refs + explanation.refs,
            ),
            hints or question.hints,
        )
    elif hints:
        question = Question(
            question.id, question.prompt, question.answer, question.explanation, hints
        )
    return question


# --------------------------------------------------------------------------- templates


def _mx_first(events: Sequence[Event], qid: str) -> Question | None:
    """The MTA got MX 10 mx1 and 20 mx2. Which did it connect to first?"""
    for choice in story.mx_choices(events):
        if len(choice.records) < 2 or not choice.first_connected:
            continue
        records = ", ".join(f"MX {r.preference} {r.exchange}" for r in choice.by_preference)
        best = choice.by_preference[0]
        choices = []
        for index, record in enumerate(choice.by_preference):
            right = record.exchange == choice.first_connected
            choices.append(
                Choice(
                    key=chr(ord("a") + index),
                    text=record.exchange,
                    correct=right,
                    misconception=""
                    if right
                    else (
                        "a higher preference number is more preferred"
                        if record.preference > best.preference
                        else "the MTA picks an MX at random regardless of preference"
                    ),
                    why="the lowest preference value is tried first" if right else "",
                )
            )
        return Question(
            qid,
            f"{choice.host} asked for the MX records of {choice.domain} and got {records}. "
            "Which did it connect to first?",
            SingleChoice(tuple(choices)),
            Explanation(
                "A sender tries the MX hosts in order of preference, lowest number first, and "
                "moves to the next only when one cannot take the message.",
                (RfcRef(5321, "5.1"),),
            ),
        )
    return None


def _rcpt_reply(events: Sequence[Event], qid: str) -> Question | None:
    """What did the MX answer to RCPT TO:<x>?"""
    for exchange in story.exchanges(events):
        if exchange.verb != "RCPT" or exchange.code is None:
            continue
        return Question(
            qid,
            f"{exchange.asked_by} sent `{exchange.command}` to {exchange.answered_by}. "
            "Which reply code came back?",
            TypeAnswer(accepted=(str(exchange.code),), shown=str(exchange.code)),
            Explanation(
                f"{exchange.answered_by} answered: {exchange.reply_text}. A 2xx reply to RCPT "
                "accepts that recipient; 4xx asks the sender to try again later, 5xx refuses "
                "it for good.",
                (RfcRef(5321, "4.1.1.3"), RfcRef(5321, "4.2.1")),
            ),
        )
    return None


def _session_order(events: Sequence[Event], qid: str) -> Question | None:
    """Put this session's commands in order."""
    for session in story.sessions(events):
        verbs = [e.verb for e in story.exchanges(events, session.id) if e.verb]
        unique = list(dict.fromkeys(verbs))
        if len(unique) < 4:
            continue
        items = tuple(OrderItem(key=chr(ord("a") + i), text=verb) for i, verb in enumerate(unique))
        return Question(
            qid,
            f"Put the commands of session {session.id} ({session.client} to {session.server}) "
            "in the order the client first sent them.",
            PutInOrder(items),
            Explanation(
                "A session greets (EHLO), may upgrade to TLS and authenticate, then gives the "
                "envelope (MAIL FROM, RCPT TO), the content (DATA) and ends with QUIT.",
                (RfcRef(5321, "3.3"),),
            ),
        )
    return None


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template("mx-first-connect", Stage.DNS, "which MX the sender tried first", _mx_first),
        Template("rcpt-reply", Stage.ENVELOPE, "the reply code to a RCPT TO", _rcpt_reply),
        Template("session-order", Stage.EHLO, "put a session's commands in order", _session_order),
    )
}

__all__ = ["TEMPLATES", "Template", "generate"]
