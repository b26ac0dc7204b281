"""DNS blocklists (RFC 5782): is the connecting client's address listed, and why.

A DNSBL is an ordinary DNS zone. To ask whether 192.0.2.7 is listed in ``bl.example`` a
receiver reverses the address's octets under the zone — ``7.2.0.192.bl.example`` — and asks
for an A record (§2.1). No such name means "not listed"; an answer in 127.0.0.0/8 means
"listed", and a TXT record at the same name usually says why (§2.1, §2.2). IPv6 addresses are
reversed nibble by nibble (§2.4). An answer outside 127.0.0.0/8 is not a listing: it is the
sign of a broken or wildcarded list, and real receivers ignore it.

Zones are tried in the configured order and the first listing decides, as Postfix's
``reject_rbl_client`` restrictions do; a zone whose lookup fails is skipped (Postfix logs a
warning and carries on). Postfix checks at connect but, with its default
``smtpd_delay_reject = yes``, sends the 554 in reply to RCPT TO — that timing is the
receiver's business; this module only answers "listed or not, and why".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from tutor.policy.verdict import Action, Step, Steps, Verdict

if TYPE_CHECKING:
    from tutor.policy.dnsapi import DnsLookup

LISTED_NETWORK = ipaddress.ip_network("127.0.0.0/8")


class DnsblStatus(StrEnum):
    LISTED = "listed"
    NOT_LISTED = "not-listed"


@dataclass(frozen=True)
class ZoneCheck:
    """The lookup of one address under one blocklist zone."""

    zone: str
    name: str  # the reversed-address name asked, e.g. 7.2.0.192.bl.example
    rcode: str
    addresses: tuple[str, ...] = ()  # A answers
    reason: str = ""  # TXT answer, when listed
    listed: bool = False
    error: str = ""


@dataclass(frozen=True)
class DnsblResult:
    """The verdict of every zone that was asked (stopping at the first listing)."""

    ip: str
    checks: tuple[ZoneCheck, ...] = ()
    steps: tuple[Step, ...] = ()

    @property
    def listing(self) -> ZoneCheck | None:
        """The zone check that listed the address, if any."""
        return next((c for c in self.checks if c.listed), None)

    @property
    def listed(self) -> bool:
        return self.listing is not None

    @property
    def status(self) -> DnsblStatus:
        return DnsblStatus.LISTED if self.listed else DnsblStatus.NOT_LISTED


def reversed_name(ip: str, zone: str) -> str:
    """The DNSBL query name: the address reversed under ``zone`` (RFC 5782 §2.1, §2.4)."""
    address = ipaddress.ip_address(ip)
    zone = zone.strip().rstrip(".")
    if address.version == 4:
        return ".".join(reversed(str(address).split("."))) + f".{zone}"
    # reverse_pointer is "b.a.9.8....ip6.arpa": the nibble form, which is what §2.4 asks.
    return address.reverse_pointer.removesuffix(".ip6.arpa") + f".{zone}"


def _in_listed_range(answer: str) -> bool:
    try:
        return ipaddress.ip_address(answer.strip()) in LISTED_NETWORK
    except ValueError:
        return False


async def _check_zone(ip: str, zone: str, lookup: DnsLookup, steps: Steps) -> ZoneCheck:
    name = reversed_name(ip, zone)
    try:
        answer = await lookup.query(name, "A")
    except Exception as exc:  # a resolver failure skips the zone, as Postfix does
        steps.add(f"A {name} -> lookup failed ({type(exc).__name__}); zone skipped")
        return ZoneCheck(zone=zone, name=name, rcode="TIMEOUT", error=str(exc))
    rcode = str(answer.rcode)
    addresses = tuple(answer.records)
    if rcode not in ("NOERROR", "NXDOMAIN"):
        steps.add(f"A {name} -> {rcode}: the list could not be asked; zone skipped")
        return ZoneCheck(zone=zone, name=name, rcode=rcode, error=rcode)
    if not addresses:
        steps.add(f"A {name} -> {rcode}: {ip} is not listed in {zone}")
        return ZoneCheck(zone=zone, name=name, rcode=rcode)
    codes = [a for a in addresses if _in_listed_range(a)]
    if not codes:
        steps.add(
            f"A {name} -> {', '.join(addresses)}: outside 127.0.0.0/8, not a listing "
            "(a broken or wildcarded list); ignored"
        )
        return ZoneCheck(zone=zone, name=name, rcode=rcode, addresses=addresses)
    steps.add(f"A {name} -> {', '.join(addresses)}: {ip} IS listed in {zone}")
    reason = ""
    try:
        txt = await lookup.query(name, "TXT")
        reason = " ".join(txt.records)
        steps.add(f'TXT {name} -> "{reason}"' if reason else f"TXT {name} -> no reason given")
    except Exception as exc:  # the listing stands without its reason
        steps.add(f"TXT {name} -> lookup failed ({type(exc).__name__}); no reason available")
    return ZoneCheck(
        zone=zone, name=name, rcode=rcode, addresses=addresses, reason=reason, listed=True
    )


async def check(ip: str, zones: Sequence[str], lookup: DnsLookup) -> DnsblResult:
    """Look ``ip`` up in each of ``zones`` in order; the first listing ends the search."""
    steps = Steps()
    if not zones:
        steps.add("no blocklist configured")
        return DnsblResult(ip=ip, steps=steps.freeze())
    steps.add(f"client address {ip}; blocklists, in order: {', '.join(zones)}")
    checks: list[ZoneCheck] = []
    for zone in zones:
        result = await _check_zone(ip, zone, lookup, steps)
        checks.append(result)
        if result.listed:
            break
    listing = next((c for c in checks if c.listed), None)
    steps.add(
        f"result: listed in {listing.zone}: the connection will be refused"
        if listing
        else "result: not listed in any blocklist"
    )
    return DnsblResult(ip=ip, checks=tuple(checks), steps=steps.freeze())


def reject_reply(ip: str, zone: str, reason: str = "") -> str:
    """Postfix's default_rbl_reply for a client listed in ``zone``."""
    tail = f"; {reason}" if reason else ""
    return f"554 5.7.1 Service unavailable; Client host [{ip}] blocked using {zone}{tail}"


def dnsbl_verdict(result: DnsblResult) -> Verdict:
    """Listed -> reject with Postfix's 554 5.7.1 reply; not listed -> carry on."""
    listing = result.listing
    return Verdict(
        check="dnsbl",
        result=str(result.status),
        reasons=Verdict.reasons_from(result.steps),
        action=Action.REJECT if listing else Action.NONE,
        reply=reject_reply(result.ip, listing.zone, listing.reason) if listing else "",
        extra={
            "zone": listing.zone if listing else "",
            "reason": listing.reason if listing else "",
        },
    )
