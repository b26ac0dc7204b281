"""The MX on real loopback sockets: capabilities, TLS, delivery, Postfix's refusals, bad input."""

from __future__ import annotations

import asyncio
import re
import shutil
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from worldctx import trace_of

from tutor.clock import RealClock
from tutor.scenario import Fault, Scenario, load_scenario
from tutor.trace import (
    Delivery,
    Direction,
    LogLine,
    Side,
    SmtpLine,
    Stage,
    TcpClose,
    TcpConnect,
    TlsHandshake,
    Trace,
)
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan, Service
from tutor.world.smtp.mailbox import Mailboxes
from tutor.world.smtp.receiver import Client, Decision, IncomingMessage, Policy, Receiver

MX = "mx1.example.net"


@dataclass
class Mx:
    ctx: WorldContext
    receiver: Receiver
    mailboxes: Mailboxes
    address: str  # where it really listens
    port: int

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP(self.address, self.port, local_hostname="client.test", timeout=5)

    def tls(self) -> ssl.SSLContext:
        assert self.ctx.ca is not None
        context = self.ctx.ca.client_context()
        context.check_hostname = False  # smtplib connects by IP; the chain is still verified
        return context

    def server_lines(self, direction: Direction | None = None) -> list[SmtpLine]:
        return [
            e
            for e in trace_of(self.ctx).of_type(SmtpLine)
            if e.side is Side.SERVER and (direction is None or e.direction is direction)
        ]


def make_context(tmp_path: Path, scenario: Scenario) -> WorldContext:
    plan = NetworkPlan.build({h.name: h.address for h in scenario.hosts})
    ctx = WorldContext(
        publish=Trace().publish, clock=RealClock(), plan=plan, gate=StepGate(), run_dir=tmp_path
    )
    ctx.ca = WorldCA(tmp_path)
    return ctx


StartMx = Callable[..., Awaitable[Mx]]


@pytest.fixture
async def start_mx(tmp_path: Path) -> AsyncIterator[StartMx]:
    started: list[Receiver] = []

    async def start(policies: list[Policy] | None = None, **host_changes: Any) -> Mx:
        scenario = load_scenario("hello").with_host(MX, **host_changes)
        ctx = make_context(tmp_path, scenario)
        host = scenario.host(MX)
        assert ctx.ca is not None
        port = ctx.plan.allocate_port(MX, Service.SMTP)
        mailboxes = Mailboxes(tmp_path / "mailboxes")
        receiver = Receiver(
            ctx, host, scenario, mailboxes, ctx.ca.server_context(MX, host.address), port, policies
        )
        await receiver.start()
        started.append(receiver)
        return Mx(ctx, receiver, mailboxes, ctx.plan.host(MX).bind_address, port)

    yield start
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def mx(start_mx: StartMx) -> Mx:
    return await start_mx()


class Raw:
    """A hand-typed SMTP session over a plain socket, like a student's nc."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, mx: Mx) -> tuple[Raw, str]:
        reader, writer = await asyncio.open_connection(mx.address, mx.port)
        raw = cls(reader, writer)
        return raw, await raw.reply()

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, data: bytes) -> str:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def in_thread(function: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(function)


# --------------------------------------------------------------------------- greeting and EHLO


async def test_greeting_names_the_host_the_way_postfix_does(mx: Mx) -> None:
    raw, greeting = await Raw.open(mx)
    assert greeting == f"220 {MX} ESMTP"
    await raw.close()


async def test_ehlo_lists_capabilities_in_postfix_order(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    reply = await raw.send(b"EHLO client.test\r\n")
    assert reply.splitlines() == [
        f"250-{MX}",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-STARTTLS",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250 SMTPUTF8",
    ]
    await raw.close()


async def test_ehlo_after_starttls_no_longer_offers_starttls(mx: Mx) -> None:
    def talk() -> tuple[bool, bool]:
        with mx.smtp() as smtp:
            smtp.ehlo()
            before = smtp.has_extn("starttls")
            smtp.starttls(context=mx.tls())
            smtp.ehlo()
            return before, smtp.has_extn("starttls")

    assert await in_thread(talk) == (True, False)


async def test_starttls_presents_a_certificate_the_world_ca_verifies(mx: Mx) -> None:
    def talk() -> dict[str, Any]:
        with mx.smtp() as smtp:
            smtp.starttls(context=mx.tls())
            assert isinstance(smtp.sock, ssl.SSLSocket)
            cert = smtp.sock.getpeercert()
            smtp.noop()
            return cert

    cert = await in_thread(talk)
    assert ("DNS", MX) in cert["subjectAltName"]
    handshake = trace_of(mx.ctx).of_type(TlsHandshake)
    assert len(handshake) == 1
    event = handshake[0]
    assert event.side is Side.SERVER and event.ok and not event.implicit
    assert event.stage is Stage.STARTTLS
    assert event.version.startswith("TLS") and event.cipher and event.bits >= 128
    assert f"CN={MX}" in event.subject and "smtp-tutor world CA" in event.issuer


async def test_a_client_that_does_not_trust_the_world_ca_fails_the_handshake(mx: Mx) -> None:
    def talk() -> None:
        with mx.smtp() as smtp:
            smtp.starttls(context=ssl.create_default_context())

    with pytest.raises(ssl.SSLCertVerificationError):
        await in_thread(talk)
    # The server keeps serving the next client.
    raw, greeting = await Raw.open(mx)
    assert greeting.startswith("220 ")
    await raw.close()


# --------------------------------------------------------------------------- delivery


async def test_accepted_message_lands_in_the_maildir_with_return_path_and_received(mx: Mx) -> None:
    def talk() -> tuple[int, bytes]:
        with mx.smtp() as smtp:
            smtp.starttls(context=mx.tls())
            return smtp.sendmail(
                "alice@example.org",
                ["bob@example.net"],
                b"From: alice@example.org\r\nSubject: Lunch\r\n\r\nFriday?\r\n",
            ) or (250, b"")

    await in_thread(talk)
    reply = [e for e in mx.server_lines(Direction.SERVER_TO_CLIENT) if b"queued as" in e.data]
    assert len(reply) == 1
    match = re.fullmatch(rb"250 2\.0\.0 Ok: queued as ([0-9A-F]{10,12})\r\n", reply[0].data)
    assert match, reply[0].data
    queue_id = match.group(1).decode()

    stored = mx.mailboxes.messages("bob@example.net")
    assert len(stored) == 1
    message = stored[0].message
    assert list(message.keys())[:3] == ["Return-Path", "Delivered-To", "Received"]
    assert message["Return-Path"] == "<alice@example.org>"
    received = " ".join(str(message["Received"]).split())
    assert received.startswith("from client.test (unknown [")
    assert f"by {MX} with ESMTPS id {queue_id}" in received
    assert "for <bob@example.net>;" in received
    assert message["Subject"] == "Lunch"
    assert stored[0].path.parent.name == "new"
    assert b"\r\n" not in stored[0].raw  # stored with Unix line ends

    deliveries = trace_of(mx.ctx).of_type(Delivery)
    assert [d.recipient for d in deliveries] == ["bob@example.net"]
    assert deliveries[0].stage is Stage.DELIVERY and deliveries[0].folder == "INBOX"
    assert deliveries[0].filename == stored[0].path.name


async def test_received_says_esmtp_without_tls_and_smtp_after_helo(mx: Mx) -> None:
    def talk(helo: bool) -> None:
        with mx.smtp() as smtp:
            smtp.helo() if helo else smtp.ehlo()
            smtp.sendmail("alice@example.org", ["bob@example.net"], b"Subject: x\r\n\r\nx\r\n")

    await in_thread(lambda: talk(False))
    await in_thread(lambda: talk(True))
    withs = [
        re.search(r" with (\S+) ", " ".join(str(m.message["Received"]).split())).group(1)  # type: ignore[union-attr]
        for m in mx.mailboxes.messages("bob@example.net")
    ]
    assert sorted(withs) == ["ESMTP", "SMTP"]


async def test_null_sender_of_a_bounce_is_accepted_and_kept_as_empty_return_path(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    await raw.send(b"EHLO mailer.test\r\n")
    assert await raw.send(b"MAIL FROM:<>\r\n") == "250 2.1.0 Ok"
    assert await raw.send(b"RCPT TO:<bob@example.net>\r\n") == "250 2.1.5 Ok"
    assert (await raw.send(b"DATA\r\n")).startswith("354 ")
    assert (await raw.send(b"Subject: bounce\r\n\r\nsorry\r\n.\r\n")).startswith("250 2.0.0 Ok")
    await raw.close()
    assert mx.mailboxes.messages("bob@example.net")[0].message["Return-Path"] == "<>"


async def test_client_from_a_world_host_is_named_in_received(mx: Mx) -> None:
    plan = mx.ctx.plan
    outbound = plan.host("smtp.example.org")
    sock = socket.socket()
    sock.bind((outbound.bind_address, 0))
    plan.note_outgoing(outbound.name, sock.getsockname()[:2])
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (mx.address, mx.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    raw = Raw(reader, writer)
    await raw.reply()
    await raw.send(b"EHLO smtp.example.org\r\n")
    await raw.send(b"MAIL FROM:<alice@example.org>\r\n")
    await raw.send(b"RCPT TO:<bob@example.net>\r\n")
    await raw.send(b"DATA\r\n")
    await raw.send(b"Subject: hi\r\n\r\nhi\r\n.\r\n")
    await raw.close()
    received = " ".join(
        str(mx.mailboxes.messages("bob@example.net")[0].message["Received"]).split()
    )
    assert received.startswith(f"from smtp.example.org (smtp.example.org [{outbound.address}])")
    connect = trace_of(mx.ctx).of_type(TcpConnect)[0]
    assert connect.side is Side.SERVER and connect.src.startswith(outbound.address + ":")
    lines = mx.server_lines(Direction.CLIENT_TO_SERVER)
    assert {(e.sender, e.receiver) for e in lines} == {("smtp.example.org", MX)}


# --------------------------------------------------------------------------- Postfix's refusals


async def test_unknown_user_in_a_served_domain_gets_550_5_1_1(mx: Mx) -> None:
    def talk() -> tuple[int, bytes]:
        with mx.smtp() as smtp:
            smtp.ehlo()
            smtp.mail("alice@example.org")
            return smtp.rcpt("nobody@example.net")

    code, text = await in_thread(talk)
    assert (code, text.decode()) == (
        550,
        "5.1.1 <nobody@example.net>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
    )


async def test_recipient_in_a_foreign_domain_is_relay_access_denied(mx: Mx) -> None:
    def talk() -> tuple[int, bytes]:
        with mx.smtp() as smtp:
            smtp.ehlo()
            smtp.mail("alice@example.org")
            return smtp.rcpt("carol@elsewhere.org")

    code, text = await in_thread(talk)
    assert (code, text.decode()) == (554, "5.7.1 <carol@elsewhere.org>: Relay access denied")


async def test_data_after_every_recipient_was_refused_is_554_no_valid_recipients(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    await raw.send(b"EHLO client.test\r\n")
    await raw.send(b"MAIL FROM:<alice@example.org>\r\n")
    assert (await raw.send(b"RCPT TO:<carol@elsewhere.org>\r\n")).startswith("554 5.7.1")
    assert await raw.send(b"DATA\r\n") == "554 5.5.1 Error: no valid recipients"
    await raw.close()


async def test_declared_size_over_the_limit_gets_552_at_mail_from(start_mx: StartMx) -> None:
    mx = await start_mx(max_size=5000)

    def talk() -> tuple[int, bytes]:
        with mx.smtp() as smtp:
            smtp.ehlo()
            assert smtp.esmtp_features["size"] == "5000"
            return smtp.mail("alice@example.org", ["SIZE=6000"])

    code, text = await in_thread(talk)
    assert (code, text.decode()) == (552, "5.3.4 Message size exceeds fixed limit")


async def test_content_over_the_limit_gets_552_after_the_dot(start_mx: StartMx) -> None:
    mx = await start_mx(max_size=5000)
    raw, _ = await Raw.open(mx)
    await raw.send(b"EHLO client.test\r\n")
    await raw.send(b"MAIL FROM:<alice@example.org>\r\n")
    await raw.send(b"RCPT TO:<bob@example.net>\r\n")
    await raw.send(b"DATA\r\n")
    body = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100 + b".\r\n"
    assert await raw.send(body) == "552 5.3.4 Message size exceeds fixed limit"
    assert await raw.send(b"NOOP\r\n") == "250 2.0.0 Ok"
    await raw.close()
    assert mx.mailboxes.messages("bob@example.net") == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"HELLO THERE\r\n", "500 5.5.2 Error: command not recognized"),
        (b"EXPN staff\r\n", "500 5.5.2 Error: command not recognized"),
        (b"\r\n", "500 5.5.2 Error: bad syntax"),
        (b"NO\x00OP\r\n", "500 5.5.2 Error: bad syntax"),
        (b"MAIL FROM:<caf\xe9@example.org>\r\n", "500 5.5.2 Error: bad UTF-8 syntax"),
        (b"NOOP " + b"x" * 2000 + b"\r\n", "500 5.5.2 Error: line too long"),
        (b"MAIL FROM:<alice@example.org>\r\n", "503 5.5.1 Error: send HELO/EHLO first"),
        (b"EHLO\r\n", "501 Syntax: EHLO hostname"),
    ],
    ids=[
        "garbage",
        "expn",
        "empty",
        "nul",
        "not-utf8",
        "overlong",
        "mail-before-ehlo",
        "ehlo-no-name",
    ],
)
async def test_malformed_line_gets_postfix_reply_and_the_server_keeps_serving(
    mx: Mx, line: bytes, reply: str
) -> None:
    raw, _ = await Raw.open(mx)
    assert await raw.send(line) == reply
    assert await raw.send(b"NOOP\r\n") == "250 2.0.0 Ok"
    await raw.close()
    received = mx.server_lines(Direction.CLIENT_TO_SERVER)
    assert received[0].data == line  # the exact bytes, even the bad ones


async def test_help_lists_the_commands_this_server_implements_like_postfix_3_9(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    reply = await raw.send(b"HELP\r\n")
    assert reply == "214 2.0.0 Commands: DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET STARTTLS VRFY"
    # Every command HELP lists is one the server carries out: none gets 500 or 502.
    for command in reply.split(": ", 1)[1].split():
        if command in ("DATA", "QUIT", "STARTTLS"):
            continue  # they change the session; answered elsewhere
        answer = await raw.send(command.encode() + b" x@example.net\r\n")
        assert answer[:3] not in ("500", "502"), (command, answer)
        await raw.send(b"RSET\r\n")
    await raw.close()


@pytest.mark.parametrize(
    ("lines", "reply"),
    [
        ([b"MAIL FROM alice@example.org\r\n"], "501 5.5.4 Syntax: MAIL FROM:<address>"),
        ([b"RCPT TO:<bob@example.net>\r\n"], "503 5.5.1 Error: need MAIL command"),
        ([b"DATA\r\n"], "503 5.5.1 Error: need RCPT command"),
        (
            [b"MAIL FROM:<a@example.org>\r\n", b"MAIL FROM:<b@example.org>\r\n"],
            "503 5.5.1 Error: nested MAIL command",
        ),
        (
            [b"MAIL FROM:<alice@example.org> FOO=BAR\r\n"],
            "555 5.5.4 MAIL FROM parameters not recognized or not implemented",
        ),
        ([b"VRFY bob@example.net\r\n"], "252 2.0.0 bob@example.net"),
        ([b"AUTH PLAIN\r\n"], "503 5.5.1 Error: authentication not enabled"),
        ([b"STARTTLS now\r\n"], "501 5.5.4 Syntax: STARTTLS"),
    ],
    ids=[
        "mail-syntax",
        "rcpt-first",
        "data-first",
        "nested-mail",
        "bad-param",
        "vrfy",
        "auth",
        "starttls-arg",
    ],
)
async def test_commands_out_of_order_or_malformed_after_ehlo_get_postfix_replies(
    mx: Mx, lines: list[bytes], reply: str
) -> None:
    raw, _ = await Raw.open(mx)
    await raw.send(b"EHLO client.test\r\n")
    for line in lines:
        last = await raw.send(line)
    assert last == reply
    assert await raw.send(b"NOOP\r\n") == "250 2.0.0 Ok"
    await raw.close()


async def test_a_header_typed_as_a_command_ends_the_session_like_postfix(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    assert await raw.send(b"Subject: hello\r\n") == (
        "221 2.7.0 Error: I can break rules, too. Goodbye."
    )
    assert await raw.reader.read() == b""
    await raw.close()


async def test_every_reply_after_the_greeting_and_ehlo_carries_an_enhanced_code(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    for line in (
        b"EHLO client.test\r\n",
        b"FOO\r\n",
        b"RCPT TO:<bob@example.net>\r\n",
        b"MAIL FROM:<alice@example.org>\r\n",
        b"RCPT TO:<bob@example.net>\r\n",
        b"RCPT TO:<nobody@example.net>\r\n",
        b"RSET\r\n",
        b"NOOP\r\n",
    ):
        await raw.send(line)
    await raw.send(b"QUIT\r\n")
    await raw.close()
    replies = [e.text for e in mx.server_lines(Direction.SERVER_TO_CLIENT)]
    ehlo_lines = 8  # the name and seven keywords
    greeting, ehlo, rest = replies[0], replies[1 : 1 + ehlo_lines], replies[1 + ehlo_lines :]
    assert not re.match(r"^\d{3} \d\.", greeting)
    assert all(not re.match(r"^\d{3}[ -]\d\.\d", r) for r in ehlo)
    assert len(rest) == 8
    for reply in rest:
        assert re.match(rf"^{reply[0]}\d\d {reply[0]}\.\d{{1,3}}\.\d{{1,3}} ", reply), reply
    assert rest[-1] == "221 2.0.0 Bye"


# --------------------------------------------------------------------------- pipelining


async def test_pipelined_mail_rcpt_data_in_one_write_get_one_reply_each(mx: Mx) -> None:
    raw, _ = await Raw.open(mx)
    assert "PIPELINING" in await raw.send(b"EHLO client.test\r\n")
    raw.writer.write(
        b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
        b"RCPT TO:<nobody@example.net>\r\nDATA\r\n"
    )
    replies = [await raw.reply() for _ in range(4)]
    assert [r[:9] for r in replies] == ["250 2.1.0", "250 2.1.5", "550 5.1.1", "354 End d"]
    assert (await raw.send(b"Subject: p\r\n\r\npipelined\r\n.\r\n")).startswith("250 2.0.0 Ok")
    await raw.close()
    assert len(mx.mailboxes.messages("bob@example.net")) == 1


# --------------------------------------------------------------------------- the trace


async def test_trace_has_exact_server_side_bytes_and_the_payload_as_one_event(mx: Mx) -> None:
    def talk() -> None:
        with mx.smtp() as smtp:
            smtp.starttls(context=mx.tls())
            smtp.sendmail(
                "alice@example.org",
                ["bob@example.net"],
                b"Subject: t\r\n\r\nline one\r\n.leading dot\r\nline three\r\n",
            )

    await in_thread(talk)
    lines = mx.server_lines()
    assert all(
        e.host == MX and e.side is Side.SERVER and e.session == lines[0].session for e in lines
    )
    assert lines[0].data == f"220 {MX} ESMTP\r\n".encode() and lines[0].stage is Stage.CONNECT
    by_data = {e.data: e for e in lines}
    starttls = by_data[b"STARTTLS\r\n"]
    assert starttls.direction is Direction.CLIENT_TO_SERVER and not starttls.encrypted
    assert starttls.stage is Stage.STARTTLS and starttls.receiver == MX
    ready = by_data[b"220 2.0.0 Ready to start TLS\r\n"]
    assert not ready.encrypted
    mail = next(e for e in lines if e.data.upper().startswith(b"MAIL FROM:"))
    assert mail.encrypted and mail.stage is Stage.ENVELOPE and mail.data.endswith(b"\r\n")
    payloads = [e for e in lines if e.is_payload]
    assert len(payloads) == 1
    assert payloads[0].data == b"Subject: t\r\n\r\nline one\r\n..leading dot\r\nline three\r\n.\r\n"
    assert payloads[0].stage is Stage.DATA and payloads[0].encrypted
    quit_reply = lines[-1]
    assert quit_reply.data == b"221 2.0.0 Bye\r\n" and quit_reply.stage is Stage.QUIT
    types = [type(e) for e in trace_of(mx.ctx) if e.session == lines[0].session]
    assert types[0] is TcpConnect
    await asyncio.sleep(0.05)
    closes = trace_of(mx.ctx).of_type(TcpClose)
    assert len(closes) == 1 and closes[0].side is Side.SERVER and closes[0].reason == "QUIT"


# --------------------------------------------------------------------------- faults


async def test_greet_421_fault_refuses_service_and_closes(start_mx: StartMx) -> None:
    mx = await start_mx(faults=frozenset({Fault.GREET_421}))
    raw, greeting = await Raw.open(mx)
    assert greeting == f"421 4.3.2 {MX} Service not available, closing transmission channel"
    assert await raw.reader.read() == b""
    await raw.close()


async def test_no_starttls_fault_neither_offers_nor_accepts_starttls(start_mx: StartMx) -> None:
    mx = await start_mx(faults=frozenset({Fault.NO_STARTTLS}))
    raw, _ = await Raw.open(mx)
    assert "STARTTLS" not in await raw.send(b"EHLO client.test\r\n")
    assert await raw.send(b"STARTTLS\r\n") == "502 5.5.1 Error: command not implemented"
    await raw.close()


async def test_replies_are_not_held_back_by_nagle(start_mx: StartMx) -> None:
    """TCP_NODELAY on the server's side: with Nagle on, every multi-line reply stalled 40 ms."""
    mx = await start_mx()
    raw, _ = await Raw.open(mx)
    assert mx.receiver._listener is not None
    (protocol,) = list(mx.receiver._listener._live)
    sock = protocol.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    await raw.close()


async def test_down_fault_refuses_connections_and_keeps_the_port(start_mx: StartMx) -> None:
    mx = await start_mx(faults=frozenset({Fault.DOWN}))
    assert not mx.receiver.listening
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(mx.address, mx.port)
    # Bound without listening: nobody else on a shared machine can take the host's port.
    with socket.socket() as other, pytest.raises(OSError):
        other.bind((mx.address, mx.port))


async def test_a_down_host_with_fault_clears_after_comes_up_and_greets(start_mx: StartMx) -> None:
    mx = await start_mx(faults=frozenset({Fault.DOWN}), fault_clears_after=0.3)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(mx.address, mx.port)
    await asyncio.sleep(0.5)  # the real clock: the alarm starts the service
    assert mx.receiver.listening
    raw, greeting = await Raw.open(mx)
    assert greeting == f"220 {MX} ESMTP"
    await raw.close()
    logged = [e.text for e in trace_of(mx.ctx).of_type(LogLine)]
    assert any(text.startswith("daemon started") for text in logged)


# --------------------------------------------------------------------------- policies


class GreylistBob(Policy):
    name = "greylist"

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        if recipient == "bob@example.net" and sender == "spammer@example.org":
            return Decision.refuse(
                f"450 4.2.0 <{recipient}>: Recipient address rejected: Greylisted"
            )
        return None


class QuarantineSpam(Policy):
    name = "content"

    def __init__(self) -> None:
        self.seen: list[IncomingMessage] = []

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        self.seen.append(message)
        if b"VIAGRA" in message.content:
            return Decision(add_headers=("X-Spam-Flag: YES",), folder="Junk")
        return Decision(add_headers=("X-Spam-Flag: NO",))


async def test_policies_can_refuse_a_recipient_add_headers_and_quarantine(
    start_mx: StartMx,
) -> None:
    content = QuarantineSpam()
    mx = await start_mx(policies=[GreylistBob(), content])

    def talk(sender: str, body: bytes) -> dict[str, tuple[int, bytes]]:
        with mx.smtp() as smtp:
            return smtp.sendmail(sender, ["bob@example.net"], body)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await in_thread(lambda: talk("spammer@example.org", b"Subject: x\r\n\r\nx\r\n"))
    assert refused.value.recipients["bob@example.net"][0] == 450
    await in_thread(lambda: talk("alice@example.org", b"Subject: buy\r\n\r\nVIAGRA\r\n"))
    await in_thread(lambda: talk("alice@example.org", b"Subject: lunch\r\n\r\nFriday\r\n"))

    junk = mx.mailboxes.messages("bob@example.net", "Junk")
    inbox = mx.mailboxes.messages("bob@example.net")
    assert [m.subject for m in junk] == ["buy"] and junk[0].message["X-Spam-Flag"] == "YES"
    assert [m.subject for m in inbox] == ["lunch"] and inbox[0].message["X-Spam-Flag"] == "NO"
    assert [d.folder for d in trace_of(mx.ctx).of_type(Delivery)] == ["Junk", "INBOX"]
    assert content.seen[0].sender == "alice@example.org"
    assert content.seen[0].content.startswith(b"Subject: buy\r\n")


# --------------------------------------------------------------------------- real tools


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_delivers_over_starttls_verifying_the_world_ca(mx: Mx) -> None:
    assert mx.ctx.ca is not None
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server", mx.address,
        "--port", str(mx.port),
        "--from", "alice@example.org",
        "--to", "bob@example.net",
        "--helo", "laptop.example.org",
        "--tls", "--tls-verify", "--tls-ca-path", str(mx.ctx.ca.path), "--tls-sni", MX,
        "--header", "Subject: from swaks",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    assert [m.subject for m in mx.mailboxes.messages("bob@example.net")] == ["from swaks"]
    handshake = trace_of(mx.ctx).of_type(TlsHandshake)[0]
    assert handshake.sni == MX
