"""The world's DNS: zone assembly, the authoritative server on real sockets, the resolver."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
from worldctx import trace_of

from tutor.clock import SimulatedClock
from tutor.scenario import Scenario, ZoneSpec, parse_scenario
from tutor.trace import DnsAnswer, DnsQuery, Note, Side, Stage, Trace
from tutor.world.context import WorldContext
from tutor.world.dns import (
    DnsServer,
    DnsTemporaryError,
    WorldResolver,
    ZoneError,
    build_zones,
    start_world_dns,
)
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan

# four TXT records of 150 characters: about 650 bytes, more than 512 and less than 1232
BIG_TXT = "\n".join(f'big             IN TXT "{letter * 150}"' for letter in "abcd")

SCENARIO_TOML = f'''
[scenario]
name = "dns-test"
title = "DNS test world"

[[host]]
name = "laptop.example.org"
role = "client"

[[host]]
name = "smtp.example.org"
role = "outbound"
domains = ["example.org"]

[[host]]
name = "mx1.example.net"
role = "mx"
domains = ["example.net"]

[[host]]
name = "mx2.example.net"
role = "mx"
domains = ["example.net"]
address = "127.0.0.42"

[[user]]
address = "alice@example.org"
password = "wonderland"

[[zone]]
origin = "example.net"
text = """
@               IN MX 20 mx2.example.net.
@               IN MX 10 mx1.example.net.
@               IN TXT "v=spf1 ip4:${{smtp.example.org}} -all"
mx2             IN A 127.0.0.99
www             IN CNAME mx1.example.net.
mail      600   IN A ${{mx1.example.net}}
{BIG_TXT}
split           IN TXT "v=DKIM1; k=rsa; " "p=MIIBIjAN"
sel._domainkey  IN TXT "v=DKIM1; p=abc"
"""

[[zone]]
origin = "example.org"
text = """
@               IN A ${{smtp.example.org}}
"""

[message]
from = "alice@example.org"
to = ["bob@example.net"]
'''


def make_scenario(**zones: str) -> Scenario:
    scenario = parse_scenario(SCENARIO_TOML, Path("dns-test.toml"))
    if zones:
        specs = tuple(ZoneSpec(origin.replace("_", "."), text) for origin, text in zones.items())
        scenario = dataclasses.replace(scenario, zones=specs)
    return scenario


def make_context(scenario: Scenario, tmp_path: Path, clock: SimulatedClock) -> WorldContext:
    wanted = {host.name: host.address for host in scenario.hosts}
    wanted[scenario.dns_name] = scenario.dns_address
    trace = Trace(clock.now)
    return WorldContext(
        publish=trace.publish,
        clock=clock,
        plan=NetworkPlan.build(wanted),
        gate=StepGate(),
        run_dir=tmp_path,
    )


@dataclasses.dataclass
class World:
    ctx: WorldContext
    server: DnsServer
    resolver: WorldResolver
    clock: SimulatedClock

    @property
    def where(self) -> tuple[str, int]:
        return self.server.bind_address, self.server.port

    def server_events(self, cls: type) -> list:
        return [e for e in trace_of(self.ctx).of_type(cls) if e.side is Side.SERVER]

    def client_events(self, cls: type) -> list:
        return [e for e in trace_of(self.ctx).of_type(cls) if e.side is Side.CLIENT]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    scenario = make_scenario()
    clock = SimulatedClock(1_700_000_000)
    ctx = make_context(scenario, tmp_path, clock)
    server, resolver = await start_world_dns(ctx, scenario)
    try:
        yield World(ctx, server, resolver, clock)
    finally:
        await server.stop()


async def udp(world: World, name: str, rdtype: str, **query_args: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **query_args)
    address, port = world.where
    return await dns.asyncquery.udp(query, address, port=port, timeout=2)


async def tcp(world: World, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    address, port = world.where
    return await dns.asyncquery.tcp(query, address, port=port, timeout=2)


def lines(message: dns.message.Message, section: str = "answer") -> list[str]:
    return [line for rrset in getattr(message, section) for line in rrset.to_text().splitlines()]


# --------------------------------------------------------------------------- zone assembly


def test_host_placeholders_become_addresses_and_hosts_get_a_records() -> None:
    zones = {str(zone.origin): zone for zone in build_zones(make_scenario())}
    net = zones["example.net."]
    spf = net.get_rdataset("example.net.", "TXT")
    assert any(b"ip4:127.0.0.12 " in b"".join(rd.strings) for rd in spf)
    assert net.get_rdataset("mail.example.net.", "A")[0].address == "127.0.0.13"
    assert net.get_rdataset("mail.example.net.", "A").ttl == 600
    assert net.get_rdataset("mx1.example.net.", "A")[0].address == "127.0.0.13"
    assert net.get_rdataset("mx1.example.net.", "A").ttl == 3600
    org = zones["example.org."]
    assert org.get_rdataset("laptop.example.org.", "A")[0].address == "127.0.0.11"


def test_an_a_record_written_by_the_teacher_is_kept() -> None:
    net = {str(z.origin): z for z in build_zones(make_scenario())}["example.net."]
    addresses = [rd.address for rd in net.get_rdataset("mx2.example.net.", "A")]
    assert addresses == ["127.0.0.99"]  # not the host's 127.0.0.42


def test_zones_get_a_default_soa_and_ns_naming_the_dns_server() -> None:
    net = {str(z.origin): z for z in build_zones(make_scenario())}["example.net."]
    soa = net.get_rdataset("example.net.", "SOA")
    assert soa[0].to_text() == "ns.tutor.test. hostmaster.example.net. 1 7200 3600 1209600 300"
    assert soa.ttl == 3600
    assert [rd.to_text() for rd in net.get_rdataset("example.net.", "NS")] == ["ns.tutor.test."]


def test_a_zone_with_its_own_soa_keeps_it() -> None:
    text = "@ 60 IN SOA ns1.example.com. admin.example.com. 7 1 1 1 42\n@ IN MX 10 mx\n"
    zone = build_zones(make_scenario(example_com=text))[0]
    assert zone.get_rdataset("example.com.", "SOA")[0].serial == 7


def test_the_dns_servers_own_name_is_served_from_an_extra_zone() -> None:
    zones = {str(z.origin): z for z in build_zones(make_scenario())}
    assert zones["tutor.test."].get_rdataset("ns.tutor.test.", "A")[0].address == "127.0.0.10"


def test_a_bad_record_is_a_zone_error_naming_zone_line_and_problem() -> None:
    scenario = make_scenario(example_net="@ IN MX 10 mx1.example.net.\nwww IN A 1.2.3.400\n")
    with pytest.raises(ZoneError) as caught:
        build_zones(scenario)
    message = str(caught.value)
    assert "zone example.net, line 2" in message
    assert "www IN A 1.2.3.400" in message
    assert "\n" not in message


def test_a_zone_error_points_at_the_line_of_the_scenario_file(tmp_path: Path) -> None:
    source = tmp_path / "broken.toml"
    text = SCENARIO_TOML.replace("@               IN A ${smtp", "@  IN MXX 10 ${smtp")
    source.write_text(text, encoding="utf-8")
    scenario = parse_scenario(source.read_text(encoding="utf-8"), source)
    with pytest.raises(ZoneError) as caught:
        build_zones(scenario)
    bad_line = 1 + source.read_text().splitlines().index("@  IN MXX 10 ${smtp.example.org}")
    assert str(caught.value).startswith(f"{source}:{bad_line}: zone example.org, line 1")
    assert "unknown rdatatype 'MXX'" in str(caught.value)


def test_an_unknown_host_placeholder_is_a_zone_error() -> None:
    scenario = make_scenario(example_net="@ IN MX 10 mx1.example.net.\nx IN A ${nobody.example}\n")
    with pytest.raises(ZoneError, match=r"line 2 .*unknown host in \$\{nobody\.example\}"):
        build_zones(scenario)


# --------------------------------------------------------------------------- the server


async def test_mx_over_udp_is_an_authoritative_answer_with_target_addresses(world: World) -> None:
    response = await udp(world, "example.net", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA  # authoritative only, no recursion
    assert sorted(lines(response)) == [
        "example.net. 3600 IN MX 10 mx1.example.net.",
        "example.net. 3600 IN MX 20 mx2.example.net.",
    ]
    assert sorted(lines(response, "additional")) == [
        "mx1.example.net. 3600 IN A 127.0.0.13",
        "mx2.example.net. 3600 IN A 127.0.0.99",
    ]


async def test_a_and_txt_are_answered_over_tcp(world: World) -> None:
    a = await tcp(world, "mx1.example.net", "A")
    assert lines(a) == ["mx1.example.net. 3600 IN A 127.0.0.13"]
    txt = await tcp(world, "example.net", "TXT")
    assert lines(txt) == ['example.net. 3600 IN TXT "v=spf1 ip4:127.0.0.12 -all"']


async def test_the_question_is_echoed_with_the_query_id(world: World) -> None:
    query = dns.message.make_query("Example.NET", "MX")
    response = await dns.asyncquery.udp(query, world.where[0], port=world.where[1], timeout=2)
    assert response.id == query.id
    assert response.question[0].name.to_text() == "Example.NET."
    assert response.question[0].rdtype == dns.rdatatype.MX


async def test_nxdomain_carries_the_zone_soa_with_the_negative_ttl(world: World) -> None:
    response = await udp(world, "nosuch.example.net", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert response.answer == []
    assert lines(response, "authority") == [
        "example.net. 300 IN SOA ns.tutor.test. hostmaster.example.net. 1 7200 3600 1209600 300"
    ]


async def test_nodata_is_noerror_with_an_empty_answer_and_the_soa(world: World) -> None:
    response = await udp(world, "mx1.example.net", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert lines(response, "authority")[0].startswith("example.net. 300 IN SOA")


async def test_an_empty_non_terminal_is_nodata_not_nxdomain(world: World) -> None:
    response = await udp(world, "_domainkey.example.net", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


async def test_a_cname_inside_the_zone_is_followed(world: World) -> None:
    response = await udp(world, "www.example.net", "A")
    assert lines(response) == [
        "www.example.net. 3600 IN CNAME mx1.example.net.",
        "mx1.example.net. 3600 IN A 127.0.0.13",
    ]


async def test_names_outside_the_zones_are_refused(world: World) -> None:
    response = await udp(world, "example.com", "MX")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA
    assert response.answer == []


async def test_a_big_rrset_is_truncated_over_udp_and_complete_over_tcp(world: World) -> None:
    truncated = await udp(world, "big.example.net", "TXT")
    assert truncated.flags & dns.flags.TC
    assert truncated.answer == [] and truncated.authority == []
    full = await tcp(world, "big.example.net", "TXT")
    assert not full.flags & dns.flags.TC
    assert len(full.answer[0]) == 4


async def test_a_client_advertising_a_bigger_edns_size_gets_it_over_udp(world: World) -> None:
    response = await udp(world, "big.example.net", "TXT", use_edns=0, payload=1232)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == 4
    assert response.edns == 0  # EDNS answered when asked
    plain = await udp(world, "example.net", "MX")
    assert plain.edns == -1  # and not when not


async def test_other_opcodes_are_not_implemented(world: World) -> None:
    query = dns.message.make_query("example.net", "SOA")
    query.set_opcode(dns.opcode.STATUS)
    response = await dns.asyncquery.udp(query, world.where[0], port=world.where[1], timeout=2)
    assert response.rcode() == dns.rcode.NOTIMP


async def test_garbage_gets_formerr_and_the_server_keeps_answering(world: World) -> None:
    loop = asyncio.get_running_loop()
    address, port = world.where
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (address, port))
        await loop.sock_sendall(sock, b"\x00")  # too short to have an ID: silently dropped
        garbage = b"\x12\x34\x01\x00\x00\x05" + b"\xff" * 30  # claims 5 questions it lacks
        await loop.sock_sendall(sock, garbage)
        reply = dns.message.from_wire(await asyncio.wait_for(loop.sock_recv(sock, 512), 2))
    assert reply.id == 0x1234
    assert reply.rcode() == dns.rcode.FORMERR
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(b"\x00\x03abc")  # garbage over TCP: too short to answer, so it hangs up
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    response = await udp(world, "example.net", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert any(note.level == "warning" for note in trace_of(world.ctx).of_type(Note))


async def test_the_server_traces_each_query_and_answer_as_zone_file_lines(world: World) -> None:
    query = dns.message.make_query("example.net", "MX")
    await dns.asyncquery.tcp(query, world.where[0], port=world.where[1], timeout=2)
    [received] = world.server_events(DnsQuery)
    [answered] = world.server_events(DnsAnswer)
    assert (received.host, received.stage, received.qname, received.qtype) == (
        "ns.tutor.test",
        Stage.DNS,
        "example.net.",
        "MX",
    )
    assert received.transport == "tcp" and received.query_id == query.id
    assert answered.rcode == "NOERROR"
    assert answered.flags == ("qr", "aa", "rd")
    assert "example.net. 3600 IN MX 10 mx1.example.net." in answered.answer
    assert answered.server == f"{world.where[0]}:{world.where[1]}"
    assert answered.seq > received.seq


async def test_the_server_traces_a_truncated_answer(world: World) -> None:
    await udp(world, "big.example.net", "TXT")
    [answered] = world.server_events(DnsAnswer)
    assert "tc" in answered.flags
    assert answered.answer == ()
    assert answered.explain == "dns.truncated"


async def test_dig_gets_the_mx_records(world: World) -> None:
    if shutil.which("dig") is None:
        pytest.skip("dig is not installed")
    address, port = world.where
    for transport in ("+notcp", "+tcp"):
        process = await asyncio.create_subprocess_exec(
            "dig", f"@{address}", "-p", str(port), "example.net", "MX", transport,
            "+time=2", "+tries=1",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 10)
        text = output.decode()
        assert "status: NOERROR" in text
        assert "flags: qr aa rd" in text
        assert "MX\t10 mx1.example.net." in text


# --------------------------------------------------------------------------- the resolver


async def test_the_resolver_publishes_query_and_answer_as_the_asking_host(world: World) -> None:
    resolution = await world.resolver.resolve(
        "example.net", "MX", host="smtp.example.org", session="s7"
    )
    assert resolution.rcode == "NOERROR"
    assert sorted(r.text for r in resolution.of_type("MX")) == [
        "10 mx1.example.net.",
        "20 mx2.example.net.",
    ]
    [query] = world.client_events(DnsQuery)
    [answer] = world.client_events(DnsAnswer)
    assert (query.host, query.session, query.transport) == ("smtp.example.org", "s7", "udp")
    assert answer.host == "smtp.example.org" and answer.session == "s7"
    assert "aa" in answer.flags and answer.rcode == "NOERROR"
    assert "example.net. 3600 IN MX 10 mx1.example.net." in answer.answer
    assert answer.elapsed_ms > 0 and not answer.cached
    assert query.seq < answer.seq


async def test_a_second_lookup_is_served_from_the_cache_with_aged_ttls(world: World) -> None:
    await world.resolver.resolve("example.net", "MX", host="smtp.example.org")
    world.clock.advance(100)
    again = await world.resolver.resolve("example.net", "MX", host="smtp.example.org")
    assert again.cached
    assert {r.ttl for r in again.records} == {3500}
    assert len(world.server_events(DnsQuery)) == 1  # nothing new crossed the wire
    queries, answers = world.client_events(DnsQuery), world.client_events(DnsAnswer)
    assert len(queries) == len(answers) == 2  # the trace still shows the lookup
    assert answers[1].cached and answers[1].transport == "cache"
    assert "example.net. 3500 IN MX 10 mx1.example.net." in answers[1].answer


async def test_a_cached_answer_expires_with_its_ttl(world: World) -> None:
    await world.resolver.resolve("mail.example.net", "A", host="smtp.example.org")
    world.clock.advance(601)
    fresh = await world.resolver.resolve("mail.example.net", "A", host="smtp.example.org")
    assert not fresh.cached
    assert len(world.server_events(DnsQuery)) == 2


async def test_nxdomain_is_cached_for_the_soa_negative_ttl(world: World) -> None:
    first = await world.resolver.resolve("nosuch.example.net", "A", host="smtp.example.org")
    assert first.nxdomain
    world.clock.advance(299)
    assert (await world.resolver.resolve("nosuch.example.net", "A", host="x")).cached
    world.clock.advance(2)
    assert not (await world.resolver.resolve("nosuch.example.net", "A", host="x")).cached
    assert len(world.server_events(DnsQuery)) == 2


async def test_nodata_is_reported_and_cached(world: World) -> None:
    first = await world.resolver.resolve("mx1.example.net", "MX", host="smtp.example.org")
    assert first.nodata and not first.nxdomain
    assert (await world.resolver.resolve("mx1.example.net", "MX", host="x")).cached


async def test_a_truncated_answer_is_retried_over_tcp(world: World) -> None:
    resolution = await world.resolver.resolve("big.example.net", "TXT", host="mx1.example.net")
    assert len(resolution.of_type("TXT")) == 4
    assert resolution.transport == "tcp"
    answers = world.client_events(DnsAnswer)
    assert [(a.transport, "tc" in a.flags) for a in answers] == [("udp", True), ("tcp", False)]


async def test_mx_is_sorted_by_preference(world: World) -> None:
    assert (await world.resolver.mx("example.net", host="smtp.example.org")).exchanges == [
        (10, "mx1.example.net"),
        (20, "mx2.example.net"),
    ]


async def test_a_domain_without_mx_but_with_an_address_is_its_own_mx(world: World) -> None:
    # RFC 5321 5.1: the implicit MX
    implicit = await world.resolver.mx("example.org", host="smtp.example.org")
    assert (implicit.exchanges, implicit.implicit) == ([(0, "example.org")], True)


async def test_a_domain_that_does_not_exist_has_no_mx(world: World) -> None:
    assert (await world.resolver.mx("nosuch.example.net", host="smtp.example.org")).exchanges == []


async def test_addresses_and_txt_helpers(world: World) -> None:
    assert await world.resolver.addresses("www.example.net", host="h") == ["127.0.0.13"]
    assert await world.resolver.addresses("nosuch.example.net", host="h") == []
    assert await world.resolver.txt("split.example.net", host="h") == ["v=DKIM1; k=rsa; p=MIIBIjAN"]
    assert await world.resolver.txt("mx1.example.net", host="h") == []


async def test_a_refused_lookup_is_a_temporary_error_for_the_helpers(world: World) -> None:
    resolution = await world.resolver.resolve("example.com", "MX", host="h")
    assert resolution.rcode == "REFUSED" and resolution.temporary_failure
    with pytest.raises(DnsTemporaryError):
        await world.resolver.mx("example.com", host="h")


async def test_a_silent_server_gives_timeout_not_an_exception(tmp_path: Path) -> None:
    scenario = make_scenario()
    ctx = make_context(scenario, tmp_path, SimulatedClock(0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = WorldResolver(ctx, "127.0.0.1", silent.getsockname()[1], timeout=0.2)
        resolution = await resolver.resolve("example.net", "MX", host="smtp.example.org")
        assert resolution.rcode == "TIMEOUT" and resolution.temporary_failure
        with pytest.raises(DnsTemporaryError):
            await resolver.txt("example.net", host="smtp.example.org")
    [answer, _] = trace_of(ctx).of_type(DnsAnswer)
    assert answer.rcode == "TIMEOUT" and answer.explain == "dns.timeout"
