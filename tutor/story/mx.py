"""MX choice: the MX records a sending host got, and the order in which it connected to them.

RFC 5321 §5.1: the sender sorts the MX records by preference, lowest first, and tries each in
turn until one accepts the connection; with no MX records at all, the domain's own address is
the implicit MX. Both halves are in the trace — the resolver's answer (its records as
zone-file text) and the sender's TCP connects — so a quiz can ask "The MTA got MX 10 mx1 and
20 mx2. Which did it connect to first?" and check the answer against what really happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.trace import DnsAnswer, Event, Side, Stage, TcpConnect


@dataclass(frozen=True)
class MxRecord:
    """One MX record: the lower the preference, the sooner a sender tries it."""

    preference: int
    exchange: str  # host name, without the trailing dot


@dataclass(frozen=True)
class MxConnection:
    """One connection attempt the sender made to an exchange of the answer."""

    exchange: str
    ok: bool
    session: str
    seq: int
    error: str = ""


@dataclass(frozen=True)
class MxChoice:
    """One MX lookup by a sending host and the connections it made on the strength of it.

    ``records`` are in the order the DNS answer listed them (not necessarily preference
    order: see ``by_preference``). ``connections`` are the sender's connects to one of those
    exchanges (or, without MX records, to the domain itself) after this answer and before its
    next MX answer for the same domain.
    """

    host: str  # who asked: the sender's MTA
    domain: str
    records: tuple[MxRecord, ...]
    connections: tuple[MxConnection, ...]
    cached: bool  # answered from the resolver's cache
    seq: int  # the DnsAnswer

    @property
    def by_preference(self) -> tuple[MxRecord, ...]:
        """The records in the order a sender tries them (equal preferences keep answer order)."""
        return tuple(sorted(self.records, key=lambda r: r.preference))

    @property
    def implicit(self) -> bool:
        """No MX records: the domain's own A/AAAA address is the mail exchanger (§5.1)."""
        return not self.records

    @property
    def first_connected(self) -> str:
        """The exchange the sender connected to first ('' if it made no connection)."""
        return self.connections[0].exchange if self.connections else ""


def _host_name(name: str) -> str:
    return name.lower().rstrip(".")


def mx_records(answer: DnsAnswer) -> tuple[MxRecord, ...]:
    """The MX records of an answer, read from their zone-file text ("d. 3600 IN MX 10 mx1.")."""
    records = []
    for text in answer.answer:
        parts = text.split()
        for i, word in enumerate(parts[:-2]):
            if word.upper() == "MX" and parts[i + 1].isdigit():
                records.append(MxRecord(int(parts[i + 1]), _host_name(parts[i + 2])))
                break
    return tuple(records)


@dataclass
class _OpenChoice:
    """A choice while connections may still be added to it."""

    host: str
    domain: str
    records: tuple[MxRecord, ...]
    cached: bool
    seq: int
    connections: list[MxConnection] = field(default_factory=list)

    def routes_to(self, host: str, target: str) -> bool:
        exchanges = {r.exchange for r in self.records} or {self.domain}
        return host == self.host and target in exchanges

    def freeze(self) -> MxChoice:
        return MxChoice(
            self.host, self.domain, self.records, tuple(self.connections), self.cached, self.seq
        )


def mx_choices(events: Sequence[Event]) -> tuple[MxChoice, ...]:
    """Every MX lookup a sender made to route mail, with the connections that followed it.

    Policy checks on a receiving host may look up MX records too (SPF's ``mx`` mechanism);
    those are filed under the filtering stage and are not route choices.
    """
    latest: dict[tuple[str, str], _OpenChoice] = {}  # per (host, domain): its newest answer
    choices: list[_OpenChoice] = []
    for event in events:
        if isinstance(event, DnsAnswer):
            if event.side == Side.SERVER or event.stage != Stage.DNS:
                continue
            if event.qtype.upper() != "MX":
                continue
            domain = _host_name(event.qname)
            choice = _OpenChoice(event.host, domain, mx_records(event), event.cached, event.seq)
            latest[event.host, domain] = choice
            choices.append(choice)
        elif isinstance(event, TcpConnect) and event.side == Side.CLIENT:
            target = _host_name(event.dst_host)
            choice = next((c for c in latest.values() if c.routes_to(event.host, target)), None)
            if choice is not None:
                connection = MxConnection(target, event.ok, event.session, event.seq, event.error)
                choice.connections.append(connection)
    return tuple(choice.freeze() for choice in choices)
