"""DMARC: policy discovery, alignment, p/sp/pct and dispositions; Authentication-Results."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tutor.clock import RealClock
from tutor.policy.authresults import SpfSummary, build_header, parse_header
from tutor.policy.dkim import DkimFailure, DkimResult, DkimStatus, SignatureCheck
from tutor.policy.dmarc import (
    Alignment,
    Disposition,
    DmarcRecordError,
    DmarcStatus,
    Policy,
    aligned,
    dmarc_verdict,
    evaluate,
    parse_record,
)
from tutor.policy.dnsapi import ResolverLookup, ZoneLookup, zone_from_text
from tutor.policy.orgdomain import organizational_domain
from tutor.policy.verdict import Action
from tutor.trace import DnsQuery, Trace
from tutor.world.context import WorldContext
from tutor.world.dns import DnsServer, WorldResolver
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan

ZONES = """
$ORIGIN .
$TTL 300
_dmarc.example.org.      IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"
_dmarc.strict.example.   IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
_dmarc.bank.example.     IN TXT "v=DMARC1; p=reject; sp=quarantine"
_dmarc.shop.example.     IN TXT "v=DMARC1; p=quarantine"
_dmarc.watch.example.    IN TXT "v=DMARC1; p=none"
_dmarc.half.example.     IN TXT "v=DMARC1; p=reject; pct=50"
_dmarc.own.bank.example. IN TXT "v=DMARC1; p=none"
_dmarc.spf-only.example. IN TXT "v=spf1 -all"
_dmarc.twice.example.    IN TXT "v=DMARC1; p=reject"
_dmarc.twice.example.    IN TXT "v=DMARC1; p=none"
"""


@pytest.fixture
def lookup() -> ZoneLookup:
    return ZoneLookup.from_texts([ZONES])


class FixedDraw:
    """A random source that always draws the same number, to pin pct= sampling."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


# --------------------------------------------------------------------------- organizational domain


@pytest.mark.parametrize(
    ("name", "org"),
    [
        ("mail.example.org", "example.org"),
        ("example.org", "example.org"),
        ("a.b.news.bank.example", "bank.example"),
        ("shop.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"),
        ("MX1.Example.NET.", "example.net"),
    ],
)
def test_organizational_domain_is_the_public_suffix_plus_one_label(name: str, org: str) -> None:
    assert organizational_domain(name) == org


def test_relaxed_alignment_needs_the_same_organizational_domain_strict_the_same_name() -> None:
    assert aligned("mail.example.org", "example.org", Alignment.RELAXED)
    assert not aligned("mail.example.org", "example.org", Alignment.STRICT)
    assert aligned("Example.org", "example.org", Alignment.STRICT)
    assert not aligned("example.co.uk", "other.co.uk", Alignment.RELAXED)


# --------------------------------------------------------------------------- records


def test_record_parsing_reads_policy_tags_and_defaults_the_rest() -> None:
    record = parse_record("v=DMARC1; p=quarantine; sp=reject; pct=20; adkim=s; rua=mailto:a@b")
    assert record.policy is Policy.QUARANTINE
    assert record.subdomain_policy is Policy.REJECT
    assert record.pct == 20
    assert (record.adkim, record.aspf) == (Alignment.STRICT, Alignment.RELAXED)
    assert record.rua == ("mailto:a@b",)


def test_record_must_start_with_the_version_tag() -> None:
    with pytest.raises(DmarcRecordError, match="v=DMARC1"):
        parse_record("p=reject; v=DMARC1")


def test_record_with_a_bad_policy_counts_as_p_none_only_when_it_asks_for_reports() -> None:
    with pytest.raises(DmarcRecordError):
        parse_record("v=DMARC1; p=bounce")
    assert parse_record("v=DMARC1; p=bounce; rua=mailto:r@example.org").policy is Policy.NONE


def test_bad_optional_values_fall_back_to_defaults() -> None:
    record = parse_record("v=DMARC1; p=reject; pct=250; aspf=x; foo=bar")
    assert (record.pct, record.aspf) == (100, Alignment.RELAXED)
    assert len(record.ignored) == 3


# --------------------------------------------------------------------------- alignment


async def test_spf_pass_on_a_subdomain_aligns_in_relaxed_mode(lookup: ZoneLookup) -> None:
    result = await evaluate("example.org", ("bounces.example.org", "pass"), [], lookup)
    assert result.status is DmarcStatus.PASS
    assert result.spf_aligned and not result.dkim_aligned
    assert result.disposition is Disposition.NONE


async def test_spf_pass_on_a_subdomain_does_not_align_in_strict_mode(lookup: ZoneLookup) -> None:
    result = await evaluate("strict.example", ("bounces.strict.example", "pass"), [], lookup)
    assert result.status is DmarcStatus.FAIL
    assert result.disposition is Disposition.REJECT
    assert any("strict alignment" in str(s) and "NOT aligned" in str(s) for s in result.steps)


async def test_dkim_pass_for_a_subdomain_aligns_relaxed_but_not_strict(lookup: ZoneLookup) -> None:
    relaxed = await evaluate("example.org", None, [("mail.example.org", "pass")], lookup)
    strict = await evaluate("strict.example", None, [("mail.strict.example", "pass")], lookup)
    exact = await evaluate("strict.example", None, [("strict.example", "pass")], lookup)
    assert relaxed.status is DmarcStatus.PASS and relaxed.dkim_aligned
    assert strict.status is DmarcStatus.FAIL
    assert exact.status is DmarcStatus.PASS and exact.aligned_domain == "strict.example"


async def test_passing_identifiers_of_another_domain_do_not_align(lookup: ZoneLookup) -> None:
    # A spoofer's own SPF and DKIM pass, but for the spoofer's domain, not the From domain.
    result = await evaluate(
        "example.org", ("attacker.example", "pass"), [("attacker.example", "pass")], lookup
    )
    assert result.status is DmarcStatus.FAIL
    assert result.disposition is Disposition.REJECT


async def test_failing_results_never_align_even_for_the_from_domain(lookup: ZoneLookup) -> None:
    result = await evaluate(
        "example.org", ("example.org", "softfail"), [("example.org", "fail")], lookup
    )
    assert result.status is DmarcStatus.FAIL
    assert not result.spf_aligned and not result.dkim_aligned


# --------------------------------------------------------------------------- discovery and policy


async def test_subdomain_without_a_record_uses_the_organizational_domain_record(
    lookup: ZoneLookup,
) -> None:
    result = await evaluate("news.example.org", None, [], lookup)
    assert result.record_domain == "example.org"
    assert result.status is DmarcStatus.FAIL
    assert result.applied_policy is Policy.REJECT  # no sp=: p= covers subdomains
    reasons = [str(s) for s in result.steps]
    assert any("TXT _dmarc.news.example.org -> NXDOMAIN" in r for r in reasons)
    assert any("asking its organizational domain example.org" in r for r in reasons)


async def test_subdomain_gets_the_sp_policy_of_its_organizational_domain(
    lookup: ZoneLookup,
) -> None:
    result = await evaluate("alerts.bank.example", None, [], lookup)
    assert result.applied_policy is Policy.QUARANTINE
    assert result.disposition is Disposition.QUARANTINE


async def test_a_subdomain_with_its_own_record_uses_that_record_p(lookup: ZoneLookup) -> None:
    result = await evaluate("own.bank.example", None, [], lookup)
    assert result.record_domain == "own.bank.example"
    assert result.applied_policy is Policy.NONE
    assert result.status is DmarcStatus.FAIL
    assert result.disposition is Disposition.NONE


async def test_the_organizational_domain_itself_gets_p_not_sp(lookup: ZoneLookup) -> None:
    result = await evaluate("bank.example", None, [], lookup)
    assert result.applied_policy is Policy.REJECT


async def test_no_record_anywhere_means_dmarc_does_not_apply(lookup: ZoneLookup) -> None:
    result = await evaluate("unpublished.example", ("unpublished.example", "fail"), [], lookup)
    assert result.status is DmarcStatus.NONE
    assert result.disposition is Disposition.NONE
    assert dmarc_verdict(result).action is Action.NONE


async def test_txt_records_that_are_not_dmarc_are_discarded(lookup: ZoneLookup) -> None:
    result = await evaluate("spf-only.example", None, [], lookup)
    assert result.status is DmarcStatus.NONE
    assert any("not v=DMARC1: discarded" in str(s) for s in result.steps)


async def test_two_dmarc_records_make_policy_discovery_give_up(lookup: ZoneLookup) -> None:
    result = await evaluate("twice.example", None, [], lookup)
    assert result.status is DmarcStatus.NONE


# --------------------------------------------------------------------------- pct and dispositions


async def test_pct_applies_the_policy_to_a_sampled_message(lookup: ZoneLookup) -> None:
    result = await evaluate("half.example", None, [], lookup, rng=FixedDraw(0.10))
    assert result.disposition is Disposition.REJECT
    assert not result.sampled_out


async def test_pct_spares_an_unsampled_message_with_the_next_weaker_policy(
    lookup: ZoneLookup,
) -> None:
    result = await evaluate("half.example", None, [], lookup, rng=FixedDraw(0.90))
    assert result.status is DmarcStatus.FAIL
    assert result.sampled_out
    assert result.disposition is Disposition.QUARANTINE


async def test_pct_sampling_with_a_seeded_source_is_reproducible(lookup: ZoneLookup) -> None:
    runs = [
        [(await evaluate("half.example", None, [], lookup, rng=rng)).disposition for _ in range(20)]
        for rng in (random.Random(7), random.Random(7))
    ]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {Disposition.REJECT, Disposition.QUARANTINE}


async def test_reject_disposition_is_550_5_7_1_at_end_of_data(lookup: ZoneLookup) -> None:
    verdict = dmarc_verdict(await evaluate("example.org", ("evil.example", "pass"), [], lookup))
    assert verdict.action is Action.REJECT
    assert verdict.reply == "550 5.7.1 rejected by DMARC policy for example.org"
    assert verdict.result == "fail"


async def test_quarantine_disposition_asks_for_delivery_to_junk(lookup: ZoneLookup) -> None:
    verdict = dmarc_verdict(await evaluate("shop.example", None, [], lookup))
    assert verdict.action is Action.QUARANTINE
    assert verdict.reply == ""


async def test_p_none_fails_but_only_reports(lookup: ZoneLookup) -> None:
    verdict = dmarc_verdict(await evaluate("watch.example", None, [], lookup))
    assert (verdict.result, verdict.action) == ("fail", Action.NONE)


# --------------------------------------------------------------------------- real DNS


async def test_policy_lookups_cross_the_world_dns_and_are_traced(tmp_path: Path) -> None:
    trace = Trace()
    ctx = WorldContext(
        publish=trace.publish,
        clock=RealClock(),
        plan=NetworkPlan.build({}),
        gate=StepGate(),
        run_dir=tmp_path,
    )
    zone = zone_from_text(
        '$TTL 300\n_dmarc IN TXT "v=DMARC1; p=reject; sp=quarantine"\n', origin="example.org"
    )
    async with DnsServer(ctx, [zone], "ns.example.net", "127.0.0.1", 0) as server:
        resolver = WorldResolver(ctx, "127.0.0.1", server.port)
        result = await evaluate(
            "news.example.org", None, [], ResolverLookup(resolver, "mx1.example.net")
        )
    assert result.disposition is Disposition.QUARANTINE
    asked = [(e.qname.rstrip("."), e.qtype) for e in trace.of_type(DnsQuery)]
    assert ("_dmarc.news.example.org", "TXT") in asked
    assert ("_dmarc.example.org", "TXT") in asked


# --------------------------------------------------------------------------- Authentication-Results


async def test_authentication_results_header_parses_back_with_authres(lookup: ZoneLookup) -> None:
    dmarc = await evaluate("example.org", None, [("example.org", "pass")], lookup)
    dkim = DkimResult(
        signatures=(
            SignatureCheck(index=0, status=DkimStatus.PASS, domain="example.org", selector="tutor"),
            SignatureCheck(
                index=1,
                status=DkimStatus.FAIL,
                failure=DkimFailure.BODY_HASH_MISMATCH,
                domain="list.example",
                selector="s1",
            ),
        )
    )
    header = build_header(
        "mx1.example.net",
        spf=SpfSummary("pass", mailfrom="alice@example.org"),
        dkim=dkim,
        dmarc=dmarc,
    )
    assert header.startswith("Authentication-Results: mx1.example.net; spf=pass")

    parsed = parse_header(header)
    assert parsed.authserv_id == "mx1.example.net"
    methods = [(r.method, r.result) for r in parsed.results]
    assert methods == [("spf", "pass"), ("dkim", "pass"), ("dkim", "fail"), ("dmarc", "pass")]
    spf, dkim_ok, dkim_bad, dmarc_res = parsed.results
    assert spf.smtp_mailfrom == "alice@example.org"
    assert (dkim_ok.header_d, dkim_ok.header_s) == ("example.org", "tutor")
    assert dkim_bad.reason == "body hash mismatch"
    assert dmarc_res.header_from == "example.org"


def test_authentication_results_for_an_unsigned_null_sender_message() -> None:
    header = build_header(
        "mx1.example.net", spf=SpfSummary("none", helo="laptop.example.org"), dkim=DkimResult()
    )
    parsed = parse_header(header)
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "none"), ("dkim", "none")]
    assert parsed.results[0].smtp_helo == "laptop.example.org"
