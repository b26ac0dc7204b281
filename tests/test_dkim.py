"""DKIM: keys published in the world's DNS, signing, and verification with each failure named."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tutor.clock import RealClock
from tutor.policy.dkim import DkimFailure, DkimStatus, dkim_verdict, sign, verify
from tutor.policy.dnsapi import ResolverLookup, zone_from_text
from tutor.policy.verdict import Action
from tutor.trace import DnsAnswer, DnsQuery, Trace
from tutor.world.context import WorldContext
from tutor.world.dns import DnsServer, WorldResolver
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan
from tutor.world.sender.dkimkeys import DkimKey, world_key

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Date: Fri, 01 Mar 2024 10:00:00 +0000\r\n"
    b"Message-ID: <lunch-1@example.org>\r\n"
    b"\r\n"
    b"Hi Bob,\r\n"
    b"\r\n"
    b"Lunch on Friday at noon?\r\n"
    b"Alice\r\n"
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DkimKey]:
    cache = tmp_path_factory.mktemp("dkim-cache")
    return {
        "published": world_key("example.org", "tutor", cache_dir=cache),
        "other": world_key("example.org", "rotated", cache_dir=cache),
    }


@contextlib.asynccontextmanager
async def world_dns(
    tmp_path: Path, zones: dict[str, str]
) -> AsyncIterator[tuple[Trace, ResolverLookup]]:
    """The world's real DNS server on loopback with ``zones``, and a lookup through its resolver."""
    trace = Trace()
    ctx = WorldContext(
        publish=trace.publish,
        clock=RealClock(),
        plan=NetworkPlan.build({}),
        gate=StepGate(),
        run_dir=tmp_path,
    )
    parsed = [zone_from_text("$TTL 300\n" + text, origin=origin) for origin, text in zones.items()]
    server = DnsServer(ctx, parsed, "ns.example.net", "127.0.0.1", 0)
    await server.start()
    try:
        resolver = WorldResolver(ctx, "127.0.0.1", server.port)
        yield trace, ResolverLookup(resolver, "mx1.example.net", session="s1")
    finally:
        await server.stop()


def example_org_zone(key: DkimKey) -> dict[str, str]:
    return {"example.org": key.zone_line() + "\n"}


# --------------------------------------------------------------------------- keys


def test_key_is_cached_so_a_second_world_reuses_it(tmp_path: Path) -> None:
    first = world_key("example.org", "tutor", cache_dir=tmp_path)
    again = world_key("example.org", "tutor", cache_dir=tmp_path)
    assert again == first
    assert (tmp_path / "tutor._domainkey.example.org.pem").stat().st_mode & 0o077 == 0


def test_key_record_is_split_into_dns_strings_of_at_most_255(keys: dict[str, DkimKey]) -> None:
    key = keys["published"]
    assert key.record_name == "tutor._domainkey.example.org"
    assert key.txt_record.startswith("v=DKIM1; k=rsa; p=MIIB")
    assert len(key.txt_strings) == 2
    assert all(len(s) <= 255 for s in key.txt_strings)
    assert "".join(key.txt_strings) == key.txt_record


def test_damaged_cache_file_is_replaced_by_a_fresh_key(tmp_path: Path) -> None:
    (tmp_path / "tutor._domainkey.example.org.pem").write_text("not a key")
    key = world_key("example.org", "tutor", cache_dir=tmp_path)
    assert key.private_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")


# --------------------------------------------------------------------------- signing


def test_signing_prepends_a_relaxed_signature_over_the_usual_headers(
    keys: dict[str, DkimKey],
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    assert signed.startswith(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;"
    )
    assert signed.endswith(MESSAGE)
    header = signed[: -len(MESSAGE)].decode()
    assert "\r\n" in header and "\n" not in header.replace("\r\n", "")
    h_tag = header.split("h=")[1].split(";")[0]
    assert [n.strip() for n in h_tag.replace("\r\n", "").split(":")] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
    ]


# --------------------------------------------------------------------------- verification


async def test_signed_message_verifies_with_the_key_from_the_world_dns(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (trace, lookup):
        result = await verify(signed, lookup)

    assert result.status is DkimStatus.PASS
    assert result.pairs() == [("example.org", "pass")]
    check = result.signatures[0]
    assert (check.domain, check.selector, check.algorithm) == ("example.org", "tutor", "rsa-sha256")
    assert check.body_hash_computed == check.body_hash_claimed
    assert check.canonical_headers[0] == "from:Alice <alice@example.org>"
    assert check.canonical_headers[2] == "subject:Lunch on Friday?"
    assert check.canonical_headers[-1].startswith("dkim-signature:v=1;")
    assert check.canonical_headers[-1].endswith("b=")
    assert check.key is not None and check.key.key_record == keys["published"].txt_record
    assert check.key_bits == 2048
    # The key lookup really crossed the socket and is in the trace.
    queries = [e for e in trace.of_type(DnsQuery) if e.qname.startswith("tutor._domainkey")]
    answers = [e for e in trace.of_type(DnsAnswer) if e.qname.startswith("tutor._domainkey")]
    assert queries and queries[0].qtype == "TXT"
    assert answers and answers[-1].rcode == "NOERROR"
    assert any(
        "key lookup: tutor._domainkey.example.org TXT -> NOERROR" in str(s) for s in result.steps
    )


async def test_trace_header_added_by_a_later_hop_does_not_break_the_signature(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    relayed = b"Received: from gateway.example.net by mx1.example.net\r\n" + signed
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(relayed, lookup)
    assert result.status is DkimStatus.PASS


async def test_body_changed_after_signing_is_a_body_hash_mismatch(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    tampered = signed.replace(b"at noon?", b"at one? Bring cash.")
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(tampered, lookup)

    assert result.status is DkimStatus.FAIL
    assert result.failure is DkimFailure.BODY_HASH_MISMATCH
    check = result.signatures[0]
    assert check.body_hash_computed != check.body_hash_claimed
    reasons = [str(s) for s in result.steps]
    assert any("MISMATCH" in r for r in reasons)
    assert any("only the body was changed" in r for r in reasons)


async def test_signed_header_changed_after_signing_is_reported_as_header_changed(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    tampered = signed.replace(b"Subject: Lunch on Friday?", b"Subject: Urgent: wire transfer")
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(tampered, lookup)

    assert result.status is DkimStatus.FAIL
    assert result.failure is DkimFailure.HEADER_CHANGED
    assert result.signatures[0].body_hash_ok
    assert "subject:Urgent: wire transfer" in result.signatures[0].canonical_headers


async def test_signature_made_with_another_key_is_a_bad_signature(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    # Signed with a key whose public half is not the one published for s=tutor.
    signed = sign(MESSAGE, "example.org", "tutor", keys["other"].private_pem)
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(signed, lookup)

    assert result.status is DkimStatus.FAIL
    assert result.failure is DkimFailure.BAD_SIGNATURE
    assert result.signatures[0].body_hash_ok


async def test_selector_without_a_key_record_is_a_missing_key(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "gone", keys["published"].private_pem)
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(signed, lookup)

    assert result.status is DkimStatus.PERMERROR
    assert result.failure is DkimFailure.KEY_MISSING
    key = result.signatures[0].key
    assert key is not None and key.name == "gone._domainkey.example.org"
    assert key.rcode == "NXDOMAIN"


async def test_key_lookup_the_dns_refuses_is_a_temporary_error(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    # elsewhere.example is in no zone of the world: its authoritative server answers REFUSED.
    signed = sign(MESSAGE, "elsewhere.example", "tutor", keys["published"].private_pem)
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(signed, lookup)

    assert result.status is DkimStatus.TEMPERROR
    assert result.failure is DkimFailure.KEY_LOOKUP_FAILED


async def test_unsigned_message_has_result_none(tmp_path: Path, keys: dict[str, DkimKey]) -> None:
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (trace, lookup):
        result = await verify(MESSAGE, lookup)
    assert result.status is DkimStatus.NONE
    assert result.pairs() == []
    assert trace.of_type(DnsQuery) == []


async def test_malformed_signature_is_a_permanent_error(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    broken = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=tutor\r\n" + MESSAGE
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        result = await verify(broken, lookup)
    assert result.status is DkimStatus.PERMERROR
    assert result.failure is DkimFailure.MALFORMED


async def test_dkim_verdict_reports_but_never_rejects_by_itself(
    tmp_path: Path, keys: dict[str, DkimKey]
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", keys["published"].private_pem)
    async with world_dns(tmp_path, example_org_zone(keys["published"])) as (_, lookup):
        failed = await verify(signed.replace(b"Alice\r\n", b"Mallory\r\n"), lookup)
    verdict = dkim_verdict(failed)
    assert (verdict.check, verdict.result, verdict.action) == ("dkim", "fail", Action.NONE)
    assert verdict.extra["failure"] == "body hash mismatch"
    assert verdict.reasons and verdict.reasons[-1] == "overall: dkim=fail"
