"""DNSBL: the reversed client address under each blocklist zone, through the world's DNS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tutor.clock import RealClock
from tutor.policy.dnsapi import ResolverLookup, zone_from_text
from tutor.policy.dnsbl import DnsblStatus, check, dnsbl_verdict, reversed_name
from tutor.policy.verdict import Action
from tutor.trace import DnsAnswer, DnsQuery, Side, Trace
from tutor.world.context import WorldContext
from tutor.world.dns import DnsServer, WorldResolver
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan

BL_EXAMPLE = """
$TTL 300
7.2.0.192        IN A   127.0.0.2
7.2.0.192        IN TXT "Listed for sending spam, see http://bl.example/q?192.0.2.7"
9.2.0.192        IN A   127.0.0.4
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2 IN A 127.0.0.2
"""

# A broken list that answers with a public address instead of a 127.0.0.x code.
WILD_EXAMPLE = """
$TTL 300
7.2.0.192        IN A   192.0.2.200
"""


@contextlib.asynccontextmanager
async def world_dns(tmp_path: Path) -> AsyncIterator[tuple[Trace, ResolverLookup]]:
    trace = Trace()
    ctx = WorldContext(
        publish=trace.publish,
        clock=RealClock(),
        plan=NetworkPlan.build({}),
        gate=StepGate(),
        run_dir=tmp_path,
    )
    zones = [
        zone_from_text(BL_EXAMPLE, origin="bl.example"),
        zone_from_text(WILD_EXAMPLE, origin="wild.example"),
        zone_from_text("$TTL 300\n", origin="clean.example"),
    ]
    async with DnsServer(ctx, zones, "ns.example.net", "127.0.0.1", 0) as server:
        resolver = WorldResolver(ctx, "127.0.0.1", server.port)
        yield trace, ResolverLookup(resolver, "mx1.example.net", session="s1")


def client_side(trace: Trace, kind: type[DnsQuery] | type[DnsAnswer]) -> list:
    """The events the receiver's resolver published (the DNS server publishes its own too)."""
    return [e for e in trace.of_type(kind) if e.side is Side.CLIENT]


def test_the_query_name_is_the_address_reversed_under_the_zone() -> None:
    assert reversed_name("192.0.2.7", "bl.example") == "7.2.0.192.bl.example"
    assert reversed_name("192.0.2.7", "bl.example.") == "7.2.0.192.bl.example"
    assert reversed_name("2001:db8::1", "bl.example") == (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"
    )


async def test_listed_client_is_rejected_with_554_and_the_lists_reason(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (trace, lookup):
        result = await check("192.0.2.7", ["bl.example"], lookup)

    assert result.status is DnsblStatus.LISTED
    listing = result.listing
    assert listing is not None
    assert (listing.zone, listing.name, listing.addresses) == (
        "bl.example",
        "7.2.0.192.bl.example",
        ("127.0.0.2",),
    )
    verdict = dnsbl_verdict(result)
    assert verdict.action is Action.REJECT
    assert verdict.reply == (
        "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.example; "
        "Listed for sending spam, see http://bl.example/q?192.0.2.7"
    )
    # The reversed name and its answers are in the trace: A first, then TXT for the reason.
    asked = [(e.qname.rstrip("."), e.qtype) for e in client_side(trace, DnsQuery)]
    assert asked == [("7.2.0.192.bl.example", "A"), ("7.2.0.192.bl.example", "TXT")]
    answers = client_side(trace, DnsAnswer)
    assert answers[0].rcode == "NOERROR" and "127.0.0.2" in answers[0].answer[0]


async def test_listing_without_a_txt_reason_still_rejects(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (_, lookup):
        result = await check("192.0.2.9", ["bl.example"], lookup)
    assert dnsbl_verdict(result).reply == (
        "554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using bl.example"
    )


async def test_client_not_listed_continues(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (trace, lookup):
        result = await check("192.0.2.8", ["bl.example"], lookup)

    assert result.status is DnsblStatus.NOT_LISTED
    assert result.checks[0].rcode == "NXDOMAIN"
    verdict = dnsbl_verdict(result)
    assert (verdict.result, verdict.action, verdict.reply) == ("not-listed", Action.NONE, "")
    assert [e.qtype for e in client_side(trace, DnsQuery)] == ["A"]  # no TXT without a listing


async def test_zones_are_asked_in_order_and_the_first_listing_decides(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (trace, lookup):
        result = await check("192.0.2.7", ["clean.example", "bl.example", "wild.example"], lookup)

    assert [c.zone for c in result.checks] == ["clean.example", "bl.example"]
    assert result.listing is not None and result.listing.zone == "bl.example"
    assert not any("wild.example" in e.qname for e in trace.of_type(DnsQuery))


async def test_an_answer_outside_127_0_0_0_8_is_not_a_listing(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (_, lookup):
        result = await check("192.0.2.7", ["wild.example"], lookup)
    assert result.status is DnsblStatus.NOT_LISTED
    assert result.checks[0].addresses == ("192.0.2.200",)
    assert any("outside 127.0.0.0/8" in str(s) for s in result.steps)


async def test_a_zone_the_dns_refuses_is_skipped(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (_, lookup):
        result = await check("192.0.2.7", ["unknown.example", "bl.example"], lookup)
    assert result.checks[0].error == "REFUSED"
    assert result.listed


async def test_ipv6_clients_are_looked_up_nibble_by_nibble(tmp_path: Path) -> None:
    async with world_dns(tmp_path) as (_, lookup):
        result = await check("2001:db8::1", ["bl.example"], lookup)
    assert result.listed
    assert "[2001:db8::1]" in dnsbl_verdict(result).reply
