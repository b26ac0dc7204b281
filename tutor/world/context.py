"""What every part of the world shares: a way to publish, the clock, address plan, gate, CA.

The world writes the trace and never reads it: parts get ``publish`` (stamp and record one
event), never the trace itself, and tell each other facts by direct calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.clock import Clock
from tutor.trace import Event, Note, NoteLevel, Side, Stage, printable
from tutor.world.gate import StepGate
from tutor.world.maillog.writer import MailLog
from tutor.world.network import NetworkPlan

if TYPE_CHECKING:
    from tutor.world.certs import WorldCA
    from tutor.world.dns import WorldResolver

Publish = Callable[[Event], Event]


@dataclass
class WorldContext:
    publish: Publish
    clock: Clock
    plan: NetworkPlan
    gate: StepGate
    run_dir: Path
    ca: WorldCA | None = None
    resolver: WorldResolver | None = None
    maillog: MailLog = field(init=False)  # the world replaces it with one that files lines
    _session_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    # Server sessions whose client is not a world host (a learner's nc): labs check these.
    outside_sessions: list[str] = field(default_factory=list)
    _said: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.maillog = MailLog(self.publish)  # publishes, files nothing

    def note(
        self,
        text: str,
        *,
        host: str,
        stage: Stage,
        side: Side = Side.WORLD,
        session: str = "",
        level: NoteLevel | str = NoteLevel.INFO,
        explain: str = "",
    ) -> None:
        """Say something plainly to the learner (a Note): the one way world parts do.

        ``explain`` names the entry that explains what the note is about ("topic.postmaster").
        """
        self.publish(
            Note(
                host=host,
                stage=stage,
                side=side,
                session=session,
                text=printable(text),  # notes quote what clients sent (a HELO name...)
                level=NoteLevel(level),
                explain=explain,
            )
        )

    def first_time(self, key: str) -> bool:
        """True the first time a part asks about ``key`` in this world: for notes said once."""
        if key in self._said:
            return False
        self._said.add(key)
        return True

    def new_session_id(self, prefix: str = "s") -> str:
        """Short ids that read well in a transcript: s1, s2, ..."""
        return f"{prefix}{next(self._session_ids)}"

    @property
    def mailbox_root(self) -> Path:
        return self.run_dir / "mailboxes"

    @property
    def zone_file(self) -> Path:
        return self.run_dir / "world.zone"
