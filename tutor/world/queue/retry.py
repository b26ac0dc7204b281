"""Postfix's retry schedule: when a deferred message is tried again, warned about, or given up.

Faithful to Postfix's queue manager (qmgr_active.c, ``qmgr_active_done_2_generic`` and
``qmgr_active_done_3_generic``; defaults from mail_params.h):

* After an attempt that left recipients deferred, the queue file's time stamp is set to
  ``now + delay`` where ``delay`` is the message's *age* (now - arrival), clamped to
  [minimal_backoff_time, maximal_backoff_time]. Age, not "double the last interval": the
  source says "Since we look at actual time in queue, not time since last delivery attempt,
  backoff times will be distributed." The effect is still roughly exponential at first
  (300, 600, 1200, 2400 s) until the 4000 s ceiling.
* The queue manager only looks at the deferred queue once every queue_run_delay, and picks a
  file when its time stamp is at most one second in the future (``st_mtime > now + 1`` is
  skipped). So the real next attempt is the first queue run at or after the wake-up time: with
  the defaults, the 4000 s ceiling becomes 4200 s between attempts (14 runs of 300 s).
* Expiry is checked *after* an attempt: a message whose age has reached maximal_queue_lifetime
  (bounce_queue_lifetime for a bounce, i.e. null sender) is returned to the sender at the end
  of the attempt that found it too old; there is no separate timer.
* A delay warning is sent once, at the end of the first attempt at or after
  ``arrival + delay_warning_time - 1`` (0 turns warnings off, the Postfix default).

With all defaults, a message to a destination that never answers is tried 108 times over five
days (see ``schedule``); "about 110" in the issue. Without the queue-run alignment it would be
113 (0, 300, 600, 1200, 2400, 4800, then every 4000 s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# Postfix compares queue file time stamps with one second of slack (qmgr_active_feed).
MTIME_SLACK = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """The queue manager's timing parameters, named as in Postfix's main.cf (seconds)."""

    queue_run_delay: float = 300.0
    minimal_backoff_time: float = 300.0
    maximal_backoff_time: float = 4000.0
    maximal_queue_lifetime: float = 5 * DAY
    bounce_queue_lifetime: float = 5 * DAY
    delay_warning_time: float = 0.0  # 0 = no delay warnings (Postfix default)

    def __post_init__(self) -> None:
        if self.minimal_backoff_time > self.maximal_backoff_time:
            raise ValueError("minimal_backoff_time must not exceed maximal_backoff_time")
        if min(self.queue_run_delay, self.minimal_backoff_time, self.delay_warning_time) < 0:
            raise ValueError("retry times must not be negative")

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, float]) -> RetryPolicy:
        """Postfix defaults with a scenario's ``[retry]`` table on top (``Timing.retry``)."""
        return cls(**{k: float(v) for k, v in overrides.items()})

    def backoff(self, arrival: float, now: float) -> float:
        """How long a deferred message sleeps: its age, clamped to the backoff range."""
        age = now - arrival
        return min(max(age, self.minimal_backoff_time), self.maximal_backoff_time)

    def wakeup(self, arrival: float, now: float) -> float:
        """The time stamp Postfix gives the deferred queue file (``utime(now + delay)``)."""
        return now + self.backoff(arrival, now)

    def next_queue_run(self, wakeup: float, epoch: float) -> float:
        """The first deferred-queue scan (every queue_run_delay since ``epoch``) that takes a
        file with this wake-up time."""
        if self.queue_run_delay <= 0:
            return wakeup
        runs = math.ceil((wakeup - MTIME_SLACK - epoch) / self.queue_run_delay)
        return epoch + max(0, runs) * self.queue_run_delay

    def next_attempt(self, arrival: float, now: float, epoch: float | None = None) -> float:
        """When a message deferred at ``now`` is tried next.

        With ``epoch`` (the time the queue runner started scanning), the answer is aligned to
        queue runs as Postfix does; without it, it is the bare wake-up time.
        """
        wake = self.wakeup(arrival, now)
        return wake if epoch is None else self.next_queue_run(wake, epoch)

    def lifetime(self, is_bounce: bool) -> float:
        """How long a message may stay queued: bounces get bounce_queue_lifetime."""
        return self.bounce_queue_lifetime if is_bounce else self.maximal_queue_lifetime

    def expired(self, arrival: float, now: float, is_bounce: bool = False) -> bool:
        """True when the message is too old and must be returned (checked after an attempt)."""
        return now >= arrival + self.lifetime(is_bounce)

    def expires_at(self, arrival: float, is_bounce: bool = False) -> float:
        """The DSN's Will-Retry-Until time."""
        return arrival + self.lifetime(is_bounce)

    def warn_due(self, arrival: float, now: float, already_warned: bool) -> bool:
        """True when a delay warning (Action: delayed) should go out after this attempt.

        Postfix sends at most one warning per message and never for a bounce (a null-sender
        message has no one to warn); callers pass ``already_warned`` from the queue file.
        """
        if self.delay_warning_time <= 0 or already_warned:
            return False
        return now >= arrival + self.delay_warning_time - MTIME_SLACK


@dataclass(frozen=True)
class PlannedAttempt:
    """One attempt of a schedule against a destination that always fails temporarily."""

    number: int  # 1-based
    at: float
    next_at: float | None  # None after the last attempt (the message is returned then)
    warning: bool = False  # a delay warning goes out after this attempt
    returned: bool = False  # the message expires after this attempt and bounces


def timeline(
    arrival: float,
    policy: RetryPolicy,
    epoch: float | None = None,
    is_bounce: bool = False,
) -> list[PlannedAttempt]:
    """Every attempt, warning and the final return for an always-failing destination.

    The first attempt happens at arrival (new mail goes straight from incoming to active);
    each attempt is assumed to take no time on the world clock, as on the simulated clock.
    ``epoch`` defaults to ``arrival``: the queue runner started scanning when the message came.
    """
    epoch = arrival if epoch is None else epoch
    plan: list[PlannedAttempt] = []
    now = arrival
    warned = False
    while True:
        number = len(plan) + 1
        if policy.expired(arrival, now, is_bounce):
            plan.append(PlannedAttempt(number, now, None, returned=True))
            return plan
        warn = not is_bounce and policy.warn_due(arrival, now, warned)
        warned = warned or warn
        nxt = policy.next_attempt(arrival, now, epoch)
        plan.append(PlannedAttempt(number, now, nxt, warning=warn))
        now = nxt


def schedule(arrival: float, policy: RetryPolicy, until_expiry: bool = True) -> list[float]:
    """Attempt times for a destination that always fails temporarily, aligned to queue runs.

    With ``until_expiry`` the list ends with the attempt after which the message is returned;
    otherwise it stops at the last attempt made while the message was still within its lifetime.
    """
    times = [step.at for step in timeline(arrival, policy)]
    if not until_expiry:
        limit = policy.expires_at(arrival)
        times = [t for t in times if t < limit]
    return times
