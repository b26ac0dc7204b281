"""The small DNS interface the policy checks use, and its three implementations.

A policy check only needs "ask NAME for TYPE, get an rcode and the records as text". Keeping it
that small lets the same evaluator run in three places:

* ``ResolverLookup`` — inside the world, through the world's resolver and the real DNS server
  on loopback (the resolver publishes DnsQuery/DnsAnswer events, so every lookup is traced);
* ``ZoneLookup`` — the ``check`` command, answering from the learner's zone files directly;
* ``DictLookup`` — the RFC 7208 test suite's ``zonedata`` (including its simulated timeouts).

Record text follows zone-file presentation except for TXT, which is given as the record's
character-strings joined with nothing in between (RFC 7208 §3.3), already unquoted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone
import dns.zonefile


class Rcode(StrEnum):
    """Outcome of one query; TIMEOUT is not a DNS rcode but is what a resolver reports."""

    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"
    TIMEOUT = "TIMEOUT"


@dataclass(frozen=True)
class DnsResult:
    """The answer to one query: its rcode and the records of the asked type, as text."""

    rcode: str
    records: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """True for failures that may go away (SERVFAIL, timeout, ...): SPF's temperror."""
        return self.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN)

    @property
    def is_void(self) -> bool:
        """NXDOMAIN, or NOERROR with no records: what RFC 7208 §4.6.4 calls a void lookup."""
        return not self.is_error and not self.records


class DnsLookup(Protocol):
    """Anything that can answer a DNS question for a policy check."""

    async def query(self, name: str, rdtype: str) -> DnsResult: ...


def txt_text(strings: Iterable[bytes | str]) -> str:
    """Join a TXT record's character-strings as RFC 7208 §3.3 says: no separator.

    Bytes that are not UTF-8 become U+FFFD rather than being dropped, so a record carrying
    them still fails SPF's 7-bit ASCII rule instead of silently changing meaning.
    """
    parts = [s.decode("utf-8", "replace") if isinstance(s, bytes) else s for s in strings]
    return "".join(parts)


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """One record as the text ``DnsResult.records`` carries (TXT joined, others as in a zone)."""
    if rdata.rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return txt_text(rdata.strings)  # type: ignore[attr-defined]
    return rdata.to_text()


# --------------------------------------------------------------------------- the world


class ResolverLookup:
    """Asks the world's resolver (and so the world's DNS server), as host ``host``.

    The resolver publishes the DnsQuery/DnsAnswer events itself, so every lookup an SPF check
    makes appears in the trace under this host and session.
    """

    def __init__(self, world_resolver: Any, host: str, *, session: str = "") -> None:
        self._resolver = world_resolver
        self._host = host
        self._session = session

    async def query(self, name: str, rdtype: str) -> DnsResult:
        from tutor.trace import Stage  # local: keeps this module importable on its own

        resolution = await self._resolver.resolve(
            name, rdtype, host=self._host, session=self._session, stage=Stage.FILTERING
        )
        return resolution_to_result(resolution, rdtype)


def resolution_to_result(resolution: Any, rdtype: str) -> DnsResult:
    """Adapt the world resolver's ``Resolution`` (tutor/world/dns/resolver.py) to a ``DnsResult``.

    Only records of the asked type count (a CNAME the server followed is not an answer).
    BADNAME (the resolver refused to send an invalid name) reads as NXDOMAIN: no such name.
    """
    rcode = str(resolution.rcode).upper()
    if rcode == "BADNAME":
        return DnsResult(Rcode.NXDOMAIN)
    records = tuple(rdata_text(record.rdata) for record in resolution.of_type(rdtype))
    return DnsResult(rcode, records)


# --------------------------------------------------------------------------- zone files


class ZoneLookup:
    """Answers from zones parsed with dnspython, as an authoritative server would.

    Used by ``smtp-tutor check`` with the learner's ``--zone`` files. A name below a zone that
    has no records at all is NXDOMAIN; a name with other records only is NOERROR with no
    answer (NODATA); CNAMEs are followed (loops are SERVFAIL); a name outside every zone is
    REFUSED, like an authoritative-only server.
    """

    def __init__(self, zones: Iterable[dns.zone.Zone]) -> None:
        # the longest origin first, so a child zone wins over its parent
        self._zones = sorted(zones, key=lambda z: len(z.origin or dns.name.root), reverse=True)

    @classmethod
    def from_texts(cls, texts: Sequence[str], *, origin: str = ".") -> ZoneLookup:
        """Parse master-file texts (each may hold several domains with ``$ORIGIN``)."""
        return cls(zone_from_text(t, origin=origin) for t in texts)

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], *, origin: str = ".") -> ZoneLookup:
        """Parse zone files (``check --zone``, which may repeat); errors name file and line."""
        return cls(
            zone_from_text(Path(p).read_text(encoding="utf-8"), origin=origin, filename=str(p))
            for p in paths
        )

    def _node(self, name: dns.name.Name) -> tuple[dns.zone.Zone | None, Any]:
        """The zone covering ``name`` that has a node for it (files may share an origin)."""
        covering = None
        for zone in self._zones:
            if zone.origin is None or not name.is_subdomain(zone.origin):
                continue
            covering = covering or zone
            node = zone.get_node(name)
            if node is not None:
                return zone, node
        return covering, None

    def _exists_below(self, name: dns.name.Name) -> bool:
        """An empty non-terminal: no records here, but names below exist (NOERROR, no data)."""
        return any(n.is_subdomain(name) for zone in self._zones for n in zone.nodes)

    async def query(self, name: str, rdtype: str) -> DnsResult:
        return self.lookup(name, rdtype)

    def lookup(self, name: str, rdtype: str) -> DnsResult:
        """The synchronous answer (the zones are in memory)."""
        try:
            qname = dns.name.from_text(name)
            want = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError):
            return DnsResult(Rcode.NXDOMAIN)  # not a valid name: nothing can exist there
        seen: set[dns.name.Name] = set()
        while True:
            zone, node = self._node(qname)
            if zone is None:
                return DnsResult(Rcode.REFUSED)
            if node is None:
                return DnsResult(Rcode.NOERROR if self._exists_below(qname) else Rcode.NXDOMAIN)
            rdataset = node.get_rdataset(dns.rdataclass.IN, want)
            if rdataset is not None:
                return DnsResult(Rcode.NOERROR, tuple(rdata_text(rd) for rd in rdataset))
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or want == dns.rdatatype.CNAME:
                return DnsResult(Rcode.NOERROR)
            seen.add(qname)
            qname = next(iter(cname)).target  # type: ignore[attr-defined]
            if qname in seen or len(seen) > 16:
                return DnsResult(Rcode.SERVFAIL)


DEFAULT_TTL = 3600  # for files without $TTL: a learner's record set, not a served zone


class ZoneFileError(ValueError):
    """A zone file does not parse; str() is one line: "FILE:LINE: problem"."""

    def __init__(self, filename: str, line: int, problem: str) -> None:
        super().__init__(f"{filename}:{line}: {problem}")
        self.line = line
        self.problem = problem


class _LineTrackingTokenizer(dns.tokenizer.Tokenizer):
    """Remembers the line of the last real token (dnspython reports the line after it)."""

    token_line = 0

    def get(self, want_leading: bool = False, want_comment: bool = False) -> dns.tokenizer.Token:
        replaying = self.ungotten_token is not None
        line = self.line_number
        token = super().get(want_leading, want_comment)
        if not replaying and not token.is_eol_or_eof() and not token.is_whitespace():
            self.token_line = line
        return token


class _WithoutInnerSoa:
    """The zone writer, minus SOA records below the file's origin.

    One file may hold several domains, each with its own SOA (a world's zones as ``--keep``
    writes them, or a learner's real zone files pasted together). dnspython refuses an SOA
    anywhere but the zone apex; no check reads them, so they are left out rather than
    failing the whole file.
    """

    def __init__(self, txn: Any, origin: dns.name.Name | None) -> None:
        self._txn = txn
        self._origin = origin

    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        if rdata.rdtype == dns.rdatatype.SOA and name != self._origin:
            return
        self._txn.add(name, ttl, rdata)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._txn, attribute)


def zone_from_text(text: str, *, origin: str = ".", filename: str = "<zone>") -> dns.zone.Zone:
    """Parse one master file; names relative to ``origin`` (``$ORIGIN`` lines override it).

    With the root as origin a file can hold records of many domains. No SOA/NS is required
    and a missing ``$TTL`` is not an error: a learner's file is a set of records, not a
    served zone. ``$INCLUDE`` is refused (a zone file must not read other files). Raises
    ZoneFileError naming the file and line.
    """
    zone = dns.zone.Zone(dns.name.from_text(origin), relativize=False)
    tokenizer = _LineTrackingTokenizer(text, filename=filename)
    try:
        with zone.writer(True) as txn:
            dns.zonefile.Reader(
                tokenizer,
                dns.rdataclass.IN,
                _WithoutInnerSoa(txn, zone.origin),
                allow_include=False,
                default_ttl=DEFAULT_TTL,
            ).read()
    except dns.exception.DNSException as exc:
        problem = re.sub(r"^.*?:\d+: ", "", str(exc)) or type(exc).__name__
        line = tokenizer.token_line or tokenizer.line_number
        raise ZoneFileError(filename, line, problem) from None
    return zone


# --------------------------------------------------------------------------- the RFC 7208 suite


class DictLookup:
    """Answers from the openspf/RFC 7208 test suite's ``zonedata`` mapping.

    The suite writes records as ``{TYPE: value}`` items (TXT/SPF values a string or a list of
    strings, MX as ``[preference, exchange]``) plus the bare word ``TIMEOUT``. Its conventions,
    as its reference driver implements them:

    * an ``SPF`` record is also served as TXT unless the name has a TXT item of its own
      (``TXT: NONE`` means "no TXT at all", to test SPF-only publishers);
    * ``TIMEOUT`` makes a query time out unless a record of the asked type came before it;
    * a name that is absent is NXDOMAIN; an absent name starting with ``error.`` times out;
    * CNAMEs are followed (a loop is SERVFAIL).

    Timeouts are answered at once with rcode TIMEOUT: nothing here really waits.
    """

    def __init__(self, zonedata: Mapping[str, Sequence[Any]]) -> None:
        self._data: dict[str, list[tuple[str, str] | None]] = {
            _norm(name): _suite_records(items) for name, items in (zonedata or {}).items()
        }
        self.queries: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> DnsResult:
        self.queries.append((name, rdtype))
        return self.lookup(name, rdtype.upper())

    def lookup(self, name: str, rdtype: str, _depth: int = 0) -> DnsResult:
        if _depth > 8:
            return DnsResult(Rcode.SERVFAIL)
        key = _norm(name)
        if key not in self._data:
            return DnsResult(Rcode.TIMEOUT if key.startswith("error.") else Rcode.NXDOMAIN)
        found: list[str] = []
        for item in self._data[key]:
            if item is None:  # TIMEOUT
                if not found:
                    return DnsResult(Rcode.TIMEOUT)
                break
            kind, value = item
            if kind == rdtype:
                found.append(value)
            elif kind == "CNAME" and rdtype != "CNAME":
                return self.lookup(value, rdtype, _depth + 1)
        return DnsResult(Rcode.NOERROR, tuple(found))


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


def _suite_records(items: Sequence[Any]) -> list[tuple[str, str] | None]:
    records: list[tuple[str, str] | None] = []
    spf_as_txt: list[tuple[str, str] | None] = []
    has_txt = False
    for item in items or ():
        if item == "TIMEOUT":
            records.append(None)
            continue
        for kind, value in dict(item).items():
            kind = str(kind).upper()
            if kind in ("TXT", "SPF"):
                strings = [value] if isinstance(value, str) else list(value or [])
                if kind == "TXT":
                    has_txt = True
                    if strings == ["NONE"]:
                        continue
                text = txt_text(strings)
                records.append((kind, text))
                if kind == "SPF":
                    spf_as_txt.append(("TXT", text))
            elif kind == "MX":
                preference, exchange = value
                records.append(("MX", f"{preference} {exchange or '.'}"))
            elif kind == "AAAA":
                records.append(("AAAA", str(ipaddress.IPv6Address(str(value)))))
            else:
                records.append((kind, str(value)))
    if not has_txt:
        records.extend(spf_as_txt)
    return records
