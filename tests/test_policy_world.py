"""Filtering in the real world: each check's scenario ends as expected and the trace shows why."""

from __future__ import annotations

import dataclasses

import pytest

from tutor.scenario import load_scenario
from tutor.trace import Delivery, DnsQuery, Note, Outcome, PolicyVerdict, RecipientResult, SmtpLine
from tutor.world.world import World

BOB = "bob@example.net"


def verdicts(world: World, check: str, host: str = "") -> list[PolicyVerdict]:
    return [
        e
        for e in world.trace.of_type(PolicyVerdict)
        if e.check == check and (not host or e.host == host)
    ]


def asked(world: World, host: str, qname: str, qtype: str) -> bool:
    """Whether ``host`` sent this DNS question to the world's DNS server."""
    return any(
        e.host == host and e.qname.rstrip(".") == qname and e.qtype == qtype
        for e in world.trace.of_type(DnsQuery)
    )


def header_values(message: object, name: str) -> list[str]:
    return [str(v) for v in message.get_all(name) or []]  # type: ignore[attr-defined]


async def run(start_world, name: str) -> World:
    async with start_world(name) as world:
        result = await world.run()
    assert result.ok, result.mismatches
    return world


async def test_spf_pass_queries_the_sender_domain_and_stamps_received_spf(start_world) -> None:
    world = await run(start_world, "spf-pass")
    assert asked(world, "mx.example.net", "example.org", "TXT")
    assert asked(world, "mx.example.net", "smtp.example.org", "TXT")  # the HELO identity
    mail_from = verdicts(world, "spf")[-1]
    assert mail_from.result == "pass" and mail_from.action == "none"
    assert mail_from.reasons[0] == "MAIL FROM identity alice@example.org:"
    assert any("'ip4:127.0.0.12' matched → pass" in r for r in mail_from.reasons)

    (stored,) = world.mailboxes.messages(BOB)
    (received_spf,) = header_values(stored.message, "Received-SPF")
    assert received_spf.startswith("pass (mx.example.net: domain of alice@example.org")
    (results,) = header_values(stored.message, "Authentication-Results")
    assert results.startswith("mx.example.net;") and "spf=pass" in results


async def test_spf_fail_refuses_the_forged_sender_at_rcpt_with_5_7_23(start_world) -> None:
    world = await run(start_world, "spf-fail")
    assert asked(world, "mx.example.net", "example.org", "TXT")
    fail = verdicts(world, "spf")[-1]
    assert (fail.result, fail.action) == ("fail", "reject")
    assert any("'-all' matched → fail" in r for r in fail.reasons)
    (result,) = world.results  # the DSN that went back to alice has its own results
    assert result.outcome is Outcome.REJECTED
    assert result.reply.startswith(
        "550 5.7.23 <bob@example.net>: Recipient address rejected: Message rejected due to: "
        "SPF fail - not authorized."
    )
    # the message itself never crossed: no DATA in the session with the MX
    mx_session = [e.text for e in world.trace.of_type(SmtpLine) if e.session == result.session]
    assert "RCPT TO:<bob@example.net>" in mx_session and "DATA" not in mx_session
    assert world.mailboxes.messages(BOB) == []


async def test_dkim_tamper_fails_with_body_hash_mismatch_and_is_still_delivered(
    start_world,
) -> None:
    world = await run(start_world, "dkim-tamper")
    notes = [e.text for e in world.trace.of_type(Note)]
    assert any("DKIM-signed as d=example.org s=tutor" in n for n in notes)
    assert any("appends a footer" in n for n in notes)
    assert asked(world, "mailstore.example.net", "tutor._domainkey.example.org", "TXT")
    (dkim,) = verdicts(world, "dkim", "mailstore.example.net")
    assert dkim.result == "fail"
    assert any("body hash mismatch" in r for r in dkim.reasons)
    (dmarc,) = verdicts(world, "dmarc", "mailstore.example.net")
    assert (dmarc.result, dmarc.action) == ("fail", "none")  # p=none: monitoring only

    (stored,) = world.mailboxes.messages(BOB)
    (results,) = header_values(stored.message, "Authentication-Results")
    assert "dkim=fail" in results and "body hash mismatch" in results
    assert "The footer was added after the sender signed it." in stored.message.get_content()


async def test_dmarc_reject_refuses_a_spoofed_from_at_end_of_data(start_world) -> None:
    world = await run(start_world, "dmarc-reject")
    assert asked(world, "mx.example.net", "_dmarc.example.org", "TXT")
    assert verdicts(world, "dkim")[0].result == "pass"  # d=example.com: valid, not aligned
    (dmarc,) = verdicts(world, "dmarc")
    assert (dmarc.result, dmarc.action) == ("fail", "reject")
    assert any("DKIM d=example.com: pass" in r and "NOT aligned" in r for r in dmarc.reasons)
    assert any("SPF example.com: pass" in r and "NOT aligned" in r for r in dmarc.reasons)
    (result,) = world.results  # the DSN that went back to alice has its own results
    assert result.reply == "550 5.7.1 rejected by DMARC policy for example.org"
    assert world.mailboxes.messages(BOB) == []


async def test_dmarc_quarantine_falls_back_to_the_organizational_domain_and_files_to_junk(
    start_world,
) -> None:
    world = await run(start_world, "dmarc-quarantine")
    assert asked(world, "mx.example.net", "_dmarc.pay.example.org", "TXT")
    assert asked(world, "mx.example.net", "_dmarc.example.org", "TXT")
    (dmarc,) = verdicts(world, "dmarc")
    assert (dmarc.result, dmarc.action) == ("fail", "quarantine")
    assert any(r.startswith("sp=quarantine applies") for r in dmarc.reasons)
    (delivery,) = world.trace.of_type(Delivery)
    assert delivery.folder == "Junk"
    assert world.mailboxes.messages(BOB) == []
    (junk,) = world.mailboxes.messages(BOB, "Junk")
    (results,) = header_values(junk.message, "Authentication-Results")
    assert "dmarc=fail" in results and "header.from=pay.example.org" in results


async def test_dnsbl_listed_client_gets_554_with_the_lists_reason_at_rcpt(start_world) -> None:
    world = await run(start_world, "dnsbl-listed")
    assert asked(world, "mx.example.net", "12.0.0.127.bl.example", "A")
    assert asked(world, "mx.example.net", "12.0.0.127.bl.example", "TXT")
    (verdict,) = verdicts(world, "dnsbl")
    assert (verdict.result, verdict.action) == ("listed", "reject")
    (result,) = world.results  # the DSN that went back to alice has its own results
    assert result.reply == (
        "554 5.7.1 Service unavailable; Client host [127.0.0.12] blocked using bl.example; "
        "Listed for sending spam, see http://bl.example/?ip=127.0.0.12"
    )
    # the refusal came at RCPT TO, after a normal greeting (Postfix's delayed reject)
    replies = [e.text for e in world.trace.of_type(SmtpLine) if e.host == "smtp.example.com"]
    assert "220 mx.example.net ESMTP" in replies


async def test_gateway_checks_then_relays_over_a_second_hop_and_received_headers_accumulate(
    start_world,
) -> None:
    world = await run(start_world, "gateway")
    for check in ("dnsbl", "spf", "dkim", "dmarc"):
        assert verdicts(world, check, "mx.example.net"), check
    # the mailbox server trusts its gateway: no checks of its own, and it says why
    assert not [e for e in world.trace.of_type(PolicyVerdict) if e.host == "mailstore.example.net"]
    assert any(
        "own filtering gateway" in e.text and e.host == "mailstore.example.net"
        for e in world.trace.of_type(Note)
    )
    results = world.trace.of_type(RecipientResult)
    assert [(r.host, r.outcome) for r in results] == [
        ("smtp.example.org", Outcome.DELIVERED),
        ("mx.example.net", Outcome.DELIVERED),
    ]
    assert results[1].relay.startswith("mailstore.example.net[")

    (stored,) = world.mailboxes.messages(BOB)
    received = header_values(stored.message, "Received")
    assert [r.split(" with ")[0].split("by ")[-1] for r in received] == [
        "mailstore.example.net",
        "mx.example.net",
        "smtp.example.org",
    ]
    (results_header,) = header_values(stored.message, "Authentication-Results")
    assert results_header.startswith("mx.example.net;")
    assert all(f"{c}=pass" in results_header for c in ("spf", "dkim", "dmarc"))


async def test_a_gateway_quarantine_reaches_the_mailbox_servers_junk_folder(tmp_path) -> None:
    # dmarc-quarantine's spoof, received through the gateway scenario's two hops
    spoof, gateway = load_scenario("dmarc-quarantine"), load_scenario("gateway")
    senders = [h for h in spoof.hosts if h.name != "mx.example.net"]
    receivers = [gateway.host("mx.example.net"), gateway.host("mailstore.example.net")]
    blocklist = [z for z in gateway.zones if z.origin == "bl.example"]
    scenario = dataclasses.replace(
        spoof, hosts=(*senders, *receivers), zones=(*spoof.zones, *blocklist)
    )
    async with World(scenario, run_dir=tmp_path / "w") as world:
        result = await world.run()
    assert result.ok, result.mismatches
    (dmarc,) = verdicts(world, "dmarc", "mx.example.net")
    assert dmarc.action == "quarantine"
    (delivery,) = world.trace.of_type(Delivery)
    assert (delivery.host, delivery.folder) == ("mailstore.example.net", "Junk")
    (junk,) = world.mailboxes.messages(BOB, "Junk")
    assert header_values(junk.message, "X-Spam-Flag") == ["YES"]


@pytest.mark.parametrize("name", ["spf-pass", "gateway"])
async def test_every_filtering_dns_query_is_answered_by_the_world_server(
    start_world, name: str
) -> None:
    world = await run(start_world, name)
    filtering = [e for e in world.trace.of_type(DnsQuery) if str(e.stage) == "filtering"]
    assert filtering, "the checks asked DNS nothing"
    assert all(e.server for e in filtering)
