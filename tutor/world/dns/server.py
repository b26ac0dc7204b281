"""The world's authoritative DNS server: UDP and TCP on loopback, answering from dnspython zones.

It answers the way an authoritative server such as BIND or NSD does, because learners will
compare it with dig output from the real Internet: AA on answers from its zones, NXDOMAIN and
NODATA with the zone's SOA in the authority section (RFC 2308, the SOA's TTL capped by its
MINIMUM), REFUSED for names outside its zones (it is not a recursive resolver), FORMERR for
garbage, NOTIMP for opcodes other than QUERY, and TC with empty sections when a UDP answer does
not fit 512 bytes or the EDNS size the client advertised (RFC 1035 4.2.1, RFC 6891). CNAMEs
inside a zone are followed; the A/AAAA of MX and NS targets go into the additional section.
Not supported (no lesson needs them yet): delegations below a zone apex, wildcards, zone
transfers (AXFR/IXFR are REFUSED), DNSSEC.

Every query received and every reply sent is published as a server-side DnsQuery/DnsAnswer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from tutor.trace import DnsAnswer, DnsQuery, Side, Stage
from tutor.world.context import WorldContext
from tutor.world.network import ensure_loopback, free_port_pair

UDP_PLAIN_LIMIT = 512  # RFC 1035 4.2.1: a UDP answer without EDNS fits in 512 bytes
EDNS_PAYLOAD = 1232  # what we advertise and honour at most (DNS flag day 2020 value)
TCP_LIMIT = 65535  # the 2-byte length prefix of DNS over TCP (RFC 1035 4.2.2)
TCP_IDLE_SECONDS = 10.0  # close idle TCP clients, as real servers do (RFC 7766 6.2.3)
MAX_CNAME_CHAIN = 8
HEADER_SIZE = 12
_TARGET_TYPES = (dns.rdatatype.MX, dns.rdatatype.NS, dns.rdatatype.SRV)
_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@dataclass(frozen=True)
class Peer:
    """Who sent a query and over which transport (for the trace and error notes)."""

    address: str
    port: int
    transport: str  # "udp" | "tcp"

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


class Authority:
    """The answering logic for a set of zones, independent of any socket (easy to reason about)."""

    def __init__(self, zones: Iterable[dns.zone.Zone]) -> None:
        # most specific origin first, so a child zone wins over its parent
        self.zones = sorted(zones, key=lambda zone: len(zone.origin or ()), reverse=True)

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        for zone in self.zones:
            if zone.origin is not None and name.is_subdomain(zone.origin):
                return zone
        return None

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        """The full (not yet size-limited) response to a parsed query."""
        response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
        if query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)  # RFC 6891 6.1.3: we speak EDNS version 0
            return response
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        zone = self.zone_for(question.name)
        if (
            zone is None
            or question.rdclass != dns.rdataclass.IN
            or question.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
        ):
            response.set_rcode(dns.rcode.REFUSED)  # not ours: an authoritative server refuses
            return response
        response.flags |= dns.flags.AA
        self._answer(response, zone, question.name, question.rdtype)
        self._add_additional(response)
        return response

    def _answer(
        self,
        response: dns.message.Message,
        zone: dns.zone.Zone,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
    ) -> None:
        name = qname
        seen = {name}
        for _ in range(MAX_CNAME_CHAIN):
            node = zone.get_node(name)
            if node is None:
                if not _has_descendants(zone, name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                # else an empty non-terminal: the name exists, it just has no data (NODATA)
                self._add_soa(response, zone)
                return
            if rdtype == dns.rdatatype.ANY:
                for rdataset in node.rdatasets:
                    response.answer.append(_rrset(name, rdataset))
                return
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                self._add_soa(response, zone)  # NODATA
                return
            response.answer.append(_rrset(name, cname))
            target = cname[0].target
            if target in seen or zone.origin is None or not target.is_subdomain(zone.origin):
                return  # the client follows a CNAME that leaves the zone (or loops) itself
            seen.add(target)
            name = target

    def _add_soa(self, response: dns.message.Message, zone: dns.zone.Zone) -> None:
        assert zone.origin is not None
        soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is None:
            return
        rrset = _rrset(zone.origin, soa)
        rrset.ttl = min(soa.ttl, soa[0].minimum)  # RFC 2308 3: the negative-caching TTL
        response.authority.append(rrset)

    def _add_additional(self, response: dns.message.Message) -> None:
        """Addresses of MX/NS/SRV targets we know, saving the client a round trip."""
        present = {(rrset.name, rrset.rdtype) for rrset in response.answer}
        for rrset in list(response.answer):
            if rrset.rdtype not in _TARGET_TYPES:
                continue
            for rdata in rrset:
                target = rdata.exchange if rrset.rdtype == dns.rdatatype.MX else rdata.target
                zone = self.zone_for(target)
                if zone is None:
                    continue
                for rdtype in _ADDRESS_TYPES:
                    if (target, rdtype) in present:
                        continue
                    rdataset = zone.get_rdataset(target, rdtype)
                    if rdataset is not None:
                        response.additional.append(_rrset(target, rdataset))
                        present.add((target, rdtype))


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))


def _has_descendants(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    return any(owner != name and owner.is_subdomain(name) for owner in zone.nodes)


def to_wire_limited(response: dns.message.Message, limit: int) -> tuple[bytes, bool]:
    """Render within ``limit`` bytes: drop the additional section first, else set TC.

    RFC 2181 9: TC means required data did not fit, so losing only additional data is not a
    truncation. A truncated answer carries no records at all, so the client retries over TCP.
    """
    with contextlib.suppress(dns.exception.TooBig):
        return response.to_wire(max_size=limit), False
    if response.additional:
        response.additional = []
        with contextlib.suppress(dns.exception.TooBig):
            return response.to_wire(max_size=limit), False
    response.flags |= dns.flags.TC
    response.answer = []
    response.authority = []
    response.additional = []
    return response.to_wire(max_size=limit), True


def udp_limit(query: dns.message.Message) -> int:
    """What fits in one UDP reply to this query: 512, or the EDNS size (capped by ours)."""
    if query.edns < 0:
        return UDP_PLAIN_LIMIT
    return max(UDP_PLAIN_LIMIT, min(query.payload, EDNS_PAYLOAD))


def rrset_lines(rrsets: Iterable[dns.rrset.RRset]) -> tuple[str, ...]:
    """Records as zone-file lines: ``example.net. 3600 IN MX 10 mx1.example.net.``."""
    lines: list[str] = []
    for rrset in rrsets:
        lines.extend(rrset.to_text().splitlines())
    return tuple(lines)


def flag_names(message: dns.message.Message) -> tuple[str, ...]:
    """Header flags as dig prints them: ("qr", "aa", "rd")."""
    return tuple(dns.flags.to_text(message.flags).lower().split())


def explain_key(rcode: str, *, truncated: bool = False, nodata: bool = False) -> str:
    """The explanation key views use to annotate a DNS answer."""
    if truncated:
        return "dns.truncated"
    if nodata:
        return "dns.nodata"
    return f"dns.{rcode.lower()}"


def _qtype_text(rdtype: int) -> str:
    return dns.rdatatype.to_text(rdtype)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self._server.handle(data, Peer(addr[0], addr[1], "udp"))
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable from a client that already left; nothing to do
        pass


class DnsServer:
    """An authoritative DNS server for the world's zones on one loopback address and port.

    ``port`` 0 picks a port free for both UDP and TCP (handy in tests); the world normally
    passes the port it allocated in its NetworkPlan.
    """

    def __init__(
        self,
        ctx: WorldContext,
        zones: Iterable[dns.zone.Zone],
        name: str,
        bind_address: str,
        port: int,
    ) -> None:
        self.ctx = ctx
        self.authority = Authority(zones)
        self.name = name
        self.bind_address = ensure_loopback(bind_address)
        self.port = port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def address(self) -> str:
        """``address:port`` as it appears in the trace."""
        return f"{self.bind_address}:{self.port}"

    async def start(self) -> None:
        if self.port == 0:
            self.port = free_port_pair(self.bind_address)
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.bind_address, self.port)
        )
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, self.bind_address, self.port)
        except OSError:
            self._udp.close()
            self._udp = None
            raise

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            # Python 3.11's wait_closed does not wait for open connections: end them here.
            # Aborting (not cancelling) lets each handler see EOF and finish normally; a
            # cancelled handler makes asyncio's streams log a spurious error on 3.11.
            for writer in list(self._tcp_clients.values()):
                writer.transport.abort()
            await asyncio.gather(*self._tcp_clients, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ transports

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tcp_clients[task] = writer
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = Peer(str(peername[0]), int(peername[1]), "tcp")
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_SECONDS):  # not wait_for: see client.py
                    prefix = await reader.readexactly(2)
                async with asyncio.timeout(TCP_IDLE_SECONDS):
                    data = await reader.readexactly(int.from_bytes(prefix, "big"))
                reply = self.handle(data, peer)
                if reply is None:
                    break  # nothing sensible to say; closing tells the client at once
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # the client went away or idled out: normal ends of a DNS/TCP connection
        finally:
            self._tcp_clients.pop(task, None)
            writer.close()

    # ------------------------------------------------------------------ one message

    def handle(self, wire: bytes, peer: Peer) -> bytes | None:
        """The reply bytes for one received message, or None to stay silent.

        Never raises: a malformed or hostile packet gets FORMERR (or silence when it is too
        short to have an ID to answer to) and the server keeps serving.
        """
        try:
            return self._handle(wire, peer)
        except Exception as exc:  # last line of defence: one bad packet must not kill the server
            self._note(f"internal error answering {peer} ({type(exc).__name__}: {exc})", "error")
            return self._header_only_reply(wire, dns.rcode.SERVFAIL, peer)

    def _handle(self, wire: bytes, peer: Peer) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception as exc:  # dnspython raises many types for malformed input
            self._note(
                f"malformed DNS message ({len(wire)} bytes) from {peer} over {peer.transport}: "
                f"{type(exc).__name__}",
                "warning",
            )
            return self._header_only_reply(wire, dns.rcode.FORMERR, peer)
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: answering it could start a packet loop
        question = query.question[0] if query.question else None
        # (an RRset is falsy when it has no rdatas, and a question never has any)
        qname = question.name.to_text() if question is not None else ""
        qtype = _qtype_text(question.rdtype) if question is not None else ""
        self._publish_query(qname, qtype, peer, query.id)
        response = self.authority.respond(query)
        limit = udp_limit(query) if peer.transport == "udp" else TCP_LIMIT
        try:
            reply, truncated = to_wire_limited(response, limit)
        except dns.exception.TooBig:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            reply, truncated = response.to_wire(), False
        self._publish_answer(qname, qtype, peer, response, truncated)
        return reply

    def _header_only_reply(self, wire: bytes, rcode: dns.rcode.Rcode, peer: Peer) -> bytes | None:
        """A reply with just a header (ID and opcode echoed), as servers send for FORMERR."""
        if len(wire) < HEADER_SIZE:
            return None  # no complete header: there is no ID to answer to
        query_id = int.from_bytes(wire[0:2], "big")
        flags = int.from_bytes(wire[2:4], "big")
        if flags & dns.flags.QR:
            return None
        reply = dns.message.Message(id=query_id)
        reply.flags = dns.flags.QR | (flags & dns.flags.RD)
        reply.set_opcode(dns.opcode.from_flags(flags))
        reply.set_rcode(rcode)
        self._publish_answer("", "", peer, reply, False)
        return reply.to_wire()

    # ------------------------------------------------------------------ trace

    def _publish_query(self, qname: str, qtype: str, peer: Peer, query_id: int) -> None:
        self.ctx.publish(
            DnsQuery(
                host=self.name,
                stage=Stage.DNS,
                side=Side.SERVER,
                explain="dns.query",
                qname=qname,
                qtype=qtype,
                server=self.address,
                transport=peer.transport,
                query_id=query_id,
            )
        )

    def _publish_answer(
        self, qname: str, qtype: str, peer: Peer, response: dns.message.Message, truncated: bool
    ) -> None:
        rcode = dns.rcode.to_text(response.rcode())
        nodata = rcode == "NOERROR" and not response.answer and not truncated and bool(qtype)
        self.ctx.publish(
            DnsAnswer(
                host=self.name,
                stage=Stage.DNS,
                side=Side.SERVER,
                explain=explain_key(rcode, truncated=truncated, nodata=nodata),
                qname=qname,
                qtype=qtype,
                server=self.address,
                rcode=rcode,
                flags=flag_names(response),
                answer=rrset_lines(response.answer),
                authority=rrset_lines(response.authority),
                additional=rrset_lines(response.additional),
                transport=peer.transport,
                query_id=response.id,
            )
        )

    def _note(self, text: str, level: str) -> None:
        self.ctx.note(text, host=self.name, stage=Stage.DNS, side=Side.SERVER, level=level)
