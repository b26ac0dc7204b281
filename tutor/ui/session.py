"""The step-through model behind the run screen: records every event, reveals them one by one.

The world publishes events whenever it likes; the learner sees them one at a time. This module
holds the two halves of that promise, with no Textual in it so it can be tested on its own:

* a *source* feeds events in: ``LiveSource`` runs a real World on the app's asyncio loop with
  its StepGate closed, ``ReplaySource`` plays a recorded (or normalised) trace;
* ``RunSession`` keeps every recorded event, how many are revealed, and the cursor the learner
  moves back and forth over the revealed ones.

"One step = exactly one event" holds because the buffer and the gate work together: a step
reveals a buffered event if there is one; only when the buffer is empty does it let the world
take one more gated step, and it waits for that step's first event before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tutor.run import TraceView

from tutor.runstate import PendingStep
from tutor.scenario import Scenario
from tutor.story import is_server_copy
from tutor.trace import (
    DnsAnswer,
    DnsQuery,
    Event,
    LogLine,
    ScenarioFinished,
    SmtpLine,
    TlsHandshake,
    Trace,
)


class EventFilter(StrEnum):
    """What the traffic log shows; ``f`` cycles through them in this order."""

    ALL = "all"
    SMTP = "smtp"
    DNS = "dns"
    TLS = "tls"

    def next(self) -> EventFilter:
        members = list(EventFilter)
        return members[(members.index(self) + 1) % len(members)]

    def admits(self, event: Event) -> bool:
        if self is EventFilter.ALL:
            return True
        if self is EventFilter.SMTP:
            return isinstance(event, SmtpLine)
        if self is EventFilter.DNS:
            return isinstance(event, DnsQuery | DnsAnswer)
        return isinstance(event, TlsHandshake) or (isinstance(event, SmtpLine) and event.encrypted)


def is_shown(event: Event, event_filter: EventFilter, show_server_side: bool = False) -> bool:
    """Whether the traffic log gives the event a line of its own.

    Both ends record every SMTP line and every DNS message; the log shows the side that acted
    (the client) and links the other side in the "both sides" pane, so one step is one line.
    Mail-log lines belong to the linked pane as well.
    """
    if isinstance(event, LogLine):
        return False
    if not show_server_side and is_server_copy(event):
        return False
    return event_filter.admits(event)


class Source(Protocol):
    """Where events come from: a live world or a recorded trace."""

    trace: Trace | TraceView
    finished: bool

    async def start(self) -> None: ...

    def release(self) -> bool:
        """Let the world take one more step; False if it cannot (not waiting, or finished)."""
        ...

    async def stop(self) -> None: ...


class ReplaySource:
    """A recorded trace played into a fresh Trace bus one event per release.

    Used for ``smtp-tutor replay`` in the TUI and for deterministic snapshot tests.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self.trace = Trace()
        self._events = list(events)
        self._next = 0
        self.finished = not self._events

    async def start(self) -> None:
        self.release()  # the first event (ScenarioStarted) is there from the start, as live

    def release(self) -> bool:
        if self._next >= len(self._events):
            self.finished = True
            return False
        event = self._events[self._next]
        self._next += 1
        # Keep the recorded seq/time: a replay shows what happened, not when it was replayed.
        self.trace.replay(event)
        self.finished = self._next >= len(self._events)
        return True

    async def stop(self) -> None:
        self.finished = True


@dataclass
class RunResultSummary:
    """What the UI shows when the live run ends (or fails)."""

    ok: bool
    outcomes: dict[str, str] = field(default_factory=dict)
    error: str = ""


class LiveSource:
    """A real world on this asyncio loop, opened through the runner with its gate closed, so
    it waits for the learner. The world's modules load only when the run is opened."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        stepped: bool = True,
        keep: Path | None = None,
        record: Path | None = None,
    ) -> None:
        from tutor.run import open_run

        self.scenario = scenario
        self.run = open_run(scenario, stepped=stepped, keep=keep, record=record)
        self.trace = self.run.trace
        self.finished = False
        self.summary: RunResultSummary | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_change: Callable[[], None] | None = None
        self.run.on_wait = self._on_wait

    def _on_wait(self, step: PendingStep) -> None:
        if self.on_change is not None:
            self.on_change()

    @property
    def waiting_for(self) -> str:
        """What the world will do next when released ('' if it is not waiting)."""
        step = self.run.waiting
        return str(step) if step is not None else ""

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tutor-world")

    async def _run(self) -> None:
        try:
            await self.run.start()
            result = await self.run.finish()
            self.summary = RunResultSummary(
                ok=result.ok, outcomes={r: str(o) for r, o in result.outcomes.items()}
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the learner must see a broken world, not a frozen screen
            self.summary = RunResultSummary(ok=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            self.finished = True
            if self.on_change is not None:
                self.on_change()

    def release(self) -> bool:
        if self.finished:
            return False
        return self.run.release()

    def play(self) -> None:
        """Let the world run freely (used by tests and 'run to end'); the view still paces."""
        self.run.play()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.run.stop()
        self.finished = True


class RunSession:
    """Every recorded event, the revealed prefix, and the learner's cursor over it.

    ``cursor`` is an index into ``events`` (the whole recorded list); it only ever rests on a
    revealed event that the current filter shows. Listeners are told after every change.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.events: list[Event] = []
        self.revealed = 0
        self.cursor = -1
        self.filter = EventFilter.ALL
        self.show_server_side = False
        self._arrived = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._unsubscribe = source.trace.subscribe(self._record)
        self._stepping: asyncio.Lock = asyncio.Lock()
        if isinstance(source, LiveSource):
            source.on_change = self._poke

    # -------------------------------------------------------------- recording

    def _record(self, event: Event) -> None:
        self.events.append(event)
        self._poke()

    def _poke(self) -> None:
        self._arrived.set()
        self._notify()

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -------------------------------------------------------------- what the views read

    def shows(self, event: Event) -> bool:
        return is_shown(event, self.filter, self.show_server_side)

    def visible(self) -> list[int]:
        """Indexes of revealed events that the traffic log shows, in order."""
        return [i for i in range(self.revealed) if self.shows(self.events[i])]

    @property
    def selected(self) -> Event | None:
        return self.events[self.cursor] if 0 <= self.cursor < self.revealed else None

    @property
    def revealed_events(self) -> list[Event]:
        return self.events[: self.revealed]

    @property
    def at_end(self) -> bool:
        """Nothing more will ever be revealed."""
        return self.source.finished and self._next_shown(self.revealed) is None

    @property
    def finished_event(self) -> ScenarioFinished | None:
        for event in reversed(self.revealed_events):
            if isinstance(event, ScenarioFinished):
                return event
        return None

    def index_of_seq(self, seq: int) -> int | None:
        """The index into ``events`` of the event the trace numbered ``seq`` (None if absent).

        Links between events (a Bounce's DSN fields) carry trace sequence numbers. A live trace
        numbers its events 1, 2, 3… in order, so the index is seq - 1; a replayed trace keeps
        the numbers it was recorded with, and a trimmed one can skip some, so check, then search.
        """
        if 0 < seq <= len(self.events) and self.events[seq - 1].seq == seq:
            return seq - 1
        return next((i for i, event in enumerate(self.events) if event.seq == seq), None)

    def _next_shown(self, start: int) -> int | None:
        for i in range(start, len(self.events)):
            if self.shows(self.events[i]):
                return i
        return None

    # -------------------------------------------------------------- moving

    async def step(self, timeout: float = 10.0) -> bool:
        """Move forward one line: over already revealed lines first, then reveal one more.

        Returns False when there is nothing further (the run has ended).
        """
        visible = self.visible()
        if visible and self.cursor < visible[-1]:
            self.cursor = next(i for i in visible if i > self.cursor)
            self._notify()
            return True
        async with self._stepping:
            return await self._reveal_one(timeout)

    async def _reveal_one(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            target = self._next_shown(self.revealed)
            if target is not None:
                # Hidden events before it (server-side copies, log lines) come along with it.
                self.revealed = target + 1
                self.cursor = target
                self._notify()
                return True
            if self.source.finished:
                self.revealed = len(self.events)
                self._notify()
                return False
            self._arrived.clear()
            self.source.release()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return False

    def back(self) -> bool:
        """Select the previous shown line (a view operation: sockets are never rewound)."""
        earlier = [i for i in self.visible() if i < self.cursor]
        if not earlier:
            return False
        self.cursor = earlier[-1]
        self._notify()
        return True

    def select(self, index: int) -> None:
        if 0 <= index < self.revealed:
            self.cursor = index
            self._notify()

    def set_filter(self, event_filter: EventFilter) -> None:
        self.filter = event_filter
        visible = self.visible()
        if self.cursor not in visible:
            earlier = [i for i in visible if i <= self.cursor]
            self.cursor = earlier[-1] if earlier else (visible[0] if visible else -1)
        self._notify()

    def close(self) -> None:
        self._unsubscribe()
        self._listeners.clear()
