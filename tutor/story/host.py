"""The hosts of the world a trace ran in, and the role each one played.

A quiz that asks about "the MX hop" must tell the recipient's MX (or gateway) from the
submission server and from the sender's own MX that takes a bounce back; the roles are in the
trace, on the ``scenario_started`` event (docs/trace.md, WorldHost).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tutor.trace import Event, ScenarioStarted


class Role(StrEnum):
    """What a host of the world is for (WorldHost.role)."""

    CLIENT = "client"  # the learner's mail program
    OUTBOUND = "outbound"  # the sender's provider: submission, MTA and queue
    MX = "mx"  # a receiving mail server that delivers into mailboxes
    GATEWAY = "gateway"  # a receiving filter that relays on to an internal server


RECEIVING = frozenset({Role.MX, Role.GATEWAY})


@dataclass(frozen=True)
class Host:
    """One host of the world as the run announced it."""

    name: str
    address: str
    role: str  # a Role value, or a newer role this reader does not know


def world_hosts(events: Iterable[Event]) -> tuple[Host, ...]:
    """The hosts the run's ``scenario_started`` listed (none for a trace without one)."""
    for event in events:
        if isinstance(event, ScenarioStarted):
            return tuple(Host(str(h.name), str(h.address), str(h.role)) for h in event.hosts)
    return ()


def host_roles(events: Iterable[Event]) -> dict[str, str]:
    """Each host's name mapped to its role."""
    return {host.name: host.role for host in world_hosts(events)}


def receiving_hosts(events: Iterable[Event]) -> frozenset[str]:
    """The names of the hosts that receive mail for a destination domain (MX and gateways)."""
    return frozenset(h.name for h in world_hosts(events) if h.role in RECEIVING)
