"""The world's only resolver: asks the world's DNS server (never any other), caches by TTL.

It behaves like the stub resolver an MTA such as Postfix uses: one question over UDP, retried
over TCP when the answer comes back truncated, a short timeout, and a cache that honours TTLs
(positive answers for their TTL, NXDOMAIN/NODATA for the SOA's negative TTL, RFC 2308) on the
world's clock, so simulated days of retries see records expire. Every lookup is published as a
client-side DnsQuery + DnsAnswer; a cache hit is published too (transport "cache",
``cached=True``) so the trace tells the whole story of what the host learnt and when.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tutor.trace import DnsAnswer, DnsQuery, Side, Stage
from tutor.world.context import WorldContext
from tutor.world.dns.server import explain_key, flag_names

DEFAULT_TIMEOUT = 2.0  # seconds per attempt; the world's server answers in microseconds
TIMEOUT = "TIMEOUT"  # not an rcode: no answer arrived (what dig calls "timed out")
BADNAME = "BADNAME"  # not sent at all: the name is not a valid domain name
CACHE = "cache"  # the transport of an answer served from the cache
_PERMANENT = ("NOERROR", "NXDOMAIN", BADNAME)


@dataclass(frozen=True)
class MxAnswer:
    """A domain's mail exchangers, and whether they are the implicit MX (no MX record)."""

    exchanges: list[tuple[int, str]]
    implicit: bool = False


class DnsTemporaryError(Exception):
    """A lookup failed in a way that may succeed later (SERVFAIL, REFUSED, timeout, ...).

    Raised by the convenience lookups (mx, addresses, txt) so a caller cannot mistake "the
    DNS did not answer" for "the name has no records": an MTA defers on this (Postfix: 4.4.3
    "Host or domain name not found. Name service error ... try again"), SPF says temperror.
    """

    permanent = False  # callers classify lookup errors by this (the MTA does)

    def __init__(self, resolution: Resolution) -> None:
        super().__init__(
            f"DNS lookup of {resolution.qname} {resolution.rdtype} failed: {resolution.rcode}"
        )
        self.resolution = resolution


@dataclass(frozen=True)
class Record:
    """One resource record of an answer, with its dnspython rdata for typed access."""

    name: str  # owner name, absolute ("mx1.example.net.")
    ttl: int
    rdtype: str  # "MX", "A", "CNAME", ...
    text: str  # the rdata as zone-file text ("10 mx1.example.net.")
    rdata: dns.rdata.Rdata = field(compare=False, repr=False)

    @property
    def line(self) -> str:
        """The record as one zone-file line, as in dig output."""
        return f"{self.name} {self.ttl} IN {self.rdtype} {self.text}"


@dataclass(frozen=True)
class Resolution:
    """The outcome of one lookup: the rcode (or TIMEOUT/BADNAME) and the records of each section."""

    qname: str  # absolute ("example.net.")
    rdtype: str
    rcode: str
    records: tuple[Record, ...] = ()  # the answer section (CNAMEs included)
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    flags: tuple[str, ...] = ()
    cached: bool = False
    transport: str = "udp"
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR"

    @property
    def nxdomain(self) -> bool:
        """The name does not exist at all."""
        return self.rcode == "NXDOMAIN"

    @property
    def nodata(self) -> bool:
        """The name exists but has no record of the type asked for."""
        return self.ok and not self.of_type(self.rdtype)

    @property
    def temporary_failure(self) -> bool:
        """No usable answer now (SERVFAIL, REFUSED, TIMEOUT, ...); asking later may work."""
        return self.rcode not in _PERMANENT

    @property
    def rrsets(self) -> list[dns.rrset.RRset]:
        """The answer section as dnspython RRsets (for code that wants typed rdata)."""
        grouped: dict[tuple[str, str], list[Record]] = {}
        for record in self.records:
            grouped.setdefault((record.name, record.rdtype), []).append(record)
        return [
            dns.rrset.from_rdata_list(name, min(r.ttl for r in group), [r.rdata for r in group])
            for (name, _), group in grouped.items()
        ]

    def of_type(self, rdtype: str) -> list[Record]:
        """Answer records of one type (those at the end of a CNAME chain included)."""
        wanted = rdtype.upper()
        return [record for record in self.records if record.rdtype == wanted]


@dataclass
class _CacheEntry:
    resolution: Resolution
    stored: float  # clock time the answer arrived
    expires: float
    # The answer as last handed out, with its TTLs aged by ``age`` whole seconds, and the
    # answer-section lines of its trace event: a busy MX asks the same cached question many
    # times within one second, and the aged copy is the same every time.
    age: int = -1
    served: Resolution | None = None
    lines: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())


@functools.lru_cache(maxsize=1024)
def _question(qname: str, rdtype: str) -> tuple[dns.name.Name, str] | None:
    """The parsed name and canonical type of a question, or None for a name that cannot be.

    Parsing is pure and the names a world asks about are few, so it is done once per text.
    """
    canonical = dns.rdatatype.to_text(dns.rdatatype.from_text(rdtype.upper()))
    try:
        return dns.name.from_text(qname), canonical
    except dns.exception.DNSException:
        return None


class WorldResolver:
    """The resolver every host of the world uses, pointed only at the world's DNS server.

    ``edns_payload`` None sends plain DNS like the glibc stub resolver Postfix uses by
    default, so a big TXT record (a DKIM key) shows the real UDP-truncation-then-TCP dance.
    """

    def __init__(
        self,
        ctx: WorldContext,
        server_address: str,
        server_port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        edns_payload: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.server_address = server_address
        self.server_port = server_port
        self.timeout = timeout
        self.edns_payload = edns_payload
        self._cache: dict[tuple[dns.name.Name, str], _CacheEntry] = {}

    @property
    def server(self) -> str:
        return f"{self.server_address}:{self.server_port}"

    def flush(self) -> None:
        """Forget every cached answer (a lesson may change a zone and look again)."""
        self._cache.clear()

    # ------------------------------------------------------------------ lookups

    async def resolve(
        self,
        qname: str,
        rdtype: str,
        *,
        host: str,
        session: str = "",
        stage: Stage = Stage.DNS,
    ) -> Resolution:
        """Look up ``qname``/``rdtype`` for ``host``; a failure is an rcode, never an exception."""
        question = _question(qname, rdtype)
        if question is None:
            rdtype = dns.rdatatype.to_text(dns.rdatatype.from_text(rdtype.upper()))
            return Resolution(qname=qname, rdtype=rdtype, rcode=BADNAME, transport="")
        name, rdtype = question
        key = (name, rdtype)
        entry = self._cache.get(key)
        now = self.ctx.clock.now()
        if entry is not None and now < entry.expires:
            return self._from_cache(entry, now, host=host, session=session, stage=stage)
        self._cache.pop(key, None)

        resolution = await self._ask(name, rdtype, host=host, session=session, stage=stage)
        ttl = _cache_ttl(resolution)
        if ttl > 0:
            self._cache[key] = _CacheEntry(resolution, now, now + ttl)
        return resolution

    async def mx(self, domain: str, *, host: str, session: str = "") -> MxAnswer:
        """Mail exchangers of ``domain`` as (preference, host name), most preferred first.

        RFC 5321 5.1: with no MX records but an address, the domain itself is the implicit MX
        with preference 0 (``implicit`` says so); a domain that does not exist (or has neither)
        gives no exchanges. A null MX (RFC 7505, "0 .") comes back as [(0, ".")]: the domain
        accepts no mail. Ties keep a stable order by name so every run of a lesson looks the
        same (RFC 5321 would randomise). Raises DnsTemporaryError when the DNS did not give a
        usable answer.
        """
        resolution = await self.resolve(domain, "MX", host=host, session=session)
        _raise_if_temporary(resolution)
        if resolution.nxdomain or resolution.rcode == BADNAME:
            return MxAnswer([])
        exchanges = [
            (int(record.rdata.preference), _host_name(record.rdata.exchange))
            for record in resolution.of_type("MX")
        ]
        if exchanges:
            return MxAnswer(sorted(exchanges))
        if await self.addresses(domain, host=host, session=session):
            return MxAnswer([(0, domain.lower().rstrip("."))], implicit=True)
        return MxAnswer([])

    async def addresses(self, name: str, *, host: str, session: str = "") -> list[str]:
        """IPv4 then IPv6 addresses of ``name``; [] when it has none or does not exist.

        Raises DnsTemporaryError when the DNS did not give a usable answer.
        """
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            resolution = await self.resolve(name, rdtype, host=host, session=session)
            _raise_if_temporary(resolution)
            if resolution.nxdomain or resolution.rcode == BADNAME:
                break  # the name does not exist: asking for AAAA would only say so again
            found.extend(record.text for record in resolution.of_type(rdtype))
        return found

    async def txt(self, name: str, *, host: str, session: str = "") -> list[str]:
        """TXT records of ``name``, each with its character-strings joined (as SPF/DKIM read them).

        Raises DnsTemporaryError when the DNS did not give a usable answer.
        """
        resolution = await self.resolve(name, "TXT", host=host, session=session)
        _raise_if_temporary(resolution)
        return [
            b"".join(record.rdata.strings).decode("utf-8", "replace")
            for record in resolution.of_type("TXT")
        ]

    # ------------------------------------------------------------------ the wire

    async def _ask(
        self, name: dns.name.Name, rdtype: str, *, host: str, session: str, stage: Stage
    ) -> Resolution:
        query = dns.message.make_query(
            name,
            rdtype,
            use_edns=self.edns_payload is not None,
            payload=self.edns_payload or 0,
        )
        source = self._source_address(host)
        resolution = await self._exchange(query, "udp", source, host, session, stage)
        if "tc" in resolution.flags:
            # the same question (and ID) again over TCP, as the glibc stub resolver does
            resolution = await self._exchange(query, "tcp", source, host, session, stage)
        return resolution

    async def _exchange(
        self,
        query: dns.message.Message,
        transport: str,
        source: str | None,
        host: str,
        session: str,
        stage: Stage,
    ) -> Resolution:
        question = query.question[0]
        qname = question.name.to_text()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self._publish_query(qname, rdtype, transport, query.id, host, session, stage)
        started = time.perf_counter()
        send = dns.asyncquery.udp if transport == "udp" else dns.asyncquery.tcp
        extra = {"ignore_unexpected": True} if transport == "udp" else {}
        try:
            response = await send(
                query,
                self.server_address,
                timeout=self.timeout,
                port=self.server_port,
                source=source,
                **extra,
            )
        except dns.exception.Timeout:
            resolution = Resolution(qname=qname, rdtype=rdtype, rcode=TIMEOUT, transport=transport)
        except (OSError, EOFError, dns.exception.DNSException):
            # connection refused, a reply that does not parse, ...: the server failed us
            resolution = Resolution(
                qname=qname, rdtype=rdtype, rcode="SERVFAIL", transport=transport
            )
        else:
            resolution = _resolution_from(response, qname, rdtype, transport)
        resolution = replace(resolution, elapsed_ms=(time.perf_counter() - started) * 1000)
        self._publish_answer(resolution, host=host, session=session, stage=stage, query_id=query.id)
        return resolution

    def _publish_query(
        self,
        qname: str,
        rdtype: str,
        transport: str,
        query_id: int,
        host: str,
        session: str,
        stage: Stage,
    ) -> None:
        """The question as the asking host sends it (or answers it from its cache)."""
        self.ctx.publish(
            DnsQuery(
                host=host,
                session=session,
                stage=stage,
                side=Side.CLIENT,
                explain="dns.query",
                qname=qname,
                qtype=rdtype,
                server=self.server,
                transport=transport,
                query_id=query_id,
            )
        )

    def _source_address(self, host: str) -> str | None:
        """Send from the host's own loopback address, so the server sees who asks."""
        planned = self.ctx.plan.hosts.get(host)
        return planned.bind_address if planned is not None else None

    # ------------------------------------------------------------------ cache

    def _from_cache(
        self, entry: _CacheEntry, now: float, *, host: str, session: str, stage: Stage
    ) -> Resolution:
        age = int(now - entry.stored)
        if entry.served is None or entry.age != age:
            cached = entry.resolution
            entry.served = replace(
                cached,
                records=_aged(cached.records, age),
                authority=_aged(cached.authority, age),
                additional=_aged(cached.additional, age),
                cached=True,
                transport=CACHE,
                elapsed_ms=0.0,
            )
            entry.age = age
            entry.lines = _lines(entry.served)
        resolution = entry.served
        self._publish_query(resolution.qname, resolution.rdtype, CACHE, 0, host, session, stage)
        self._publish_answer(
            resolution, host=host, session=session, stage=stage, query_id=0, lines=entry.lines
        )
        return resolution

    def _publish_answer(
        self,
        resolution: Resolution,
        *,
        host: str,
        session: str,
        stage: Stage,
        query_id: int,
        lines: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None,
    ) -> None:
        answer, authority, additional = lines or _lines(resolution)
        explain = (
            "dns.cached"
            if resolution.cached
            else explain_key(
                resolution.rcode,
                truncated="tc" in resolution.flags,
                nodata=resolution.nodata,
            )
        )
        self.ctx.publish(
            DnsAnswer(
                host=host,
                session=session,
                stage=stage,
                side=Side.CLIENT,
                explain=explain,
                qname=resolution.qname,
                qtype=resolution.rdtype,
                server=self.server,
                rcode=resolution.rcode,
                flags=resolution.flags,
                answer=answer,
                authority=authority,
                additional=additional,
                transport=resolution.transport,
                query_id=query_id,
                cached=resolution.cached,
                elapsed_ms=round(resolution.elapsed_ms, 3),
            )
        )


def _resolution_from(
    response: dns.message.Message, qname: str, rdtype: str, transport: str
) -> Resolution:
    return Resolution(
        qname=qname,
        rdtype=rdtype,
        rcode=dns.rcode.to_text(response.rcode()),
        records=_records(response.answer),
        authority=_records(response.authority),
        additional=_records(response.additional),
        flags=flag_names(response),
        transport=transport,
    )


def _records(rrsets: Iterable[dns.rrset.RRset]) -> tuple[Record, ...]:
    return tuple(
        Record(
            name=rrset.name.to_text(),
            ttl=rrset.ttl,
            rdtype=dns.rdatatype.to_text(rrset.rdtype),
            text=rdata.to_text(),
            rdata=rdata,
        )
        for rrset in rrsets
        if rrset.rdclass == dns.rdataclass.IN
        for rdata in rrset
    )


def _lines(
    resolution: Resolution,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Each section's records as zone-file lines, as a DnsAnswer event carries them."""
    return (
        tuple(record.line for record in resolution.records),
        tuple(record.line for record in resolution.authority),
        tuple(record.line for record in resolution.additional),
    )


def _aged(records: tuple[Record, ...], age: int) -> tuple[Record, ...]:
    """Records as a cache hands them out: TTLs count down while they sit in the cache."""
    return tuple(replace(record, ttl=max(0, record.ttl - age)) for record in records)


def _cache_ttl(resolution: Resolution) -> int:
    """How long an answer may be reused: its smallest TTL, or the SOA's negative TTL."""
    if "tc" in resolution.flags:
        return 0
    if resolution.ok and resolution.records:
        return min(record.ttl for record in resolution.records)
    if resolution.nxdomain or resolution.nodata:
        for record in resolution.authority:
            if record.rdtype == "SOA":
                return min(record.ttl, int(record.rdata.minimum))  # RFC 2308 5
    return 0  # failures and answers without an SOA are not cached


def _host_name(name: dns.name.Name) -> str:
    text = name.to_text()
    return text if text == "." else text.rstrip(".").lower()


def _raise_if_temporary(resolution: Resolution) -> None:
    if resolution.temporary_failure:
        raise DnsTemporaryError(resolution)
