"""The sender MTA against the world's real DNS and real SMTP servers on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtpd.smtp import AuthResult as AiosmtpdAuthResult

from tutor.clock import RealClock, SimulatedClock
from tutor.scenario import Scenario, parse_scenario
from tutor.trace import (
    AuthResult,
    Direction,
    DnsAnswer,
    Note,
    Outcome,
    RecipientResult,
    Side,
    SmtpLine,
    Stage,
    TcpConnect,
    TlsHandshake,
    Trace,
)
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.dns import DnsServer, WorldResolver, start_world_dns
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan, Service
from tutor.world.sender.message import build_message
from tutor.world.sender.mta import MxHost, OutboundMta, submit

SCENARIO = """
[scenario]
name = "mta-test"
title = "MTA test world"

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

[[user]]
address = "alice@example.org"
password = "wonderland"

[[zone]]
origin = "example.net"
text = '''
@       IN MX 10 mx1.example.net.
@       IN MX 20 mx2.example.net.
'''

[[zone]]
origin = "example.org"
text = '''
@       IN MX 10 smtp.example.org.
'''

[[zone]]
origin = "bare.test"
text = '''
@       IN A ${mx2.example.net}
'''

[[zone]]
origin = "elsewhere.test"
text = '''
@       IN MX 10 mail.elsewhere.test.
mail    IN A 127.0.0.99
'''

[message]
from = "alice@example.org"
to = ["bob@example.net"]
"""

MX1, MX2, OUTBOUND = "mx1.example.net", "mx2.example.net", "smtp.example.org"
CONTENT = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHi Bob\r\n"


class Mailbox:
    """An aiosmtpd handler: knows bob and carol, rejects the rest, keeps what it received."""

    def __init__(self, rcpt_reply: str = "") -> None:
        self.rcpt_reply = rcpt_reply  # force this reply to every RCPT (e.g. a 450)
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        if address.split("@")[0] not in {"bob", "carol", "dave"}:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as 1A2B3C4D5E6"


class MailWorld:
    """Real DNS from the scenario above, plus SMTP servers each test starts as it needs."""

    def __init__(self, tmp_path: Path, scenario: Scenario) -> None:
        self.scenario = scenario
        self.trace = Trace()
        wanted = {scenario.dns_name: scenario.dns_address}
        wanted |= {h.name: h.address for h in scenario.hosts}
        self.ctx = WorldContext(
            publish=self.trace.publish,
            clock=RealClock(),
            plan=NetworkPlan.build(wanted),
            gate=StepGate(),
            run_dir=tmp_path,
            ca=WorldCA(tmp_path),
        )
        self.servers: list[asyncio.Server] = []
        self.dns: DnsServer | None = None
        self.resolver: WorldResolver | None = None

    async def start(self) -> None:
        self.dns, self.resolver = await start_world_dns(self.ctx, self.scenario)

    def address(self, name: str) -> str:
        return self.ctx.plan.host(name).address

    def port(self, name: str, service: Service = Service.SMTP) -> int:
        return self.ctx.plan.host(name).ports[service]

    async def mx(self, name: str, handler: Mailbox, *, tls: bool = True, **options: object) -> None:
        host = self.ctx.plan.host(name)
        port = self.ctx.plan.allocate_port(name, Service.SMTP)
        assert self.ctx.ca is not None
        context = self.ctx.ca.server_context(name, host.address) if tls else None
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(handler, hostname=name, tls_context=context, **options),  # type: ignore[arg-type]
            host.bind_address,
            port,
        )
        self.servers.append(server)

    def down(self, name: str) -> None:
        """Plan an SMTP port for ``name`` but listen on nothing: connections are refused."""
        self.ctx.plan.allocate_port(name, Service.SMTP)

    async def raw(
        self,
        name: str,
        script: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> None:
        host = self.ctx.plan.host(name)
        port = self.ctx.plan.allocate_port(name, Service.SMTP)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer)
            finally:
                writer.close()

        self.servers.append(await asyncio.start_server(handle, host.bind_address, port))

    def mta(self) -> OutboundMta:
        assert self.resolver is not None
        return OutboundMta(self.ctx, self.scenario.host(OUTBOUND), self.resolver, timeout=5)

    def notes(self) -> list[str]:
        return [n.text for n in self.trace.of_type(Note)]

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()
        if self.dns is not None:
            await self.dns.stop()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[MailWorld]:
    mail_world = MailWorld(tmp_path, parse_scenario(SCENARIO, tmp_path / "mta-test.toml"))
    await mail_world.start()
    yield mail_world
    await mail_world.close()


def by_recipient(results: list[RecipientResult]) -> dict[str, RecipientResult]:
    return {r.recipient: r for r in results}


# --------------------------------------------------------------------------- the happy path


async def test_mail_goes_to_the_most_preferred_mx_over_starttls(world: MailWorld) -> None:
    primary, backup = Mailbox(), Mailbox()
    await world.mx(MX1, primary)
    await world.mx(MX2, backup)
    (result,) = await world.mta().deliver("QID1", "alice@example.org", ["bob@example.net"], CONTENT)

    assert result.outcome is Outcome.DELIVERED
    assert result.reply == "250 2.0.0 Ok: queued as 1A2B3C4D5E6"
    assert result.relay == f"{MX1}[{world.address(MX1)}]:{world.port(MX1)}"
    assert result.queue_id == "QID1" and result.host == OUTBOUND and result.side is Side.CLIENT
    assert len(primary.envelopes) == 1 and backup.envelopes == []
    assert primary.envelopes[0].original_content == CONTENT
    assert primary.envelopes[0].rcpt_tos == ["bob@example.net"]

    mx_answers = [
        a for a in world.trace.of_type(DnsAnswer) if a.qtype == "MX" and a.host == OUTBOUND
    ]
    assert mx_answers and mx_answers[0].qname.rstrip(".") == "example.net"
    (handshake,) = world.trace.of_type(TlsHandshake)
    assert handshake.ok and handshake.verified and handshake.sni == MX1
    sent = [
        e.text for e in world.trace.of_type(SmtpLine) if e.direction is Direction.CLIENT_TO_SERVER
    ]
    assert sent[:3] == [f"EHLO {OUTBOUND}", "STARTTLS", f"EHLO {OUTBOUND}"]
    assert sent[3].startswith("MAIL FROM:<alice@example.org> SIZE=")
    assert sent[4:] == ["RCPT TO:<bob@example.net>", "DATA", *sent[6:-1], "QUIT"]
    # The event that says how it ended comes after the reply that decided it.
    final_reply = next(e for e in world.trace.of_type(SmtpLine) if e.text.startswith("250 2.0.0"))
    assert result.seq > final_reply.seq


async def test_one_session_can_deliver_to_one_recipient_and_reject_another(
    world: MailWorld,
) -> None:
    mailbox = Mailbox()
    await world.mx(MX1, mailbox)
    results = await world.mta().deliver(
        "QID2",
        "alice@example.org",
        ["nobody@example.net", "bob@example.net", "carol@example.net"],
        CONTENT,
    )
    assert [r.recipient for r in results] == [
        "nobody@example.net",
        "bob@example.net",
        "carol@example.net",
    ]
    outcome = by_recipient(results)
    assert outcome["nobody@example.net"].outcome is Outcome.REJECTED
    assert outcome["nobody@example.net"].reply.startswith("550 5.1.1 <nobody@example.net>")
    assert outcome["bob@example.net"].outcome is Outcome.DELIVERED
    assert outcome["carol@example.net"].outcome is Outcome.DELIVERED
    assert mailbox.envelopes[0].rcpt_tos == ["bob@example.net", "carol@example.net"]
    assert len(world.trace.of_type(TcpConnect)) == 1  # one session for the whole domain


async def test_no_data_is_sent_when_every_recipient_is_rejected(world: MailWorld) -> None:
    await world.mx(MX1, Mailbox())
    (result,) = await world.mta().deliver("Q", "alice@example.org", ["nobody@example.net"], CONTENT)
    assert result.outcome is Outcome.REJECTED
    sent = [
        e.text for e in world.trace.of_type(SmtpLine) if e.direction is Direction.CLIENT_TO_SERVER
    ]
    assert "DATA" not in sent and sent[-1] == "QUIT"


# --------------------------------------------------------------------------- fallback


async def test_secondary_mx_is_used_when_primary_refuses_the_connection(world: MailWorld) -> None:
    world.down(MX1)
    backup = Mailbox()
    await world.mx(MX2, backup)
    (result,) = await world.mta().deliver("QID3", "alice@example.org", ["bob@example.net"], CONTENT)

    assert result.outcome is Outcome.DELIVERED
    assert result.relay.startswith(f"{MX2}[{world.address(MX2)}]")
    assert len(backup.envelopes) == 1
    refused, accepted = world.trace.of_type(TcpConnect)
    assert not refused.ok and refused.error == "Connection refused" and refused.dst_host == MX1
    assert accepted.ok and accepted.dst_host == MX2
    assert (
        f"{MX1} refused the connection; trying the next MX {MX2} (preference 20)" in world.notes()
    )


async def test_secondary_mx_is_used_when_primary_greets_with_421(world: MailWorld) -> None:
    async def overloaded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"421 4.3.2 mx1.example.net Service shutting down\r\n")
        await writer.drain()

    await world.raw(MX1, overloaded)
    backup = Mailbox()
    await world.mx(MX2, backup)
    (result,) = await world.mta().deliver("QID4", "alice@example.org", ["bob@example.net"], CONTENT)

    assert result.outcome is Outcome.DELIVERED and result.relay.startswith(MX2)
    assert len(backup.envelopes) == 1
    assert any(
        n.startswith(f"{MX1} greeted with 421 4.3.2")
        and n.endswith(f"next MX {MX2} (preference 20)")
        for n in world.notes()
    )
    # Nothing was said to a server that would not talk.
    to_mx1 = [e for e in world.trace.of_type(SmtpLine) if e.receiver == MX1]
    assert to_mx1 == []


async def test_every_mx_down_defers_with_the_last_connection_error(world: MailWorld) -> None:
    world.down(MX1)
    world.down(MX2)
    (result,) = await world.mta().deliver("QID5", "alice@example.org", ["bob@example.net"], CONTENT)
    assert result.outcome is Outcome.DEFERRED
    assert result.reply == (
        f"4.4.1 connect to {MX2}[{world.address(MX2)}]:{world.port(MX2)}: Connection refused"
    )
    assert f"{MX2} refused the connection; no other MX is left to try" in world.notes()


async def test_a_recipient_deferred_by_the_primary_is_tried_at_the_backup(world: MailWorld) -> None:
    # Postfix: a 4xx only says "not now, not here"; the backup MX may take the recipient.
    await world.mx(
        MX1,
        Mailbox(rcpt_reply="450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted"),
    )
    backup = Mailbox()
    await world.mx(MX2, backup)
    (result,) = await world.mta().deliver("QID6", "alice@example.org", ["bob@example.net"], CONTENT)
    assert result.outcome is Outcome.DELIVERED and result.relay.startswith(MX2)
    assert any(n.startswith(f"{MX1} deferred bob@example.net (450 4.2.0") for n in world.notes())


async def test_a_recipient_deferred_everywhere_keeps_the_last_reply(world: MailWorld) -> None:
    greylist = "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted"
    await world.mx(MX1, Mailbox(rcpt_reply=greylist))
    await world.mx(MX2, Mailbox(rcpt_reply=greylist))
    (result,) = await world.mta().deliver("QID7", "alice@example.org", ["bob@example.net"], CONTENT)
    assert result.outcome is Outcome.DEFERRED and result.reply == greylist
    assert result.relay.startswith(MX2)


# --------------------------------------------------------------------------- the guard


async def test_an_mx_outside_the_world_is_refused_without_connecting(world: MailWorld) -> None:
    (result,) = await world.mta().deliver(
        "QID8", "alice@example.org", ["someone@elsewhere.test"], CONTENT
    )
    assert result.outcome is Outcome.REFUSED and result.relay == "none"
    assert "127.0.0.99 is not a host of this mail world" in result.reply
    assert world.trace.of_type(TcpConnect) == []
    assert any("127.0.0.99 is not a host of this mail world" in n for n in world.notes())


# --------------------------------------------------------------------------- DNS outcomes


async def test_a_domain_that_does_not_exist_is_refused_with_host_not_found(
    world: MailWorld,
) -> None:
    await world.mx(MX1, Mailbox())
    results = await world.mta().deliver(
        "QID9", "alice@example.org", ["x@typo.example.net", "bob@example.net"], CONTENT
    )
    outcome = by_recipient(results)
    assert outcome["x@typo.example.net"].outcome is Outcome.REFUSED
    assert outcome["x@typo.example.net"].reply == (
        "5.4.4 Host or domain name not found. Name service error for name=typo.example.net "
        "type=MX: Host not found"
    )
    assert outcome["x@typo.example.net"].relay == "none"
    assert outcome["bob@example.net"].outcome is Outcome.DELIVERED


async def test_a_dns_server_that_gives_no_answer_defers_instead(world: MailWorld) -> None:
    # The world's DNS is authoritative only: a name outside its zones gets REFUSED, which
    # says nothing about the name, so (like Postfix) the MTA tries again later.
    (result,) = await world.mta().deliver("Q", "alice@example.org", ["x@nowhere.test"], CONTENT)
    assert result.outcome is Outcome.DEFERRED
    assert result.reply == (
        "4.4.3 Host or domain name not found. Name service error for name=nowhere.test "
        "type=MX: Host not found, try again"
    )
    # ... and the learner is told why, once per domain (not at every retry).
    await world.mta().deliver("Q2", "alice@example.org", ["y@nowhere.test"], CONTENT)
    outside = [n for n in world.notes() if "nowhere.test is not a domain of this world" in n]
    assert len(outside) == 1


async def test_a_domain_without_mx_is_reached_through_its_implicit_mx(world: MailWorld) -> None:
    mailbox = Mailbox()
    await world.mx(MX2, mailbox)  # bare.test's A record is mx2's address
    (result,) = await world.mta().deliver("QID10", "alice@example.org", ["dave@bare.test"], CONTENT)
    assert result.outcome is Outcome.DELIVERED
    assert result.relay.startswith(f"bare.test[{world.address(MX2)}]")
    assert any(
        "implicit MX" in n and n.startswith("bare.test has no MX record") for n in world.notes()
    )
    notes = [n for n in world.trace.of_type(Note) if "implicit MX" in n.text]
    assert notes[0].stage is Stage.DNS


async def test_a_domain_with_mx_records_gets_no_implicit_mx_note(world: MailWorld) -> None:
    await world.mx(MX1, Mailbox())
    await world.mta().deliver("Q", "alice@example.org", ["bob@example.net"], CONTENT)
    assert not any("implicit MX" in n for n in world.notes())


def test_equal_preferences_are_shuffled_but_reproducibly(world: MailWorld) -> None:
    mta = world.mta()
    hosts = [MxHost(20, "c.test"), MxHost(10, "a.test"), MxHost(10, "b.test"), MxHost(10, "d.test")]
    orders = {tuple(h.name for h in mta.order(hosts, seed=f"Q{n}")) for n in range(30)}
    assert all(order[-1] == "c.test" for order in orders)  # preference still rules
    assert len(orders) > 1  # ties really are shuffled ...
    assert mta.order(hosts, seed="Q7") == mta.order(hosts, seed="Q7")  # ... the same way per id


# --------------------------------------------------------------------------- TLS and size


async def test_an_mx_without_starttls_gets_the_message_in_clear_with_a_note(
    world: MailWorld,
) -> None:
    await world.mx(MX1, Mailbox(), tls=False)
    (result,) = await world.mta().deliver("Q", "alice@example.org", ["bob@example.net"], CONTENT)
    assert result.outcome is Outcome.DELIVERED
    assert world.trace.of_type(TlsHandshake) == []
    assert (
        f"{MX1} does not offer STARTTLS: continuing in clear (RFC 3207 opportunistic TLS, "
        "Postfix smtp_tls_security_level=may)"
    ) in world.notes()
    assert not any(e.encrypted for e in world.trace.of_type(SmtpLine))


async def test_a_message_over_the_advertised_size_is_refused_by_the_client_before_mail_from(
    world: MailWorld,
) -> None:
    # Postfix's smtp_xfer: SIZE 50 in EHLO, a bigger message: no MAIL FROM, a local 5.3.4.
    mailbox = Mailbox()
    await world.mx(MX1, mailbox, data_size_limit=50)
    results = await world.mta().deliver(
        "Q", "alice@example.org", ["bob@example.net", "carol@example.net"], CONTENT
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.REJECTED]
    assert all(
        r.reply.startswith(f"5.3.4 message size {len(CONTENT)} exceeds size limit 50 of server ")
        for r in results
    )
    sent = [
        e.text for e in world.trace.of_type(SmtpLine) if e.direction is Direction.CLIENT_TO_SERVER
    ]
    assert not any(line.startswith(("MAIL", "RCPT", "DATA")) for line in sent)
    assert sent[-1] == "QUIT"
    assert mailbox.envelopes == []
    assert any("bigger than the 50 bytes" in n for n in world.notes())


# --------------------------------------------------------------------------- the gate


async def test_the_mx_lookup_is_a_step_of_its_own(world: MailWorld) -> None:
    await world.mx(MX1, Mailbox())
    world.ctx.gate.close()
    task = asyncio.get_running_loop().create_task(
        world.mta().deliver("Q", "alice@example.org", ["bob@example.net"], CONTENT)
    )
    await asyncio.sleep(0.05)
    assert str(world.ctx.gate.waiting) == "look up the MX records of example.net"
    assert world.trace.of_type(DnsAnswer) == []
    world.ctx.gate.release()
    await asyncio.sleep(0.05)
    assert str(world.ctx.gate.waiting) == f"look up the address of {MX1}"
    world.ctx.gate.open()
    (result,) = await asyncio.wait_for(task, 5)
    assert result.outcome is Outcome.DELIVERED


# --------------------------------------------------------------------------- submission


async def test_submit_does_starttls_then_auth_then_the_envelope(world: MailWorld) -> None:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AiosmtpdAuthResult:
        ok = (
            getattr(data, "login", b"") == b"alice@example.org"
            and getattr(data, "password", b"") == b"wonderland"
        )
        return AiosmtpdAuthResult(success=ok, handled=False, auth_data=data)

    inbox = Mailbox()
    host = world.ctx.plan.host(OUTBOUND)
    port = world.ctx.plan.allocate_port(OUTBOUND, Service.SUBMISSION)
    assert world.ctx.ca is not None
    context = world.ctx.ca.server_context(OUTBOUND, host.address)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname=OUTBOUND, tls_context=context, authenticator=authenticate),
        host.bind_address,
        port,
    )
    world.servers.append(server)
    replies = await submit(
        world.ctx,
        client_host="laptop.example.org",
        server_host=OUTBOUND,
        address=host.address,
        port=port,
        user="alice@example.org",
        password="wonderland",
        sender="alice@example.org",
        recipients=["bob@example.net"],
        content=CONTENT,
    )
    assert [r.code for r in replies] == [220, 250, 220, 250, 235, 250, 250, 250, 221]
    (auth,) = world.trace.of_type(AuthResult)
    assert auth.ok and auth.host == "laptop.example.org"
    (handshake,) = world.trace.of_type(TlsHandshake)
    assert handshake.verified  # a mail program verifies the server it gives its password to
    assert inbox.envelopes[0].original_content == CONTENT
    auth_line = next(e for e in world.trace.of_type(SmtpLine) if e.text.startswith("AUTH PLAIN"))
    assert auth_line.encrypted


async def test_submit_will_not_send_a_password_in_clear(world: MailWorld) -> None:
    inbox = Mailbox()
    host = world.ctx.plan.host(OUTBOUND)
    port = world.ctx.plan.allocate_port(OUTBOUND, Service.SUBMISSION)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname=OUTBOUND, auth_require_tls=False), host.bind_address, port
    )
    world.servers.append(server)
    replies = await submit(
        world.ctx,
        client_host="laptop.example.org",
        server_host=OUTBOUND,
        address=host.address,
        port=port,
        user="alice@example.org",
        password="wonderland",
        sender="alice@example.org",
        recipients=["bob@example.net"],
        content=CONTENT,
    )
    assert [r.code for r in replies] == [220, 250, 221]
    assert not any(
        "AUTH" in e.text
        for e in world.trace.of_type(SmtpLine)
        if e.direction is Direction.CLIENT_TO_SERVER
    )
    assert any("does not offer STARTTLS" in n for n in world.notes())


async def test_submit_with_implicit_tls_starts_tls_before_the_greeting(world: MailWorld) -> None:
    inbox = Mailbox()
    host = world.ctx.plan.host(OUTBOUND)
    port = world.ctx.plan.allocate_port(OUTBOUND, Service.SUBMISSIONS)
    assert world.ctx.ca is not None
    context = world.ctx.ca.server_context(OUTBOUND, host.address)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname=OUTBOUND, auth_require_tls=False, authenticator=_accept_all),
        host.bind_address,
        port,
        ssl=context,
    )
    world.servers.append(server)
    replies = await submit(
        world.ctx,
        client_host="laptop.example.org",
        server_host=OUTBOUND,
        address=host.address,
        port=port,
        user="alice@example.org",
        password="wonderland",
        sender="alice@example.org",
        recipients=["bob@example.net"],
        content=CONTENT,
        implicit_tls=True,
    )
    assert [r.code for r in replies] == [220, 250, 235, 250, 250, 250, 221]
    (handshake,) = world.trace.of_type(TlsHandshake)
    assert handshake.implicit and handshake.verified and handshake.stage is Stage.CONNECT
    assert all(e.encrypted for e in world.trace.of_type(SmtpLine))
    assert "STARTTLS" not in [e.text for e in world.trace.of_type(SmtpLine)]


def _accept_all(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AiosmtpdAuthResult:
    return AiosmtpdAuthResult(success=True, auth_data=data)


# --------------------------------------------------------------------------- the message


def test_the_message_is_built_with_the_scenarios_headers_and_crlf(world: MailWorld) -> None:
    world.ctx.clock = SimulatedClock(1_700_000_000)
    spec = dataclasses.replace(
        world.scenario.message,
        recipients=("bob@example.net", "carol@example.net"),
        subject="Lunch on Friday?",
        body="Hi Bob,\n.a line with a dot\n",
        header_from="Alice <alice@example.org>",
    )
    raw = build_message(world.ctx, spec)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"] == "Alice <alice@example.org>"
    assert parsed["To"] == "bob@example.net, carol@example.net"
    assert parsed["Subject"] == "Lunch on Friday?"
    assert parsed["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert parsed["Message-ID"].endswith("@example.org>")
    assert parsed["MIME-Version"] == "1.0"
    assert parsed.get_content().replace("\r\n", "\n") == "Hi Bob,\n.a line with a dot\n"
    assert build_message(world.ctx, spec) == raw  # same clock, same bytes


def test_pad_to_grows_the_message_to_the_requested_size(world: MailWorld) -> None:
    spec = dataclasses.replace(world.scenario.message, pad_to=20_000)
    size = len(build_message(world.ctx, spec))
    assert 20_000 <= size < 20_100
    assert len(build_message(world.ctx, world.scenario.message)) < 1_000
