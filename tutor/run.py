"""The one way to run a world: ``open_run(scenario, ...)`` gives a handle to start, step, read.

Every command, the TUI, the lessons, the labs, the tests and bench/ run a world through this
module, so recording, keeping, stepping and the clock are wired in one place. The handle gives
readers what they may see and nothing more:

* ``trace`` — the run's events, read only (``events``, ``subscribe``, ``of_type``);
* stepping — ``release`` one step, ``play``, ``pause``, and ``waiting`` (a typed PendingStep);
* ``state`` — a read-only view of the world: hosts and ports (the DNS server too), mailboxes
  and their messages, the queue, the mail-log records, the zone file as served, and which
  sessions came from outside the world (a learner's nc);
* ``result`` — how the run ended against the scenario.

The world's modules (aiosmtpd, dnspython, TLS) load only when a run is opened, so importing
this module stays cheap for views.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tutor.clock import iso
from tutor.runstate import PendingStep, WorldInfo
from tutor.scenario import Scenario, apply_what_ifs, load_scenario
from tutor.trace import Event, Trace, TraceHeader, record_run

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tutor.world.world import RunResult, World

E = TypeVar("E", bound=Event)


class ClockKind(StrEnum):
    """Which clock the world runs on."""

    FAST_FORWARD = "fast-forward"  # real time while traffic flows, waits skipped (lessons)
    REAL = "real"  # a retry in 300 s really takes five minutes (serve, labs)


class TraceView:
    """A run's trace as readers see it: they can read and listen, never publish."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    @property
    def events(self) -> Sequence[Event]:
        return self._trace.events

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self._trace.subscribe(subscriber)

    def of_type(self, cls: type[E]) -> list[E]:
        return self._trace.of_type(cls)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._trace.events)

    def __len__(self) -> int:
        return len(self._trace.events)


@dataclass(frozen=True)
class MailboxMessage:
    """One message in one mailbox folder, as it lies on disk."""

    recipient: str
    folder: str  # INBOX or Junk
    path: Path
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


@dataclass(frozen=True)
class QueueEntry:
    """One message in the sender's queue, with each recipient's state."""

    queue_id: str
    state: str  # incoming | active | deferred | hold
    sender: str
    recipients: tuple[tuple[str, str, str], ...]  # (address, status, deciding reply)
    next_attempt: float


class WorldState:
    """Read-only questions about a running (or just stopped, kept) world's real state."""

    def __init__(self, world: World) -> None:
        self._world = world

    @property
    def info(self) -> WorldInfo:
        """Hosts, addresses, ports (the DNS server too), CA, users: what `serve` prints."""
        return self._world.describe()

    def mailboxes(self) -> dict[str, list[MailboxMessage]]:
        """Every mailbox with its messages, INBOX then Junk, oldest first."""
        boxes = self._world.mailboxes
        found: dict[str, list[MailboxMessage]] = {}
        for address in boxes.users():
            found[address] = [
                MailboxMessage(address, folder, stored.path, stored.raw, stored.message)
                for folder in ("INBOX", "Junk")
                if boxes.path(address, folder).is_dir()
                for stored in boxes.messages(address, folder)
            ]
        return found

    def queue(self) -> list[QueueEntry]:
        """What the sender's queue holds now (empty when every message is settled)."""
        runner = self._world.queue
        if runner is None:
            return []
        return [
            QueueEntry(
                queue_id=m.queue_id,
                state=str(m.state),
                sender=m.sender,
                recipients=tuple((r.address, str(r.status), r.reply) for r in m.recipients),
                next_attempt=m.next_attempt,
            )
            for m in runner.spool.load_all()
        ]

    def log_records(self) -> list[dict[str, Any]]:
        """The mail log as its JSON Lines file holds it: each line with its fields."""
        path = self._world.run_dir / "log" / "maillog.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]

    def zone_text(self) -> str:
        """The zones exactly as the world's DNS serves them (addresses, DKIM keys filled in)."""
        return self._world.ctx.zone_file.read_text(encoding="utf-8")

    @property
    def outside_sessions(self) -> tuple[str, ...]:
        """Server sessions whose client is not a world host: a learner's own nc or swaks."""
        return tuple(self._world.ctx.outside_sessions)

    @property
    def run_dir(self) -> Path:
        return self._world.run_dir


class RunHandle:
    """One world, opened by ``open_run``: ``async with`` it (or ``start``/``stop``)."""

    def __init__(self, world: World, *, record: Path | None, keep: Path | None) -> None:
        self._world = world
        self._trace = world.trace
        self.trace = TraceView(world.trace)
        self.state = WorldState(world)
        self.scenario = world.scenario
        self.result: RunResult | None = None
        self._files = contextlib.ExitStack()
        header = TraceHeader(scenario=world.scenario.name, started=iso(world.clock.now()))
        record_run(self._trace, header, self._files, record=record, keep=keep)
        # Several parts of the world can wait at the gate at once (the submission client's
        # QUIT and the MTA's first lookup); each wait consumes one release, so count them.
        self._waiters = 0
        self.on_wait: Callable[[PendingStep], None] | None = None
        world.gate.on_wait = self._waited

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> RunHandle:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bring every server up (ScenarioStarted is published)."""
        await self._world.start()

    async def finish(self) -> RunResult:
        """Send the scenario's message and wait until every copy is settled."""
        self.result = await self._world.run()
        return self.result

    async def stop(self) -> None:
        """Stop every server and close the recordings (idempotent)."""
        with contextlib.suppress(Exception):
            await self._world.stop()
        self._files.close()

    # ------------------------------------------------------------------ stepping

    def _waited(self, step: PendingStep) -> None:
        self._waiters += 1
        if self.on_wait is not None:
            self.on_wait(step)

    @property
    def waiting(self) -> PendingStep | None:
        """What the world will do next when released (None if it is not waiting)."""
        return self._world.gate.waiting if self._waiters else None

    def release(self) -> bool:
        """Let the world take one step; False if nothing is waiting."""
        if self._waiters <= 0:
            return False
        self._waiters -= 1
        self._world.gate.release(1)
        return True

    def play(self) -> None:
        """Let the world run freely."""
        self._world.gate.open()

    def pause(self) -> None:
        """Make the world wait at its next step again."""
        self._world.gate.close()

    # ------------------------------------------------------------------ for world tests

    @property
    def world(self) -> World:
        """The world itself: for the world's own tests and bench/, never for views."""
        return self._world


def resolve_scenario(scenario: str | Path | Scenario, what_ifs: Iterable[str] = ()) -> Scenario:
    """A shipped name, a path, or a Scenario, with what-ifs applied."""
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return apply_what_ifs(loaded, frozenset(what_ifs))


def open_run(
    scenario: str | Path | Scenario,
    *,
    what_ifs: Iterable[str] = (),
    clock: ClockKind = ClockKind.FAST_FORWARD,
    stepped: bool = False,
    record: Path | None = None,
    keep: Path | None = None,
    trace: Trace | None = None,
) -> RunHandle:
    """Build (not yet start) a world for ``scenario``; subscribe to ``trace`` before starting.

    ``stepped`` closes the gate so the world waits for ``release``; ``record`` writes the trace
    to a JSON Lines file as it happens; ``keep`` keeps the run directory (mailboxes, CA, logs,
    zone file, trace.jsonl) there instead of a temporary one.
    """
    from tutor.clock import RealClock
    from tutor.world.gate import StepGate
    from tutor.world.world import World

    world = World(
        resolve_scenario(scenario, what_ifs),
        run_dir=keep,
        trace=trace,
        clock=RealClock() if clock is ClockKind.REAL else None,
        gate=StepGate(open_=not stepped),
    )
    return RunHandle(world, record=record, keep=keep)


def load_world_modules() -> None:
    """Import the world (aiosmtpd, dnspython, TLS, DKIM: about 0.15 s) ahead of ``open_run``.

    The TUI calls it on a worker thread, so the first screen stays responsive while it loads.
    """
    import tutor.world.world  # noqa: F401


__all__ = [
    "ClockKind",
    "MailboxMessage",
    "QueueEntry",
    "RunHandle",
    "TraceView",
    "WorldState",
    "load_world_modules",
    "open_run",
    "resolve_scenario",
]
