"""Real and simulated clocks: the queue, the greylist and the trace read time only from here.

A simulated clock lets a five-day retry schedule play out in seconds while the SMTP traffic of
every attempt stays real: waiting on it jumps time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the world needs from time."""

    def now(self) -> float:
        """Seconds since the Unix epoch, real or simulated."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time; sleeping really sleeps."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimulatedClock:
    """Time that only moves when someone waits on it (or ``advance`` is called).

    ``sleep`` advances the clock to the wake-up time at once and yields to the event loop, so
    the real work around it (sockets, DNS) still interleaves normally.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self._now = float(start if start is not None else time.time())

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def advance_to(self, when: float) -> None:
        self._now = max(self._now, when)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class FastForwardClock:
    """Real time that skips every wait: what a run with retries uses.

    Between waits time flows as on the wall clock, so the delays logged for one SMTP session
    are real; a wait (a retry in 300 s, a greylist delay) is skipped by moving an offset
    forward, so five days of retries take as long as their real SMTP sessions do.
    """

    def __init__(self, start: float | None = None) -> None:
        self._real_start = time.time()
        self._offset = (start - self._real_start) if start is not None else 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._offset += seconds

    def advance_to(self, when: float) -> None:
        self.advance(max(0.0, when - self.now()))

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC rendering used in traces and logs."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
