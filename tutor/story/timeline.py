"""Retry timelines: each queued message's delivery attempts, their replies, and what came next.

Built from the trace alone (QueueChange, RecipientResult and Bounce events), so it works on a
live run and on a recorded one alike. An attempt starts when the message enters the active
queue (a message recovered after a restart re-enters it without a new attempt); it collects
the results that attempt got, when the queue manager said it would try next, the DSNs sent
after it, and whether the message then left the queue.

``retry_gaps`` answers "how long after the first 451 did the second attempt come?".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tutor.trace import (
    Bounce,
    BounceAction,
    Event,
    Outcome,
    QueueChange,
    QueueState,
    RecipientResult,
)

RECOVERED = "recovered after restart"  # the reason the queue gives for a re-activation


@dataclass(frozen=True)
class DsnSent:
    """A DSN generated after an attempt: a delay warning or a non-delivery report."""

    action: BounceAction
    dsn_queue_id: str
    seq: int


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of one queued message."""

    number: int
    at: float  # when the message entered the active queue
    results: tuple[RecipientResult, ...] = ()
    deferred_at: float | None = None  # when the queue deferred it after this attempt
    next_at: float | None = None  # when the queue manager said it would try again
    dsns: tuple[DsnSent, ...] = ()
    left_queue: bool = False  # the message was removed after this attempt


@dataclass(frozen=True)
class Timeline:
    """Every attempt of one queued message, from its arrival."""

    queue_id: str
    arrival: float
    attempts: tuple[Attempt, ...] = ()

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


# The two builders below are plain classes, not dataclasses: every `run --plain` imports this
# module, and a dataclass costs about a millisecond to define.


class _OpenAttempt:
    """An attempt while the fold still adds to it."""

    __slots__ = ("at", "deferred_at", "dsns", "left_queue", "next_at", "number", "results")

    def __init__(self, number: int, at: float) -> None:
        self.number, self.at = number, at
        self.results: list[RecipientResult] = []
        self.deferred_at: float | None = None
        self.next_at: float | None = None
        self.dsns: list[DsnSent] = []
        self.left_queue = False

    def freeze(self) -> Attempt:
        return Attempt(
            self.number,
            self.at,
            tuple(self.results),
            self.deferred_at,
            self.next_at,
            tuple(self.dsns),
            self.left_queue,
        )


class _OpenTimeline:
    __slots__ = ("arrival", "attempts", "queue_id")

    def __init__(self, queue_id: str, arrival: float) -> None:
        self.queue_id, self.arrival = queue_id, arrival
        self.attempts: list[_OpenAttempt] = []

    def freeze(self) -> Timeline:
        return Timeline(self.queue_id, self.arrival, tuple(a.freeze() for a in self.attempts))


def build_timelines(events: Iterable[Event]) -> list[Timeline]:
    """One timeline per queue id, in order of arrival."""
    building: dict[str, _OpenTimeline] = {}
    for event in events:
        if isinstance(event, QueueChange):
            line = building.get(event.queue_id)
            state = event.state
            if state == QueueState.INCOMING and line is None:
                building[event.queue_id] = _OpenTimeline(event.queue_id, event.time)
            elif line is None:
                continue
            elif state == QueueState.ACTIVE and event.reason != RECOVERED:
                line.attempts.append(_OpenAttempt(len(line.attempts) + 1, event.time))
            elif not line.attempts:
                continue
            elif state == QueueState.DEFERRED:
                line.attempts[-1].deferred_at = event.time
                line.attempts[-1].next_at = event.next_attempt
            elif state == QueueState.REMOVED:
                line.attempts[-1].left_queue = True
        elif isinstance(event, RecipientResult | Bounce):
            line = building.get(event.queue_id)
            if line is None or not line.attempts:
                continue
            if isinstance(event, RecipientResult):
                line.attempts[-1].results.append(event)
            else:
                dsn = DsnSent(event.action, event.dsn_queue_id, event.seq)
                line.attempts[-1].dsns.append(dsn)
    return [line.freeze() for line in building.values()]


@dataclass(frozen=True)
class RetryGap:
    """A temporary failure and the attempt after it: how long the queue waited to try again."""

    queue_id: str
    attempt: int  # the number of the attempt that failed for now
    reply: str  # the reply that deferred it, e.g. "451 4.7.1 ... Greylisted ..."
    failed_at: float  # when the sender recorded the deferral (right after that reply)
    retried_at: float  # when the next attempt began
    scheduled_at: float | None  # when the queue had said it would try again

    @property
    def seconds(self) -> float:
        return self.retried_at - self.failed_at


def retry_gaps(events: Iterable[Event]) -> tuple[RetryGap, ...]:
    """Every deferral followed by another attempt, per message in order of arrival."""
    gaps = []
    for timeline in build_timelines(events):
        for attempt, following in zip(timeline.attempts, timeline.attempts[1:], strict=False):
            deferred = [r for r in attempt.results if r.outcome == Outcome.DEFERRED]
            if not deferred and attempt.deferred_at is None:
                continue
            failed_at = deferred[0].time if deferred else attempt.deferred_at
            gaps.append(
                RetryGap(
                    queue_id=timeline.queue_id,
                    attempt=attempt.number,
                    reply=deferred[0].reply if deferred else "",
                    failed_at=failed_at if failed_at is not None else attempt.at,
                    retried_at=following.at,
                    scheduled_at=attempt.next_at,
                )
            )
    return tuple(gaps)
