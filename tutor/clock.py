"""Real and simulated clocks: the queue, the greylist and the trace read time only from here.

A simulated clock lets a five-day retry schedule play out in seconds while the SMTP traffic of
every attempt stays real: waiting on it jumps time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Protocol

Alarm = Callable[[], None]


class Clock(Protocol):
    """What the world needs from time."""

    def now(self) -> float:
        """Seconds since the Unix epoch, real or simulated."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def call_at(self, when: float, alarm: Alarm) -> None:
        """Call ``alarm`` once this clock reads ``when`` (on the running event loop)."""
        ...

    def held(self) -> AbstractContextManager[None]:
        """A block during which this clock's time stands still, where it can (see
        ``FastForwardClock.held``); a clock that cannot stop simply keeps going."""
        ...


class _Alarms:
    """Alarms waiting for a clock whose time can jump: fired as soon as it has passed them.

    A clock that skips a wait must not skip what was due in between (a host that comes back
    up after an hour must be up for the retry two hours later), so every jump fires them.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()

    def add(self, when: float, alarm: Alarm) -> None:
        heapq.heappush(self._due, (when, next(self._order), alarm))

    def pending(self) -> list[float]:
        return [when for when, _, _ in self._due]

    def fire(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            heapq.heappop(self._due)[2]()

    def jump(self, target: float, move_to: Callable[[float], None]) -> None:
        """Move the clock to ``target``, stopping at each alarm on the way to fire it there,
        so what an alarm does is stamped with its own time, not the end of the jump."""
        while self._due and self._due[0][0] <= target:
            when, _, alarm = heapq.heappop(self._due)
            move_to(when)
            alarm()
        move_to(target)


class RealClock:
    """Wall-clock time; sleeping really sleeps."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, when: float, alarm: Alarm) -> None:
        asyncio.get_running_loop().call_later(max(0.0, when - self.now()), alarm)

    def held(self) -> AbstractContextManager[None]:
        return nullcontext()  # wall-clock time does not wait for anyone


class SimulatedClock:
    """Time that only moves when someone waits on it (or ``advance`` is called).

    ``sleep`` advances the clock to the wake-up time at once and yields to the event loop, so
    the real work around it (sockets, DNS) still interleaves normally.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self._now = float(start if start is not None else time.time())
        self._alarms = _Alarms()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._alarms.jump(self._now + seconds, self._set)

    def advance_to(self, when: float) -> None:
        self._alarms.jump(max(self._now, when), self._set)

    def _set(self, when: float) -> None:
        self._now = max(self._now, when)

    def call_at(self, when: float, alarm: Alarm) -> None:
        self._alarms.add(when, alarm)
        if when <= self._now:  # already due: on the next turn of the loop, as a timer would
            asyncio.get_running_loop().call_soon(self._alarms.fire, self._now)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def held(self) -> AbstractContextManager[None]:
        return nullcontext()  # it never moves by itself anyway


class FastForwardClock:
    """Real time that skips every wait: what a run with retries uses.

    Between waits time flows as on the wall clock, so the delays logged for one SMTP session
    are real; a wait (a retry in 300 s, a greylist delay) is skipped by moving an offset
    forward, so five days of retries take as long as their real SMTP sessions do.
    """

    def __init__(self, start: float | None = None) -> None:
        self._real_start = time.time()
        self._offset = (start - self._real_start) if start is not None else 0.0
        self._alarms = _Alarms()
        self._holds = 0
        self._frozen_at: float | None = None

    def now(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._alarms.jump(self.now() + seconds, self._set)

    def _set(self, when: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at = max(self._frozen_at, when)
        else:
            self._offset = max(self._offset, when - time.time())

    def call_at(self, when: float, alarm: Alarm) -> None:
        """Due after a skipped wait or when real time gets there, whichever comes first."""
        self._alarms.add(when, alarm)
        self._arm(when)

    def _arm(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, when - self.now()), lambda: self._alarms.fire(self.now()))

    @contextmanager
    def held(self) -> Iterator[None]:
        """World time stands still inside: the world is waiting for the learner to step.

        How long a learner looks at a line is not part of the mail's life: without this, a
        slow step would push a retry past a queue run and the timeline would depend on the
        reader's pace. Skipped waits still move the clock while it is held; holds nest.
        """
        if self._holds == 0:
            self._frozen_at = self.now()
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0 and self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
                for when in self._alarms.pending():  # their timers ran against frozen time
                    self._arm(when)

    def advance_to(self, when: float) -> None:
        self.advance(max(0.0, when - self.now()))

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC rendering used in traces and logs."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def spoken_span(seconds: float) -> str:
    """A duration as people say it in mail logs and lessons: '1 h', '20 min', '90 s', '2 days'.

    Whole units when it is an exact multiple (a scenario's "1h" stays "1 h"), otherwise the
    largest unit that still reads well, rounded down.
    """
    whole = int(seconds)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if whole >= size and whole % size == 0:
            count = whole // size
            return f"{count} {'day' if unit == 'days' and count == 1 else unit}"
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    if whole < 2 * 86400:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"
