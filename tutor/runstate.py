"""The read-only shapes a running world hands its readers: hosts, what it waits for, its state.

These live below the world (it builds them) and below every view (they read them), so a view
can show a world without importing it: the runner (run.py) is the one door between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class StepKind(StrEnum):
    """The kinds of step the world waits at the gate for (what "next" means on screen)."""

    DNS_LOOKUP = "dns-lookup"
    CONNECT = "connect"
    SEND = "send"  # one SMTP command line or the message content


@dataclass(frozen=True)
class PendingStep:
    """The step the world is about to take when the learner lets it: who, what, to whom."""

    kind: StepKind
    host: str  # the world host that acts (the sender MTA, the submitting laptop)
    target: str  # the name looked up, or the server spoken to
    what: str  # "MX records", "A record", "EHLO", "MAIL FROM:<alice@example.org>"

    def __str__(self) -> str:
        if self.kind is StepKind.DNS_LOOKUP:
            return f"look up the {self.what} of {self.target}"
        if self.kind is StepKind.CONNECT:
            return f"connect to {self.what}"
        return f"{self.what} → {self.target}"


@dataclass(frozen=True)
class HostInfo:
    name: str
    address: str
    role: str
    ports: dict[str, int]
    state: str = ""  # e.g. "down: refuses connections": what a learner's nc will meet


@dataclass(frozen=True)
class UserInfo:
    address: str
    password: str  # empty for users who may not submit


@dataclass(frozen=True)
class WorldInfo:
    """Everything a learner needs to talk to the running world with real clients."""

    scenario: str
    dns_name: str
    dns_address: str
    dns_port: int
    ca_path: Path
    mailbox_root: Path
    zone_file: Path
    run_dir: Path
    hosts: tuple[HostInfo, ...]
    users: tuple[UserInfo, ...]
    shared_loopback: bool

    def to_json(self) -> dict[str, Any]:
        """The `serve --json` object (keys fixed by the issue: dns, ca, hosts, users)."""
        return {
            "scenario": self.scenario,
            "dns": {"host": self.dns_address, "port": self.dns_port, "name": self.dns_name},
            "ca": str(self.ca_path),
            "mailboxes": str(self.mailbox_root),
            "zone_file": str(self.zone_file),
            "hosts": [
                {
                    "name": h.name,
                    "address": h.address,
                    "role": h.role,
                    "ports": dict(h.ports),
                    **({"state": h.state} if h.state else {}),
                }
                for h in self.hosts
            ],
            "users": [
                {"address": u.address, **({"password": u.password} if u.password else {})}
                for u in self.users
            ],
        }
