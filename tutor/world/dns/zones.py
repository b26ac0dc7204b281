"""Assemble the world's DNS zones from a scenario's zone text (dnspython does all the parsing).

A teacher writes only what a lesson is about (the MX records, an SPF TXT, ...). Everything a
real zone also needs is added here so the server can answer like a real authoritative one:
``${host.name}`` placeholders become that host's address, a default SOA and NS are added when
the text has none, every host of the world gets an A record in the zone that covers its name,
and the DNS server's own name is served (from an extra zone if no scenario zone covers it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

from tutor.errors import UserError
from tutor.policy.dnsapi import ZoneFileError, zone_from_text
from tutor.scenario import Scenario
from tutor.world.sender.signing import publish_dkim_keys

DEFAULT_TTL = 3600  # applies to records written without a TTL (a zone file's $TTL)
SOA_TIMERS = "1 7200 3600 1209600 300"  # serial refresh retry expire minimum (negative TTL)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class ZoneError(UserError):
    """A scenario's zone text is malformed; str() is one line naming the zone, line and problem."""


@dataclass(frozen=True)
class _Named:
    """A name the world must be able to resolve to an address (a host or the DNS server)."""

    name: dns.name.Name
    address: str


def build_zones(scenario: Scenario) -> list[dns.zone.Zone]:
    """The zones the world's DNS server is authoritative for, complete and ready to serve.

    Raises ZoneError for bad zone text, an unknown ``${...}`` placeholder, or a zone declared
    twice.
    """
    addresses = {host.name: host.address for host in scenario.hosts}
    addresses.setdefault(scenario.dns_name, scenario.dns_address)
    dns_name = dns.name.from_text(scenario.dns_name)

    zones: list[dns.zone.Zone] = []
    for spec in scenario.zones:
        origin = dns.name.from_text(spec.origin)
        if any(zone.origin == origin for zone in zones):
            raise ZoneError(_where(scenario, spec.origin, 0, "", "zone is declared twice"))
        text = _substitute(scenario, spec.origin, spec.text, addresses)
        zone = _parse(scenario, spec.origin, text, spec.text)
        _add_default_soa_and_ns(zone, dns_name)
        zones.append(zone)

    if _covering_zone(zones, dns_name) is None:
        extra = dns.zone.Zone(dns_name.parent(), relativize=False)
        _add_default_soa_and_ns(extra, dns_name)
        zones.append(extra)

    named = [_Named(dns.name.from_text(h.name), h.address) for h in scenario.hosts]
    named.append(_Named(dns_name, scenario.dns_address))
    for item in named:
        zone = _covering_zone(zones, item.name)
        if zone is not None:
            _add_address(zone, item)
    publish_dkim_keys(scenario, zones)  # selector._domainkey TXT of signing hosts (issue 4)
    return zones


def zone_file_text(zones: list[dns.zone.Zone]) -> str:
    """Every zone in one master file, exactly as the world serves it (addresses filled in,
    DKIM keys published): what `smtp-tutor check ... --zone` reads for offline checks."""
    parts = ["; The zones of this world's DNS server, as served (smtp-tutor)."]
    for zone in zones:
        assert zone.origin is not None
        parts.append(f"\n$ORIGIN {zone.origin.to_text()}")
        parts.append(zone.to_text(sorted=True, relativize=True, want_origin=False).rstrip())
    return "\n".join(parts) + "\n"


def _substitute(scenario: Scenario, origin: str, text: str, addresses: dict[str, str]) -> str:
    """Replace ``${host.name}`` with that host's address; an unknown name is a ZoneError."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1).strip().lower().rstrip(".")
        if key in addresses:
            return addresses[key]
        line = text.count("\n", 0, match.start()) + 1
        known = ", ".join(sorted(addresses))
        problem = f"unknown host in {match.group(0)}; hosts of this world: {known}"
        raise ZoneError(_where(scenario, origin, line, _line_text(text, line), problem))

    return _PLACEHOLDER.sub(replace, text)


def _parse(scenario: Scenario, origin: str, text: str, written: str) -> dns.zone.Zone:
    """Parse zone text with absolute names, a default TTL and no $INCLUDE (zones are data).

    ``written`` is the text before substitution (same lines), quoted in errors because it is
    what the teacher sees in the scenario file.
    """
    try:
        return zone_from_text(text, origin=origin, filename="zone")
    except ZoneFileError as exc:
        quoted = _line_text(written, exc.line)
        raise ZoneError(_where(scenario, origin, exc.line, quoted, exc.problem)) from None


def _add_default_soa_and_ns(zone: dns.zone.Zone, dns_name: dns.name.Name) -> None:
    """Give the zone the SOA and NS every real zone has, unless the text wrote its own."""
    origin = zone.origin
    assert origin is not None
    node = zone.find_node(origin, create=True)
    if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA) is None:
        soa = f"{dns_name} hostmaster.{origin} {SOA_TIMERS}"
        _add(zone, origin, dns.rdatatype.SOA, soa)
    if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is None:
        _add(zone, origin, dns.rdatatype.NS, dns_name.to_text())


def _add_address(zone: dns.zone.Zone, item: _Named) -> None:
    """Publish a host's A record unless the zone already says something about that name."""
    node = zone.get_node(item.name)
    if node is not None and (
        node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.A) is not None
        or node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) is not None
    ):
        return  # the teacher's record wins; a CNAME owner may not have other data
    _add(zone, item.name, dns.rdatatype.A, item.address)


def _add(
    zone: dns.zone.Zone, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, text: str
) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)
    rdataset = zone.find_rdataset(name, rdtype, create=True)
    rdataset.add(rdata, DEFAULT_TTL)


def _covering_zone(zones: list[dns.zone.Zone], name: dns.name.Name) -> dns.zone.Zone | None:
    """The most specific zone whose origin is ``name`` or one of its ancestors."""
    best: dns.zone.Zone | None = None
    for zone in zones:
        origin = zone.origin
        assert origin is not None
        if name.is_subdomain(origin) and (best is None or len(origin) > len(best.origin or ())):
            best = zone
    return best


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _where(scenario: Scenario, origin: str, line: int, line_text: str, problem: str) -> str:
    """One line for the user: file:line when the bad line can be found in the scenario file."""
    file_line = _file_line(scenario.source, origin, line_text) if line_text else 0
    prefix = (
        f"{scenario.source}:{file_line}: "
        if file_line
        else (f"{scenario.source}: " if scenario.source else "")
    )
    at = f"zone {origin}, line {line} of its text" if line else f"zone {origin}"
    quoted = f" (line: {line_text})" if line_text else ""
    return f"{prefix}{at}: {problem}{quoted}"


def _file_line(source: Path | None, origin: str, line_text: str) -> int:
    """Best effort: the line of the scenario file holding ``line_text`` of the zone ``origin``."""
    if source is None:
        return 0
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    origin_pattern = re.compile(rf"^\s*origin\s*=\s*[\"']{re.escape(origin)}\.?[\"']", re.I)
    start = next((n for n, raw in enumerate(lines) if origin_pattern.match(raw)), None)
    if start is None:
        return 0
    for number in range(start + 1, len(lines)):
        if lines[number].strip() == line_text:
            return number + 1
        if lines[number].strip().startswith("[["):
            break
    return 0
