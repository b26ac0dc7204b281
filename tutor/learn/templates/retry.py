"""Retry: how long the queue waited after a temporary failure, and how many attempts it made."""

from __future__ import annotations

from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, NumberAnswer, Question, RfcRef
from tutor.learn.templates._base import Template, duration, plural
from tutor.trace import Event, Outcome, Stage

_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _minutes(seconds: float) -> str:
    value = round(seconds / 60, 1)
    return f"{value:g} min"


def _waits(gaps: Sequence[story.RetryGap], queue_id: str) -> str:
    waits = [_minutes(g.seconds) for g in gaps if g.queue_id == queue_id]
    if len(waits) > 8:
        waits = [*waits[:6], "…", waits[-1]]
    return ", ".join(waits)


def _deferred_recipient(events: Sequence[Event], gap: story.RetryGap) -> str:
    for timeline in story.build_timelines(events):
        if timeline.queue_id != gap.queue_id:
            continue
        for attempt in timeline.attempts:
            if attempt.number == gap.attempt:
                deferred = [r for r in attempt.results if str(r.outcome) == Outcome.DEFERRED]
                return deferred[0].recipient if deferred else ""
    return ""


def _retry_gap(events: Sequence[Event], qid: str) -> Question | None:
    """How long after the first temporary failure did the next attempt come?"""
    gaps = story.retry_gaps(events)
    if not gaps:
        return None
    gap = gaps[0]
    minutes = gap.seconds / 60
    recipient = _deferred_recipient(events, gap)
    failure = f"`{gap.reply}`" if gap.reply else "a temporary failure"
    scheduled = (
        f" The queue had set the next try for {_minutes(gap.scheduled_at - gap.failed_at)} "
        "after the failure and started it at the next queue run."
        if gap.scheduled_at is not None
        else ""
    )
    return Question(
        qid,
        f"The {_ORDINAL.get(gap.attempt, f'#{gap.attempt}')} attempt to deliver message "
        f"{gap.queue_id}{f' to {recipient}' if recipient else ''} ended for now with {failure}. "
        "How many minutes later did the queue start the next attempt?",
        NumberAnswer(round(minutes, 1), max(1.0, round(minutes * 0.1, 1)), "minutes"),
        Explanation(
            "A temporary failure (4xx, or no connection at all) leaves the message in the "
            "sender's queue, and the sender must wait before it tries that destination again. "
            "RFC 5321 suggests at least 30 minutes; Postfix starts sooner, waiting as long as "
            "the message has already been queued, within its minimal and maximal backoff "
            f"times.{scheduled} The waits in this run: {_waits(gaps, gap.queue_id)}.",
            (RfcRef(5321, "4.5.4.1"), RfcRef(5321, "4.2.1")),
        ),
    )


def _attempts(events: Sequence[Event], qid: str) -> Question | None:
    """How many delivery attempts did the queue make until it was done with a recipient?"""
    gaps = story.retry_gaps(events)
    for timeline in story.build_timelines(events):
        if not timeline.retried or not timeline.attempts[-1].left_queue:
            continue  # still queued (the run is not over yet): the count is not known
        tried: dict[str, list[str]] = {}
        for attempt in timeline.attempts:
            for result in attempt.results:
                tried.setdefault(result.recipient, []).append(str(result.outcome))
        given_up = any(d.action == "failed" for d in timeline.attempts[-1].dsns)
        for recipient, outcomes in tried.items():
            if len(outcomes) < 2:
                continue
            if outcomes[-1] == Outcome.DELIVERED:
                end = "it was delivered"
            elif outcomes[-1] in (Outcome.REJECTED, Outcome.BOUNCED) or given_up:
                end = "the queue gave up and returned it to the sender"
            else:
                continue
            count = len(outcomes)
            span = timeline.attempts[-1].at - timeline.arrival
            return Question(
                qid,
                f"The queue kept trying to deliver message {timeline.queue_id} to {recipient} "
                f"until {end}. How many delivery attempts did it make for {recipient}, the "
                "first one included?",
                NumberAnswer(
                    float(count), 0.0 if count <= 12 else max(1.0, float(round(count * 0.1)))
                ),
                Explanation(
                    "Each attempt is one queue run that takes the message from the deferred "
                    "queue and tries it; a temporary failure puts it back, a delivery or a "
                    "permanent failure ends it, and a message too long in the queue is "
                    f"returned. Here: {plural(count, 'attempt')} over {duration(span)}, the "
                    f"waits between them {_waits(gaps, timeline.queue_id)}.",
                    (RfcRef(5321, "4.5.4.1"),),
                ),
            )
    return None


TEMPLATES = (
    Template(
        "retry-gap", Stage.QUEUE, "minutes from a temporary failure to the next try", _retry_gap
    ),
    Template(
        "attempt-count", Stage.QUEUE, "how many attempts the queue made for a recipient", _attempts
    ),
)
