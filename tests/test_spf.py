"""SPF (RFC 7208): macros, limits, identities, explained steps, verdicts and the header.

The full RFC 7208 suite runs in test_spf_rfc7208.py; these tests pin down the behaviour a
learner sees (the steps, the header, the verdict) and run one check through the world's real
DNS server on loopback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest
from worldctx import trace_of

from tutor.clock import SimulatedClock
from tutor.policy.dnsapi import DictLookup, DnsResult, ZoneLookup
from tutor.policy.spf import (
    Identity,
    SpfResultCode,
    check_helo,
    check_host,
    check_mail_from,
    received_spf_header,
    spf_verdict,
)
from tutor.policy.spf_macro import MacroFacts, expand, parse_domain_spec, parse_macro_string
from tutor.policy.verdict import Action, Steps, Verdict, strongest_action
from tutor.scenario import parse_scenario
from tutor.trace import DnsAnswer, DnsQuery, Side, Stage, Trace
from tutor.world.context import WorldContext
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan


def zone(**records: list[dict[str, object]]) -> DictLookup:
    """A DictLookup from keyword names (underscores become dots)."""
    return DictLookup({name.replace("_", "."): items for name, items in records.items()})


# --------------------------------------------------------------------------- macros (§7.4)

RFC_FACTS = MacroFacts(
    sender="strong-bad@email.example.com",
    domain="email.example.com",
    ip=ipaddress.ip_address("192.0.2.3"),
    helo="mx.example.org",
)


@pytest.mark.parametrize(
    ("macro", "expanded"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
async def test_macros_expand_as_in_the_examples_of_rfc7208_section_7_4(
    macro: str, expanded: str
) -> None:
    assert await expand(parse_macro_string(macro), RFC_FACTS) == expanded


async def test_an_ipv6_client_expands_to_dotted_nibbles_under_ip6() -> None:
    facts = dataclasses.replace(RFC_FACTS, ip=ipaddress.ip_address("2001:db8::cb01"))
    assert await expand(parse_macro_string("%{ir}.%{v}._spf.%{d2}"), facts) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


async def test_uppercase_macros_are_url_escaped_and_escapes_expand() -> None:
    facts = dataclasses.replace(RFC_FACTS, sender="~jack&jill=up@example.com")
    parts = parse_macro_string("%{L}%%%_%-", explanation=True)
    assert await expand(parts, facts) == "~jack%26jill%3Dup% %20"


@pytest.mark.parametrize(
    "spec", ["example.com:8080", "foo.1", "%{x}.example.com", "%a.com", "%{c}.x.com"]
)
def test_malformed_domain_specs_are_syntax_errors(spec: str) -> None:
    from tutor.policy.spf_macro import MacroSyntaxError

    with pytest.raises(MacroSyntaxError):
        parse_domain_spec(spec)


# --------------------------------------------------------------------------- results and steps


async def test_a_pass_explains_each_term_and_dns_answer() -> None:
    lookup = zone(
        example_com=[{"TXT": "v=spf1 ip4:192.0.2.0/28 a:mail.example.com -all"}],
        mail_example_com=[{"A": "198.51.100.7"}],
    )
    result = await check_mail_from(
        "198.51.100.7", "alice@example.com", helo="mail.example.com", lookup=lookup
    )
    assert result.result is SpfResultCode.PASS
    assert result.mechanism == "a:mail.example.com"
    assert result.dns_terms == 1
    text = "\n".join(result.reasons)
    assert 'DNS TXT example.com? → "v=spf1 ip4:192.0.2.0/28 a:mail.example.com -all"' in text
    assert "198.51.100.7 is not in 192.0.2.0/28 → no match" in text
    assert "lookup term 1 of 10" in text
    assert "DNS A mail.example.com? → 198.51.100.7" in text
    assert "'a:mail.example.com' matched → pass" in text


async def test_a_fail_carries_the_macro_expanded_exp_text() -> None:
    lookup = zone(
        example_com=[{"TXT": "v=spf1 -all exp=why.%{d}"}],
        why_example_com=[{"TXT": "%{i} may not send for %{d}; ask postmaster@%{o}"}],
    )
    result = await check_mail_from("203.0.113.9", "eve@example.com", helo="x.test", lookup=lookup)
    assert result.result is SpfResultCode.FAIL
    assert (
        result.explanation == "203.0.113.9 may not send for example.com; ask postmaster@example.com"
    )


async def test_include_passes_only_when_the_included_record_passes() -> None:
    lookup = DictLookup(
        {
            "example.com": [{"TXT": "v=spf1 include:_spf.provider.net ~all"}],
            "_spf.provider.net": [{"TXT": "v=spf1 ip4:192.0.2.10 -all"}],
        }
    )
    inside = await check_mail_from("192.0.2.10", "a@example.com", helo="h.test", lookup=lookup)
    outside = await check_mail_from("192.0.2.11", "a@example.com", helo="h.test", lookup=lookup)
    assert inside.result is SpfResultCode.PASS
    assert outside.result is SpfResultCode.SOFTFAIL  # the inner -all is not a match (§5.2)
    assert any(line.startswith("    ") for line in outside.reasons)  # the include is indented


async def test_the_eleventh_dns_term_is_a_permerror() -> None:
    chain = {f"d{i}.example": [{"TXT": f"v=spf1 include:d{i + 1}.example"}] for i in range(12)}
    chain["d12.example"] = [{"TXT": "v=spf1 +all"}]
    result = await check_host(
        "192.0.2.1", "d0.example", "a@d0.example", helo="h.test", lookup=DictLookup(chain)
    )
    assert result.result is SpfResultCode.PERMERROR
    assert "more than 10 DNS-querying terms" in result.problem
    assert result.dns_terms == 11


async def test_a_third_void_lookup_is_a_permerror() -> None:
    lookup = zone(
        example_com=[{"TXT": "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com +all"}]
    )
    result = await check_mail_from("192.0.2.1", "a@example.com", helo="h.test", lookup=lookup)
    assert result.result is SpfResultCode.PERMERROR
    assert result.void_lookups == 3
    assert "void lookups" in result.problem


async def test_two_spf_records_are_a_permerror() -> None:
    lookup = zone(example_com=[{"TXT": "v=spf1 -all"}, {"TXT": "v=spf1 +all"}])
    result = await check_mail_from("192.0.2.1", "a@example.com", helo="h.test", lookup=lookup)
    assert result.result is SpfResultCode.PERMERROR
    assert "2 v=spf1 records" in result.problem


async def test_a_dns_timeout_is_a_temperror_and_defers() -> None:
    lookup = zone(example_com=["TIMEOUT"])
    result = await check_mail_from("192.0.2.1", "a@example.com", helo="h.test", lookup=lookup)
    assert result.result is SpfResultCode.TEMPERROR
    verdict = spf_verdict(result)
    assert verdict.action is Action.DEFER
    assert verdict.reply.startswith("451 4.7.24 ")


async def test_a_domain_without_a_record_gives_none() -> None:
    lookup = zone(example_com=[{"A": "192.0.2.1"}])
    result = await check_mail_from("192.0.2.1", "a@example.com", helo="h.test", lookup=lookup)
    assert result.result is SpfResultCode.NONE


async def test_the_null_reverse_path_checks_postmaster_at_the_helo_name() -> None:
    lookup = zone(mta_example_org=[{"TXT": "v=spf1 ip4:192.0.2.5 -all"}])
    result = await check_mail_from("192.0.2.5", "", helo="mta.example.org", lookup=lookup)
    assert result.result is SpfResultCode.PASS
    assert result.sender == "postmaster@mta.example.org"
    assert result.domain == "mta.example.org"
    assert result.identity is Identity.MAILFROM  # §2.4: it is still the MAIL FROM identity


async def test_the_helo_identity_is_checked_on_its_own() -> None:
    lookup = zone(mta_example_org=[{"TXT": "v=spf1 a -all"}], **{})
    result = await check_helo("192.0.2.6", "mta.example.org", lookup=lookup)
    assert result.result is SpfResultCode.FAIL
    assert result.identity is Identity.HELO


# --------------------------------------------------------------------------- header and verdict


async def test_received_spf_header_follows_rfc7208_section_9_1() -> None:
    lookup = zone(example_com=[{"TXT": "v=spf1 ip4:192.0.2.1 -all"}])
    result = await check_mail_from(
        "192.0.2.1",
        "x@example.com",
        helo="mail.example.com",
        lookup=lookup,
        receiver="mx.example.net",
    )
    assert received_spf_header(result) == (
        "Received-SPF: pass (mx.example.net: domain of x@example.com designates 192.0.2.1 "
        'as permitted sender) client-ip=192.0.2.1; envelope-from="x@example.com"; '
        'helo=mail.example.com; mechanism="ip4:192.0.2.1"; receiver=mx.example.net; '
        "identity=mailfrom;"
    )


async def test_fail_is_a_reject_with_the_rfc7372_code_and_the_explanation() -> None:
    lookup = zone(
        example_com=[{"TXT": "v=spf1 -all exp=e.example.com"}],
        e_example_com=[{"TXT": "Not from %{i}"}],
    )
    result = await check_mail_from(
        "203.0.113.5", "x@example.com", helo="h.test", lookup=lookup, receiver="mx.example.net"
    )
    verdict = spf_verdict(result)
    assert verdict.action is Action.REJECT
    assert verdict.reply.startswith("550 5.7.23 Message rejected due to: Not from 203.0.113.5.")
    assert verdict.header.startswith("Received-SPF: fail (mx.example.net: domain of x@example.com")
    assert verdict.reasons == result.reasons
    event = verdict.to_event(host="mx.example.net", session="s1")
    assert (event.check, event.result, event.action, event.stage) == (
        "spf",
        "fail",
        "reject",
        Stage.FILTERING,
    )


def test_steps_nest_and_the_strongest_action_wins() -> None:
    steps = Steps()
    steps.add("outer")
    with steps.nested():
        steps.add("inner")
    assert Verdict.reasons_from(steps) == ("outer", "  inner")
    verdicts = [
        Verdict("spf", "softfail"),
        Verdict("greylist", "new", action=Action.DEFER),
        Verdict("dmarc", "fail", action=Action.QUARANTINE),
    ]
    assert strongest_action(verdicts) is Action.DEFER


# --------------------------------------------------------------------------- zone files


async def test_a_zone_file_with_several_domains_answers_the_check_command() -> None:
    text = """
$ORIGIN .
$TTL 300
example.com.            IN TXT "v=spf1 mx " "include:spf.example.net -all"
example.com.            IN MX 10 mail.example.com.
mail.example.com.       IN A 192.0.2.20
alias.example.com.      IN CNAME mail.example.com.
spf.example.net.        IN TXT "v=spf1 ip6:2001:db8::/32 -all"
"""
    lookup = ZoneLookup.from_texts([text])
    assert await lookup.query("example.com", "TXT") == DnsResult(
        "NOERROR", ("v=spf1 mx include:spf.example.net -all",)
    )
    assert await lookup.query("alias.example.com", "A") == DnsResult("NOERROR", ("192.0.2.20",))
    assert (await lookup.query("nope.example.com", "A")).rcode == "NXDOMAIN"
    assert (await lookup.query("mail.example.com", "TXT")) == DnsResult("NOERROR")
    by_mx = await check_mail_from("192.0.2.20", "a@example.com", helo="h", lookup=lookup)
    by_include = await check_mail_from("2001:db8::1", "a@example.com", helo="h", lookup=lookup)
    stranger = await check_mail_from("192.0.2.99", "a@example.com", helo="h", lookup=lookup)
    assert (by_mx.result, by_include.result, stranger.result) == ("pass", "pass", "fail")


# --------------------------------------------------------------------------- the real world DNS

SPF_WORLD = '''
[scenario]
name = "spf-test"
title = "SPF over the world's DNS"

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

[[user]]
address = "alice@example.org"
password = "wonderland"

[[zone]]
origin = "example.org"
text = """
@        IN TXT "v=spf1 mx a:relay.example.org -all"
@        IN MX 10 smtp.example.org.
"""

[[zone]]
origin = "example.net"
text = """
@        IN MX 10 mx1.example.net.
"""

[message]
from = "alice@example.org"
to = ["bob@example.net"]
subject = "hi"
body = "hi"
'''


async def test_spf_over_the_world_dns_server_is_traced_query_by_query(tmp_path: Path) -> None:
    from tutor.world.dns import start_world_dns

    scenario = parse_scenario(SPF_WORLD, Path("spf-test.toml"))
    clock = SimulatedClock(1_700_000_000)
    wanted = {host.name: host.address for host in scenario.hosts}
    wanted[scenario.dns_name] = scenario.dns_address
    ctx = WorldContext(
        publish=Trace(clock.now).publish,
        clock=clock,
        plan=NetworkPlan.build(wanted),
        gate=StepGate(),
        run_dir=tmp_path,
    )
    server, resolver = await start_world_dns(ctx, scenario)
    try:
        from tutor.policy.dnsapi import ResolverLookup

        sender_ip = ctx.plan.hosts["smtp.example.org"].address
        lookup = ResolverLookup(resolver, "mx1.example.net", session="s7")
        result = await check_mail_from(
            sender_ip,
            "alice@example.org",
            helo="smtp.example.org",
            lookup=lookup,
            receiver="mx1.example.net",
        )
        forged = await check_mail_from(
            "127.0.0.99", "alice@example.org", helo="evil.test", lookup=lookup
        )
    finally:
        await server.stop()

    assert result.result is SpfResultCode.PASS, "\n".join(result.reasons)
    assert result.mechanism == "mx"
    assert forged.result is SpfResultCode.FAIL, "\n".join(forged.reasons)
    queries = [
        (e.qname, e.qtype)
        for e in trace_of(ctx).of_type(DnsQuery)
        if e.side is Side.CLIENT and e.host == "mx1.example.net"
    ]
    assert queries[:3] == [
        ("example.org.", "TXT"),
        ("example.org.", "MX"),
        ("smtp.example.org.", "A"),
    ]
    answers = [e for e in trace_of(ctx).of_type(DnsAnswer) if e.side is Side.CLIENT]
    assert all(e.stage is Stage.FILTERING and e.session == "s7" for e in answers)
    assert any("v=spf1 mx a:relay.example.org -all" in line for e in answers for line in e.answer)


async def test_repeated_zone_files_are_all_searched() -> None:
    first = '$ORIGIN .\nexample.com. IN TXT "v=spf1 include:spf.example.net -all"\n'
    second = '$ORIGIN .\nspf.example.net. IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
    lookup = ZoneLookup.from_texts([first, second])
    result = await check_mail_from("192.0.2.7", "a@example.com", helo="h", lookup=lookup)
    assert result.result is SpfResultCode.PASS, "\n".join(result.reasons)
    assert (await lookup.query("example.org", "TXT")).rcode == "NXDOMAIN"


def test_a_zone_file_error_names_the_file_and_its_own_line(tmp_path: Path) -> None:
    from tutor.policy.dnsapi import ZoneFileError

    bad = tmp_path / "bad.zone"
    bad.write_text('$ORIGIN .\nexample.com. IN TXT "v=spf1 -all"\nexample.com. IN A 999.1.1.1\n')
    with pytest.raises(ZoneFileError, match=rf"^{bad}:3: "):
        ZoneLookup.from_files([bad])
