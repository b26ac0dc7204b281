"""Faithful where it claims to be: what the world does and what its words say agree, with
Postfix and with the RFCs (issue 14). Each test types at a real world on loopback, as a learner
would with nc, and holds the explanation next to what really crossed the socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tutor.render.explain import explain_command, explain_event, explanations
from tutor.trace import Direction, Side, SmtpLine, Trace
from tutor.world.network import Service


class Nc:
    """A hand-typed session over a plain socket, like a student's nc."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self.reply()


@asynccontextmanager
async def nc(world: object, host: str, service: Service = Service.SMTP) -> AsyncIterator[Nc]:
    """Connect to ``host``'s port for ``service`` in a running world and read the greeting."""
    address = world.ctx.plan.host(host)  # type: ignore[attr-defined]
    reader, writer = await asyncio.open_connection(
        address.bind_address, address.ports[service], local_addr=("127.0.0.1", 0)
    )
    session = Nc(reader, writer)
    await session.reply()
    try:
        yield session
    finally:
        writer.close()
        await writer.wait_closed()


def server_lines(trace: Trace, text: str) -> list[SmtpLine]:
    """The server's own records of a line it sent that starts with ``text``."""
    return [
        e
        for e in trace.of_type(SmtpLine)
        if e.side is Side.SERVER
        and e.direction is Direction.SERVER_TO_CLIENT
        and e.text.startswith(text)
    ]


# --------------------------------------------------------------------------- item 10


async def test_an_unknown_command_gets_500_and_the_words_say_500_as_postfix_3_7_does(
    start_world,
) -> None:
    trace = Trace()
    async with start_world("hello", trace=trace) as world, nc(world, "mx1.example.net") as s:
        assert await s.send("HELLO there") == "500 5.5.2 Error: command not recognized"
        assert await s.send("EXPN staff") == "500 5.5.2 Error: command not recognized"
    (reply, *_) = server_lines(trace, "500 5.5.2")
    said = explain_event(reply)
    assert said.summary.startswith("500 = command not recognised")
    assert any("Postfix 3.7 and later" in p for p in said.body)
    typed = explain_command("HELLO there")
    assert "expect 500" in typed.summary and typed.next_step.startswith("Expect 500")
    # 502 is for a command the server knows but does not implement, never for a typo.
    assert "not implemented" in explanations().get("reply", "502").short


# --------------------------------------------------------------------------- item 11


async def test_the_501_example_is_one_the_world_and_postfix_really_refuse(start_world) -> None:
    async with start_world("hello") as world, nc(world, "mx1.example.net") as s:
        await s.send("EHLO client.test")
        # No angle brackets: accepted, as by Postfix with strict_rfc821_envelopes = no.
        assert await s.send("MAIL FROM:alice@example.org") == "250 2.1.0 Ok"
        await s.send("RSET")
        # The examples the words give for 501 are refused.
        assert await s.send("MAIL FROM alice@example.org") == (
            "501 5.5.4 Syntax: MAIL FROM:<address>"
        )
        assert await s.send("MAIL FROM:<alice@@example.org>") == (
            "501 5.1.7 Bad sender address syntax"
        )
    words = " ".join(explanations().get("reply", "501").text.split())
    assert "MAIL FROM alice@example.org" in words
    assert "501 5.5.4 Syntax: MAIL FROM:<address>" in words
    assert "MAIL FROM:<alice@@example.org>" in words
    assert "strict_rfc821_envelopes" in words


# --------------------------------------------------------------------------- item 12


async def test_a_deferred_messages_waiting_counts_in_delays_a_and_the_words_say_so(
    start_world,
) -> None:
    from tutor.trace import LogLine

    async with start_world("greylist") as world:
        await world.run()
        trace = world.trace
    lines = [e.text for e in trace.of_type(LogLine) if " to=<" in e.text and "relay=" in e.text]
    sent = next(line for line in lines if "status=sent" in line and "relay=mx." in line)
    delay = float(sent.split("delay=", 1)[1].split(",", 1)[0])
    a, b, c, d = (float(x) for x in sent.split("delays=", 1)[1].split(",", 1)[0].split("/"))
    assert b == 0 and a >= 240 and abs(delay - (a + b + c + d)) < 0.1  # the retry wait is in a
    words = " ".join(explanations().get("log", "smtp").text.split())
    assert "b, the time in the queue manager" in words
    assert "deferred message includes all its waiting in the deferred queue" in words


# --------------------------------------------------------------------------- item 13


async def test_auth_before_starttls_is_never_538_and_538_is_explained_as_history(
    start_world,
) -> None:
    from tutor.world.smtp.postfix_replies import postfix_reply

    async with (
        start_world("hello") as world,
        nc(world, "smtp.example.org", Service.SUBMISSION) as s,
    ):
        ehlo = await s.send("EHLO laptop.test")
        assert "AUTH" not in ehlo  # not advertised before TLS (RFC 4954 §6)
        # Like Postfix with smtpd_tls_security_level = encrypt: TLS before any other command.
        assert await s.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == (
            "530 5.7.0 Must issue a STARTTLS command first"
        )
    # Where aiosmtpd would say 538 (TLS not enforced, AUTH before it), Postfix's
    # smtpd_tls_auth_only says 504 5.5.4 (RFC 4954 §4), and so does the world.
    refused = "538 5.7.11 Encryption required for requested authentication mechanism"
    assert postfix_reply(refused, "AUTH", "smtp.example.org") == (
        "504 5.5.4 Encryption required for requested authentication mechanism"
    )
    words = " ".join(explanations().get("reply", "538").text.split())
    assert "historical" in words and "504 5.5.4" in words
    assert "historical" in explanations().get("enhanced", "7.11").text


# --------------------------------------------------------------------------- item 14


async def test_a_failed_dsn_with_a_4_x_x_status_is_explained_as_abandonment(start_world) -> None:
    from tutor.render.explain import explain_enhanced
    from tutor.trace import Bounce

    async with start_world("mx-down") as world:
        await world.run()
        (bounce,) = [b for b in world.trace.of_type(Bounce) if b.action.value == "failed"]
    fields = {link.field: link.value for link in bounce.links}
    assert fields["Action"] == "failed" and fields["Status"].startswith("4.")
    said = " ".join(" ".join(explain_enhanced(fields["Status"]).body).split())
    assert "abandonment or delay" in said
    assert "Action: failed is no contradiction" in said


# --------------------------------------------------------------------------- item 15


async def test_a_null_mx_bounce_is_explained_as_a_null_mx_not_as_a_521_host(
    start_world, tmp_path
) -> None:
    from pathlib import Path

    from tutor.scenario import load_scenario
    from tutor.trace import RecipientResult

    hello = Path(__file__).resolve().parent.parent / "lessons" / "scenarios" / "hello.toml"
    text = hello.read_text(encoding="utf-8").replace(
        "@       IN MX 10 mx1.example.net.\n@       IN MX 20 mx2.example.net.\n",
        "@       IN MX 0 .\n",
    )
    (tmp_path / "nullmx.toml").write_text(text.replace('name = "hello"', 'name = "nullmx"'))
    scenario = load_scenario(tmp_path / "nullmx.toml")
    async with start_world(scenario) as world:
        await world.run()
        results = [r for r in world.trace.of_type(RecipientResult) if r.host == "smtp.example.org"]
        (result,) = [r for r in results if "example.net" in r.recipient]
    assert result.outcome.value == "refused" and result.relay == "none"
    assert result.reply == "5.1.0 Domain example.net does not accept mail (nullMX)"
    said = explain_event(result)
    assert "null MX" in said.summary
    assert any("dsn=5.1.0" in p for p in said.body)
    words_521 = " ".join(explanations().get("reply", "521").text.split())
    assert "accepts no mail at all, for any domain" in words_521
    assert "null MX" in words_521 and "see 556" in words_521
    assert "556 5.1.10" in explanations().get("reply", "556").text


# --------------------------------------------------------------------------- item 16


async def test_enhanced_codes_and_the_rcpt_250_are_worded_as_the_wire_has_them(
    start_world,
) -> None:
    from tutor.render.explain import explain_reply

    trace = Trace()
    async with start_world("hello", trace=trace) as world, nc(world, "mx1.example.net") as s:
        ehlo = await s.send("EHLO client.test")
        await s.send("MAIL FROM:<alice@example.org>")
        assert await s.send("RCPT TO:<bob@example.net>") == "250 2.1.5 Ok"
        assert (await s.send("DATA")).startswith("354 End data")
    # RFC 2034 §4: no enhanced code on the greeting, the EHLO reply or a 3xx.
    assert all(" 2." not in line[:6] and "-2." not in line[:6] for line in ehlo.splitlines())
    words = explanations().get("extension", "ENHANCEDSTATUSCODES").text
    assert "not the initial greeting" in words and "never a 3xx" in words
    (rcpt_ok,) = server_lines(trace, "250 2.1.5")
    said = explain_event(rcpt_ok)
    assert said.summary.endswith("RFC 5321 §4.1.1.3, RFC 3463 §3.2")
    mail_ok = explain_reply("250 2.1.0 Ok", stage="envelope")
    assert "RFC 5321 §4.1.1.2" in mail_ok.summary


async def test_a_dsn_link_names_only_the_fields_the_dsn_carries(start_world) -> None:
    from tutor.render.dsnlinks import dsn_links
    from tutor.trace import Bounce

    async with start_world("mx-down") as world:
        await world.run()
        bounces = list(world.trace.of_type(Bounce))
    for bounce in bounces:
        fields = [f for link in dsn_links(bounce) for f in link.fields]
        # Every MX refused the connection: no server answered, so the DSN has no Remote-MTA.
        assert not any(f.startswith("Remote-MTA") for f in fields), fields
    failed = next(b for b in bounces if b.action.value == "failed")
    (source,) = {link.source for link in failed.links if link.field == "Last-Attempt-Date"}
    assert source.endswith("the last attempt, made once the queue lifetime had run out")


def test_the_smaller_words_say_what_the_rfcs_say() -> None:
    entry = explanations().get

    def text(table: str, key: str) -> str:
        found = entry(table, key)
        assert found is not None
        return " ".join(found.text.split())

    assert "at least 4–5 days" in text("topic", "retry")  # RFC 5321 §4.5.4.1
    assert "smaller of the SOA's own TTL and its MINIMUM" in text("dns_type", "SOA")  # RFC 2308
    assert "mail program (a client, not an MTA) submits on port 587" in text("event", "tcp_connect")
    assert "5.7.23 for an SPF fail" in text("reply", "550")
    assert "useful only as a permanent error" in text("enhanced", "7.1")  # RFC 3463 §3.8
    assert "SHOULD wait" in text("reply", "220") and "only logs it" in text("reply", "220")
    assert "RFC 5321 forbids refusing" in text("dns_type", "PTR")  # §4.1.4
    assert entry("extension", "STARTTLS").rfc[:2] == ("RFC 3207 §2", "RFC 3207 §3")


# --------------------------------------------------------------------------- item 3


def _sender_log(trace: Trace) -> list[str]:
    from tutor.trace import LogLine

    return [e.text for e in trace.of_type(LogLine) if e.host == "smtp.example.org"]


async def test_each_failed_address_is_logged_before_the_deferred_line_port_outside(
    start_world,
) -> None:
    import re

    async with start_world("mx-down") as world:
        await world.run()
        log = _sender_log(world.trace)
    deferred = [i for i, line in enumerate(log) if "status=deferred" in line]
    assert deferred
    for i in deferred[:3]:
        first, second = log[i - 2], log[i - 1]
        assert re.fullmatch(r"connect to mx1\.example\.net\[127\.0\.0\.\d+\]:\d+: .+", first)
        assert re.fullmatch(r"connect to mx2\.example\.net\[127\.0\.0\.\d+\]:\d+: .+", second)
        assert log[i].endswith(f"({second})")  # the last failure is the deferred reason


async def test_a_4xx_from_a_server_that_is_not_the_last_is_logged_before_moving_on(
    start_world,
) -> None:
    async with start_world("hello", what_ifs=frozenset({"greylist"})) as world:
        await world.run()
        log = _sender_log(world.trace)
    said = next(i for i, line in enumerate(log) if ": host mx1.example.net[" in line)
    assert log[said].split(": ", 1)[1].startswith("host mx1.example.net[127.0.0.")
    assert log[said].endswith("(in reply to RCPT TO command)")
    assert "] said: 450 4.2.0 <bob@example.net>" in log[said]
    moved_on = next(i for i, line in enumerate(log) if "relay=mx2.example.net[" in line)
    assert said < moved_on


async def test_a_421_greeting_is_logged_as_refused_to_talk_to_me(start_world) -> None:
    async with start_world("hello", what_ifs=frozenset({"greet-421"})) as world:
        await world.run()
        log = _sender_log(world.trace)
    (line,) = [x for x in log if "refused to talk to me" in x]
    assert ": host mx1.example.net[127.0.0." in line and "]:" not in line.split(" refused")[0]
    assert line.endswith(
        "refused to talk to me: 421 4.3.2 mx1.example.net Service not "
        "available, closing transmission channel"
    )


# --------------------------------------------------------------------------- item 5


async def test_postmaster_at_every_hosted_domain_is_accepted_and_explained(start_world) -> None:
    from tutor.trace import Note

    trace = Trace()
    async with start_world("hello", trace=trace) as world:
        for host, domain in (("mx1.example.net", "example.net"), ("smtp.example.org", "")):
            async with nc(world, host) as s:
                await s.send("EHLO client.test")
                await s.send("MAIL FROM:<carol@example.com>")
                target = f"<PostMaster@{domain}>" if domain else "<Postmaster>"
                assert await s.send(f"RCPT TO:{target}") == "250 2.1.5 Ok"
                assert (await s.send("DATA")).startswith("354")
                assert (await s.send("Subject: hi\r\n\r\nhello\r\n.")).startswith("250 2.0.0")
        # A user who does not exist is still unknown.
        async with nc(world, "mx1.example.net") as s:
            await s.send("EHLO client.test")
            await s.send("MAIL FROM:<carol@example.com>")
            assert (await s.send("RCPT TO:<webmaster@example.net>")).startswith("550 5.1.1")
        for postmaster in ("postmaster@example.net", "postmaster@example.org"):
            (stored,) = world.mailboxes.messages(postmaster)
            assert stored.message["Subject"] == "hi"
    notes = [n for n in trace.of_type(Note) if n.explain == "topic.postmaster"]
    assert len(notes) == 2 and "RFC 5321 §4.5.1" in notes[0].text
    said = explain_event(notes[0])
    assert said.title == "postmaster@ every domain"
    assert any("virtual_alias_maps" in p for p in said.body)


# --------------------------------------------------------------------------- item 6


async def test_vrfy_answers_as_postfix_by_default_and_252_when_disabled(start_world) -> None:
    from tutor.scenario import Fault, load_scenario

    async with start_world("hello") as world, nc(world, "mx1.example.net") as s:
        assert "250-VRFY" in await s.send("EHLO client.test")
        assert await s.send("VRFY bob@example.net") == "252 2.0.0 bob@example.net"
        assert await s.send("VRFY <bob@example.net>") == "252 2.0.0 <bob@example.net>"
        assert await s.send("VRFY nobody@example.net") == (
            "550 5.1.1 <nobody@example.net>: Recipient address rejected: "
            "User unknown in virtual mailbox table"
        )
        assert await s.send("VRFY someone@example.com") == (
            "554 5.7.1 <someone@example.com>: Relay access denied"
        )
        assert await s.send("VRFY") == "501 5.5.4 Syntax: VRFY address [SMTPUTF8]"
    disabled = load_scenario("hello").with_host(
        "mx1.example.net", faults=frozenset({Fault.VRFY_DISABLED})
    )
    cannot = "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"
    async with start_world(disabled) as world, nc(world, "mx1.example.net") as s:
        await s.send("EHLO client.test")
        # The same answer whoever is asked: nothing for a harvester to learn (RFC 5321 §7.3).
        assert await s.send("VRFY bob@example.net") == cannot
        assert await s.send("VRFY nobody@example.net") == cannot
    words = " ".join(explanations().get("command", "VRFY").text.split())
    assert "disable_vrfy_command = no" in words and "harvest" in words
    assert "502 5.5.1 VRFY command is disabled" in words and "MUST return a 252" in words


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize("helo", ["JUMPIN' JUPITER", "jumpin' jupiter"])
def test_check_spf_evaluates_a_bogus_helo_as_rfc_7208_s_suite_expects(
    capsys: pytest.CaptureFixture[str], tmp_path, helo: str
) -> None:
    import json

    from tutor.cli import main

    zone = tmp_path / "e9.zone"
    zone.write_text('$ORIGIN .\ne9.example.com. IN TXT "v=spf1 a:%{H} -all"\n')
    args = ["check", "spf", "--ip", "192.168.218.40", "--sender", "test@e9.example.com"]
    code = main([*args, "--helo", helo, "--zone", str(zone), "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["result"] == "fail"  # invalid-hello-macro (RFC 7208 §7.1)


# --------------------------------------------------------------------------- item 8


async def test_every_ehlo_keyword_is_one_the_server_honours(start_world) -> None:
    async with start_world("hello") as world, nc(world, "mx1.example.net") as s:
        ehlo = await s.send("EHLO client.test")
        keywords = [line[4:].split()[0] for line in ehlo.splitlines()[1:]]
        assert keywords == [
            "PIPELINING",
            "SIZE",
            "VRFY",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "SMTPUTF8",
        ]
        # Each one, used, is honoured (never 500/502, RFC 5321 §4.2.4).
        assert await s.send("VRFY bob@example.net") == "252 2.0.0 bob@example.net"
        assert await s.send("MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8") == (
            "250 2.1.0 Ok"
        )
        s.writer.write(b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.net>\r\n")
        assert [await s.reply() for _ in range(3)] == [  # PIPELINING: one write, three replies
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
        ]
        assert await s.send("RSET") == "250 2.0.0 Ok"
        # Postfix defaults this world leaves out, and what they get here.
        assert await s.send("ETRN example.net") == "500 5.5.2 Error: command not recognized"
        assert await s.send("BDAT 5 LAST") == "500 5.5.2 Error: command not recognized"
        assert (await s.send("MAIL FROM:<a@example.org> RET=HDRS")).startswith("555 5.5.4")
        assert await s.send("STARTTLS") == "220 2.0.0 Ready to start TLS"
    words = " ".join(explanations().get("reply_in", "250.ehlo").text.split())
    for left_out in ("ETRN (", "DSN (", "CHUNKING (", "VRFY on the submission port"):
        assert left_out in words


# --------------------------------------------------------------------------- item 4


async def test_greylisting_answers_and_logs_as_postfix_with_postgrey(start_world) -> None:
    from tutor.trace import LogLine

    async with start_world("greylist") as world:
        await world.run()
        log = [e.text for e in world.trace.of_type(LogLine) if e.host == "mx.example.net"]
    reject = next(line for line in log if line.startswith("NOQUEUE: reject: RCPT"))
    assert (
        ": 450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.net.html; from=<alice@example.org>"
    ) in reject
    assert any(line.startswith("action=greylist, reason=new, client_name=") for line in log)
    assert any(line.startswith("action=pass, reason=triplet found, delay=") for line in log)


def test_postgrey_s_defaults_are_the_world_s_defaults_and_an_awl_client_logs_client_awl(
    tmp_path,
) -> None:
    from tutor.clock import SimulatedClock
    from tutor.policy.greylist import Greylist, GreylistPolicy

    policy = GreylistPolicy()
    assert (policy.delay, policy.auto_whitelist_clients) == (300.0, 5)  # postgrey --delay, AWL
    clock = SimulatedClock(1_700_000_000.0)
    greylist = Greylist(clock, tmp_path / "g.json", policy)
    for n in range(5):  # five passes, an hour apart: the client earns its place on the AWL
        greylist.check("192.0.2.1", f"s{n}@example.org", "bob@example.net")
        clock.advance(301)
        assert not greylist.check("192.0.2.1", f"s{n}@example.org", "bob@example.net").deferred
        clock.advance(3600)
    known = greylist.check("192.0.2.1", "new@example.org", "bob@example.net")
    assert not known.deferred and known.postgrey_reason == "client AWL"
    words = " ".join(explanations().get("log", "postgrey").text.split())
    assert "reason=client AWL" in words and "300 s by default" in words


# --------------------------------------------------------------------------- item 2


async def test_too_big_is_refused_by_the_sender_itself_and_the_mx_still_says_552(
    start_world,
) -> None:
    import re

    from tutor.trace import LogLine

    async with start_world("too-big") as world:
        result = await world.run()
        sent = [
            e.text
            for e in world.trace.of_type(SmtpLine)
            if e.side is Side.CLIENT
            and e.host == "smtp.example.org"
            and e.direction is Direction.CLIENT_TO_SERVER
            and e.receiver == "mx.example.net"
        ]
        log = [e.text for e in world.trace.of_type(LogLine) if e.host == "smtp.example.org"]
        (dsn,) = world.mailboxes.messages("alice@example.org")
        async with nc(world, "mx.example.net") as s:  # a client that does not check
            await s.send("EHLO client.test")
            assert await s.send("MAIL FROM:<alice@example.org> SIZE=60184") == (
                "552 5.3.4 Message size exceeds fixed limit"
            )
    assert result.ok, result.mismatches
    assert not any(line.startswith("MAIL") for line in sent) and sent[-1] == "QUIT"
    (line,) = [x for x in log if "to=<bob@example.net>" in x]
    assert re.search(
        r"dsn=5\.3\.4, status=bounced \(message size \d+ exceeds size limit 20000 of server "
        r"mx\.example\.net\[127\.0\.0\.\d+\]\)$",
        line,
    )
    report = dsn.raw.decode()
    assert "Diagnostic-Code: X-Postfix; message size " in report
    assert "Remote-MTA" not in report


# --------------------------------------------------------------------------- item 1


async def test_a_dsn_to_a_local_sender_is_delivered_by_virtual_under_its_own_queue_id(
    start_world,
) -> None:
    from tutor.trace import Bounce, LogLine

    async with start_world("user-unknown-bounce") as world:
        await world.run()
        (bounce,) = world.trace.of_type(Bounce)
        lines = [e for e in world.trace.of_type(LogLine) if e.host == "smtp.example.org"]
        sessions = [
            e
            for e in world.trace.of_type(SmtpLine)
            if e.sender == "smtp.example.org" and e.receiver == "smtp.example.org"
        ]
    dsn = bounce.dsn_queue_id
    mine = [e for e in lines if e.text.startswith(f"{dsn}: ")]
    assert [e.text.split(": ", 1)[1].split(",", 1)[0] for e in mine] == [
        f"message-id=<{mine[0].text.split('<', 1)[1].split('>', 1)[0]}>",
        "from=<>",
        "to=<alice@example.org>",
        "removed",
    ]
    delivered = mine[2]
    assert delivered.program == "postfix/virtual"
    assert ", relay=virtual, " in delivered.text
    assert delivered.text.endswith("dsn=2.0.0, status=sent (delivered to maildir)")
    assert sessions == []  # no SMTP session from the host to itself
    words = " ".join(explanations().get("log", "virtual").text.split())
    assert "loops back to myself" in words


# --------------------------------------------------------------------------- item 7


def _mx_session(trace: Trace) -> list[SmtpLine]:
    """The sender's own record of its session with mx1: what it wrote, what it read."""
    return [
        e
        for e in trace.of_type(SmtpLine)
        if e.side is Side.CLIENT
        and e.host == "smtp.example.org"
        and "mx1.example.net" in (e.sender, e.receiver)
        and not e.is_payload
    ]


async def test_the_sender_pipelines_like_postfix_when_the_scenario_asks_else_lock_step(
    start_world,
) -> None:
    from tutor.scenario import load_scenario
    from tutor.trace import Note

    pipelined = load_scenario("hello").with_host("smtp.example.org", pipelining=True)
    async with start_world(pipelined) as world:
        await world.run()
        lines = _mx_session(world.trace)
        notes = [n for n in world.trace.of_type(Note) if n.explain == "extension.PIPELINING"]
    sent = [(e.direction is Direction.CLIENT_TO_SERVER, e.text.split(" ", 1)[0]) for e in lines]
    start = sent.index((True, "MAIL"))
    # One batch out, then the replies back in order (RFC 2920).
    assert sent[start : start + 6] == [
        (True, "MAIL"),
        (True, "RCPT"),
        (True, "DATA"),
        (False, "250"),
        (False, "250"),
        (False, "354"),
    ]
    # After 354: the content, the dot and QUIT in one write; the 250 and the 221 follow.
    assert [t for _, t in sent[start + 6 :]] == ["QUIT", "250", "221"]
    assert len(notes) == 1
    async with start_world("hello") as world:  # the default, for now: lock-step
        await world.run()
        lines = _mx_session(world.trace)
    sent = [(e.direction is Direction.CLIENT_TO_SERVER, e.text.split(" ", 1)[0]) for e in lines]
    start = sent.index((True, "MAIL"))
    assert [t for _, t in sent[start : start + 6]] == ["MAIL", "250", "RCPT", "250", "DATA", "354"]
