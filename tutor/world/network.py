"""The world's address plan and the loopback-only guard.

Every simulated host has its own address that its peers really see. On Linux the whole of
127.0.0.0/8 is routed to the loopback interface, so each host binds (and connects from) its own
127.0.0.x address. Where only 127.0.0.1 exists (macOS without aliases, some containers), every
host shares 127.0.0.1 and the plan tells hosts apart by the source port of each connection it
made: the DNS still publishes the per-host addresses, and the receiver maps a peer back to the
host that made the connection. Nothing ever binds a non-loopback address.

Real MTAs all talk to port 25. Here every listener gets a free port picked at start (so many
worlds can run side by side on one shared machine), and the plan is the world's routing table:
address of a host -> the port its SMTP service really listens on.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    """A listening service of a host; the names follow /etc/services."""

    SMTP = "smtp"  # MX / relay, port 25 in the real world
    SUBMISSION = "submission"  # 587, STARTTLS then AUTH
    SUBMISSIONS = "submissions"  # 465, implicit TLS then AUTH
    DNS = "domain"  # 53, UDP and TCP


REAL_WORLD_PORTS = {
    Service.SMTP: 25,
    Service.SUBMISSION: 587,
    Service.SUBMISSIONS: 465,
    Service.DNS: 53,
}


class NotInWorldError(Exception):
    """The sender was asked to connect somewhere that is not a host of this world."""


class LoopbackOnlyError(Exception):
    """Something tried to bind or use an address outside 127.0.0.0/8 (or ::1)."""


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def ensure_loopback(address: str) -> str:
    """Return the address if it is loopback, else raise LoopbackOnlyError."""
    if not is_loopback(address):
        raise LoopbackOnlyError(
            f"refusing to use {address}: smtp-tutor only ever binds loopback addresses"
        )
    return address


def distinct_loopback_available() -> bool:
    """True when addresses other than 127.0.0.1 can be bound (Linux: always)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError:
        return False
    finally:
        probe.close()
    return True


# Ports this process has handed out: a probed port is free only until someone binds it, so
# never hand the same one out twice (two services of one world, or two worlds in one tutor).
_HANDED_OUT: set[tuple[str, int]] = set()


def free_port(address: str, kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on ``address`` right now (for TCP or UDP) and not yet handed out."""
    ensure_loopback(address)
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((address, 0))
            port = int(probe.getsockname()[1])
        if (address, port) not in _HANDED_OUT:
            _HANDED_OUT.add((address, port))
            return port
    raise OSError(f"no free port on {address}")


def free_port_pair(address: str) -> int:
    """A port free for both TCP and UDP on ``address`` (the DNS server listens on both)."""
    for _ in range(50):
        port = free_port(address, socket.SOCK_DGRAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((address, port))
        except OSError:
            continue
        return port
    raise OSError(f"no port free for both UDP and TCP on {address}")


@dataclass
class HostAddress:
    """One host of the world: its DNS name, the address peers see, where it really binds."""

    name: str
    address: str  # the address published in DNS and seen by peers
    bind_address: str  # the address its sockets really use (== address unless in fallback)
    ports: dict[Service, int] = field(default_factory=dict)


@dataclass
class NetworkPlan:
    """Addresses and ports of every host; the guard every outgoing connection goes through."""

    hosts: dict[str, HostAddress] = field(default_factory=dict)
    shared_loopback: bool = False  # fallback mode: everything really on 127.0.0.1
    # (bind address, local port) of each outgoing connection -> (host name, session id)
    _outgoing: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, wanted: dict[str, str], *, shared_loopback: bool | None = None) -> NetworkPlan:
        """Plan hosts from name -> wanted address; every address must be loopback."""
        if shared_loopback is None:
            forced = os.environ.get("SMTP_TUTOR_SHARED_LOOPBACK", "") not in ("", "0")
            shared_loopback = forced or not distinct_loopback_available()
        plan = cls(shared_loopback=shared_loopback)
        for name, address in wanted.items():
            ensure_loopback(address)
            bind = "127.0.0.1" if shared_loopback else address
            plan.hosts[name] = HostAddress(name=name, address=address, bind_address=bind)
        return plan

    def host(self, name: str) -> HostAddress:
        return self.hosts[name]

    def allocate_port(self, name: str, service: Service) -> int:
        """Pick a free port for one service of one host and remember it."""
        host = self.hosts[name]
        port = (
            free_port_pair(host.bind_address)
            if service is Service.DNS
            else free_port(host.bind_address)
        )
        host.ports[service] = port
        return port

    def by_address(self, address: str) -> HostAddress | None:
        """The host that owns a published address, if any."""
        for host in self.hosts.values():
            if host.address == address:
                return host
        return None

    def route(self, address: str, service: Service = Service.SMTP) -> tuple[HostAddress, str, int]:
        """Where a connection to ``address`` for ``service`` really goes.

        Raises NotInWorldError for any address that is not a host of this world, or a host
        without that service: the sender never connects outside the local world.
        """
        host = self.by_address(address)
        if host is None:
            raise NotInWorldError(
                f"{address} is not a host of this mail world; smtp-tutor never delivers outside it"
            )
        port = host.ports.get(service)
        if port is None:
            raise NotInWorldError(f"{host.name} [{address}] has no {service} service in this world")
        return host, host.bind_address, port

    def note_outgoing(self, host_name: str, local: tuple[str, int], session: str = "") -> None:
        """Remember which host (and which traced session) made a connection.

        The server end looks the peer up here: in fallback mode to know who is calling, and
        always to record its side of the connection under the client's session id, so both
        ends of one connection share one session in the trace.
        """
        self._outgoing[(local[0], local[1])] = (host_name, session)

    def session_of_peer(self, peer: tuple[str, int]) -> str:
        """The client's session id for a connection from ``peer`` ('' if not a world client)."""
        return self._outgoing.get((peer[0], peer[1]), ("", ""))[1]

    def forget_outgoing(self, local: tuple[str, int]) -> None:
        self._outgoing.pop((local[0], local[1]), None)

    def identify_peer(self, peer: tuple[str, int]) -> tuple[str, str]:
        """The (host name, published address) a server should see for a connecting peer.

        A peer that is not a host of the world (a student's nc or swaks) keeps its real address
        and is named after it.
        """
        known = self._outgoing.get((peer[0], peer[1]))
        if known is not None:
            host = self.hosts[known[0]]
            return host.name, host.address
        if not self.shared_loopback:
            host = self.by_address(peer[0])
            if host is not None:
                return host.name, host.address
        return f"[{peer[0]}]", peer[0]
