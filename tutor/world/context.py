"""What every part of the world shares: trace, clock, address plan, step gate, CA, resolver."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.clock import Clock
from tutor.trace import Event, Trace
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan

if TYPE_CHECKING:
    from tutor.world.certs import WorldCA
    from tutor.world.dns import WorldResolver


@dataclass
class WorldContext:
    trace: Trace
    clock: Clock
    plan: NetworkPlan
    gate: StepGate
    run_dir: Path
    ca: WorldCA | None = None
    resolver: WorldResolver | None = None
    _session_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def publish(self, event: Event) -> Event:
        return self.trace.publish(event)

    def new_session_id(self, prefix: str = "s") -> str:
        """Short ids that read well in a transcript: s1, s2, ..."""
        return f"{prefix}{next(self._session_ids)}"

    @property
    def mailbox_root(self) -> Path:
        return self.run_dir / "mailboxes"

    @property
    def zone_file(self) -> Path:
        return self.run_dir / "world.zone"
