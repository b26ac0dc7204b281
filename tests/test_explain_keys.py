"""Explain keys: every SMTP line says what it is, and every key the world emits is explained."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tutor import smtp_keys
from tutor.render.explain import explain_event, explanations, key_of
from tutor.scenario import shipped_scenarios
from tutor.smtp_keys import COMMANDS, smtp_line_key
from tutor.trace import (
    Direction,
    DnsAnswer,
    DnsQuery,
    Event,
    Outcome,
    Side,
    SmtpLine,
    Stage,
    event_with,
)

C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT


@pytest.mark.parametrize(
    ("direction", "data", "key"),
    [
        (C2S, b"EHLO laptop.example.org\r\n", "command.ehlo"),
        (C2S, b"mail from:<alice@example.org> SIZE=312\r\n", "command.mail"),
        (C2S, b"RCPT TO:<bob@example.net>\r\n", "command.rcpt"),
        (C2S, b"STARTTLS\r\n", "command.starttls"),
        (C2S, b"HAVE A NICE DAY\r\n", "smtp.unknown_command"),
        (C2S, b"\r\n", "smtp.unknown_command"),
        (S2C, b"250-SIZE 10240000\r\n", "reply.250"),
        (S2C, b"550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n", "reply.550"),
        (S2C, b"354\r\n", "reply.354"),
        (S2C, b"hello there\r\n", "smtp.not_a_reply"),
        (S2C, b"2500 not a code\r\n", "smtp.not_a_reply"),
    ],
)
def test_a_line_is_keyed_by_its_command_or_reply_code(
    direction: Direction, data: bytes, key: str
) -> None:
    assert smtp_line_key(direction, data) == key


def test_the_message_content_and_an_auth_answer_have_keys_of_their_own() -> None:
    assert smtp_line_key(C2S, b"Subject: hi\r\n\r\nbody\r\n.\r\n", payload=True) == "smtp.payload"
    # The sender's client answers a 334 in the AUTH stage: inferred from the stage ...
    assert smtp_line_key(C2S, b"YWxpY2U=\r\n", stage=Stage.AUTH) == "smtp.auth_response"
    assert smtp_line_key(C2S, b"AUTH LOGIN\r\n", stage=Stage.AUTH) == "command.auth"
    # ... the receiver knows it is reading an answer, even one that looks like a command.
    assert smtp_line_key(C2S, b"QUIT\r\n", continuation=True) == "smtp.auth_response"
    assert smtp_line_key(C2S, b"FOO\r\n", stage=Stage.AUTH, continuation=False) == (
        "smtp.unknown_command"
    )


async def test_both_ends_publish_every_line_with_its_key(start_world) -> None:
    async with start_world("hello") as world:
        await world.run()
    lines = world.trace.of_type(SmtpLine)
    assert lines and all(line.explain for line in lines)
    for side in (Side.CLIENT, Side.SERVER):
        keys = [line.explain for line in lines if line.side is side]
        assert {"command.ehlo", "command.starttls", "reply.220", "reply.250"} <= set(keys)
        assert "smtp.payload" in keys
    for line in lines:
        assert line.explain == smtp_line_key(
            line.direction, line.data, stage=line.stage, payload=line.is_payload
        )


# --------------------------------------------------------------------------- every key resolves


def _unresolved(events: list[Event]) -> Counter[str]:
    data = explanations()
    return Counter(e.explain for e in events if e.explain and data.lookup(e.explain) is None)


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
async def test_every_explain_key_a_shipped_scenario_emits_names_an_entry(
    start_world, path: Path
) -> None:
    async with start_world(str(path)) as world:
        await world.run()
    events = list(world.trace)
    assert sum(1 for e in events if e.explain) > len(events) // 2  # keys are the rule
    assert _unresolved(events) == Counter()
    generic = explanations().get("event", "generic")
    assert generic is not None
    for event in events:
        if event.explain:
            assert explain_event(event).title != generic.title, (event.explain, event)


@pytest.mark.parametrize(
    "key",
    [
        *(f"command.{verb.lower()}" for verb in sorted(COMMANDS)),
        smtp_keys.PAYLOAD,
        smtp_keys.AUTH_RESPONSE,
        smtp_keys.UNKNOWN_COMMAND,
        smtp_keys.NOT_A_REPLY,
        *(f"outcome.{outcome.value}" for outcome in Outcome),
        # what the world's DNS server and resolver can answer besides what the lessons show
        *(f"dns.{kind}" for kind in ("servfail", "refused", "formerr", "notimp", "badvers")),
        "dns.truncated",
        "dns.timeout",
        "queue.hold",
        "bounce.delayed",
    ],
)
def test_keys_the_world_can_emit_outside_the_lessons_name_an_entry_too(key: str) -> None:
    assert explanations().lookup(key) is not None, key


# --------------------------------------------------------------------------- one explanation


async def test_a_line_recorded_without_a_key_is_explained_as_if_it_had_one(start_world) -> None:
    """Traces recorded before lines carried keys (the UI snapshots replay one) read the same."""
    async with start_world("hello") as world:
        await world.run()
    for line in world.trace.of_type(SmtpLine):
        keyless = event_with(line, explain="")
        assert key_of(keyless) == line.explain
        assert explain_event(keyless) == explain_event(line)


def test_a_dns_answer_is_explained_by_its_kind_not_only_its_rcode() -> None:
    nodata = DnsAnswer(qname="example.net.", qtype="MX", server="s", rcode="NOERROR")
    assert key_of(nodata) == "dns.nodata"
    truncated = DnsAnswer(
        qname="big.example.", qtype="TXT", server="s", rcode="NOERROR", flags=("qr", "tc")
    )
    explained = explain_event(event_with(truncated, explain="dns.truncated"))
    assert "TCP" in explained.next_step and "RFC 1035 §4.2.1" in explained.rfc
    assert "NODATA" not in explained.summary  # a cut-off answer is not an empty one
    cached = DnsAnswer(
        qname="example.net.",
        qtype="MX",
        server="s",
        rcode="NOERROR",
        answer=("example.net. 3590 IN MX 10 mx1.example.net.",),
        cached=True,
        explain="dns.cached",
    )
    explained = explain_event(cached)
    assert explained.title.endswith("from the cache")
    assert explained.summary.startswith("NOERROR (cached) = ")
    assert any("TTL" in p for p in explained.body)


def test_a_question_from_the_cache_is_still_a_dns_query() -> None:
    query = DnsQuery(qname="example.net.", qtype="MX", server="s", explain="dns.query")
    explained = explain_event(query)
    assert explained.title == "DNS query"
    assert explained.summary.startswith("? MX = ")


def test_the_spotlight_words_an_event_as_the_transcript_does() -> None:
    from tutor.render.transcript import render_event
    from tutor.ui.lines import event_body

    query = DnsQuery(
        host="smtp.example.org", qname="example.net.", qtype="MX", server="127.0.0.53:53"
    )
    (line,) = render_event(query)
    assert event_body(query) == line.removeprefix("[dns]").strip()


async def test_an_auth_login_answer_is_keyed_as_one_by_both_ends(start_world) -> None:
    from tutor.world.network import Service
    from tutor.world.sender.client import SmtpClient

    async with start_world("hello") as world:
        server = world.ctx.plan.host("smtp.example.org")
        client = SmtpClient(world.ctx, host_name="laptop.example.org", session="lab")
        await client.connect("smtp.example.org", server.address, server.ports[Service.SUBMISSION])
        await client.ehlo()
        await client.starttls()
        await client.ehlo()
        reply = await client.auth("LOGIN", "alice@example.org", "wonderland")
        await client.quit()
    assert reply.code == 235
    # the scenario never ran: every line is this session's, recorded once by each end
    lines = world.trace.of_type(SmtpLine)
    answers = [e for e in lines if e.direction is C2S and e.stage is Stage.AUTH]
    by_side = {side: [e.explain for e in answers if e.side is side] for side in Side}
    expected = ["command.auth", "smtp.auth_response", "smtp.auth_response"]
    assert by_side[Side.CLIENT] == expected and by_side[Side.SERVER] == expected
