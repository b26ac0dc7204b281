"""The SMTP client against real servers on loopback: parsing, DATA, STARTTLS, AUTH, the gate."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtpd.smtp import AuthResult as AiosmtpdAuthResult
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tutor.clock import RealClock
from tutor.trace import (
    AuthResult,
    Direction,
    Note,
    Side,
    SmtpLine,
    Stage,
    TcpConnect,
    TlsHandshake,
    Trace,
)
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan, Service
from tutor.world.sender.client import (
    Extensions,
    SmtpClient,
    SmtpConnectError,
    SmtpProtocolError,
    SmtpTimeoutError,
    TlsHandshakeError,
    check_certificate,
    dot_stuff,
    parse_reply,
)

CLIENT = "smtp.example.org"
SERVER = "mx1.example.net"
HOSTS = {CLIENT: "127.0.0.12", SERVER: "127.0.0.13", "mx2.example.net": "127.0.0.14"}


# --------------------------------------------------------------------------- a tiny world


class Sink:
    """An aiosmtpd handler that keeps what it received and knows one mailbox."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as 4F2A81C0B2E"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AiosmtpdAuthResult:
    ok = getattr(data, "login", b"") == b"alice" and getattr(data, "password", b"") == b"secret"
    return AiosmtpdAuthResult(success=ok, handled=False, auth_data=data)


class Lab:
    """A WorldContext with real servers started on planned loopback ports."""

    def __init__(self, tmp_path: Path) -> None:
        self.trace = Trace()
        self.ctx = WorldContext(
            publish=self.trace.publish,
            clock=RealClock(),
            plan=NetworkPlan.build(HOSTS),
            gate=StepGate(),
            run_dir=tmp_path,
            ca=WorldCA(tmp_path),
        )
        self.servers: list[asyncio.Server] = []
        self.sink = Sink()

    def port_of(self, name: str) -> int:
        return self.ctx.plan.host(name).ports[Service.SMTP]

    async def smtp(self, name: str = SERVER, *, tls: bool = True, **options: object) -> int:
        """Start an aiosmtpd server for ``name``; returns its port."""
        host = self.ctx.plan.host(name)
        port = self.ctx.plan.allocate_port(name, Service.SMTP)
        assert self.ctx.ca is not None
        context = self.ctx.ca.server_context(name, host.address) if tls else None
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(self.sink, hostname=name, tls_context=context, **options),  # type: ignore[arg-type]
            host.bind_address,
            port,
        )
        self.servers.append(server)
        return port

    async def raw(
        self,
        name: str,
        script: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> int:
        """Start a hand-written server for ``name`` (for replies aiosmtpd would never send)."""
        host = self.ctx.plan.host(name)
        port = self.ctx.plan.allocate_port(name, Service.SMTP)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer)
            finally:
                writer.close()

        self.servers.append(await asyncio.start_server(handle, host.bind_address, port))
        return port

    def client(self, **options: object) -> SmtpClient:
        return SmtpClient(self.ctx, host_name=CLIENT, session="s1", **options)  # type: ignore[arg-type]

    def lines(self, direction: Direction | None = None) -> list[SmtpLine]:
        return [
            e for e in self.trace.of_type(SmtpLine) if direction is None or e.direction is direction
        ]

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    world = Lab(tmp_path)
    yield world
    await world.close()


# --------------------------------------------------------------------------- replies


def test_a_multiline_reply_is_one_reply_with_every_line() -> None:
    reply = parse_reply([b"250-mx1.example.net\r\n", b"250-SIZE 10240000\r\n", b"250 8BITMIME\r\n"])
    assert reply.code == 250
    assert reply.lines == ("mx1.example.net", "SIZE 10240000", "8BITMIME")
    assert reply.is_positive and not reply.is_transient and not reply.is_permanent


def test_enhanced_status_code_is_read_from_the_first_line() -> None:
    reply = parse_reply([b"550 5.1.1 <bob@example.net>: Recipient address rejected\r\n"])
    assert reply.enhanced == "5.1.1"
    assert reply.is_permanent
    assert str(reply) == "550 5.1.1 <bob@example.net>: Recipient address rejected"
    assert parse_reply([b"250 Ok\r\n"]).enhanced == ""
    assert parse_reply([b"451 4.3.0 Try later\r\n"]).is_transient
    # A code whose class disagrees with the reply is not an enhanced status code (RFC 3463).
    assert parse_reply([b"250 5.1.1 odd\r\n"]).enhanced == ""


def test_a_bare_code_is_a_complete_reply() -> None:
    assert parse_reply([b"354\r\n"]).code == 354


@pytest.mark.parametrize(
    "lines",
    [
        [b"hello there\r\n"],
        [b"250-first\r\n", b"251 second\r\n"],
        [b"250-first\r\n"],
        [b"250 first\r\n", b"250 second\r\n"],
        [b"250x\r\n"],
        [b"600 nope\r\n"],
    ],
)
def test_malformed_replies_are_refused(lines: list[bytes]) -> None:
    with pytest.raises(SmtpProtocolError):
        parse_reply(lines)


def test_ehlo_keywords_are_parsed_into_extensions() -> None:
    reply = parse_reply(
        [
            b"250-mx1.example.net\r\n",
            b"250-PIPELINING\r\n",
            b"250-SIZE 10240000\r\n",
            b"250-STARTTLS\r\n",
            b"250-AUTH PLAIN LOGIN\r\n",
            b"250-ENHANCEDSTATUSCODES\r\n",
            b"250-8BITMIME\r\n",
            b"250 SMTPUTF8\r\n",
        ]
    )
    extensions = Extensions.from_reply(reply)
    assert extensions.size == 10240000
    assert extensions.starttls and extensions.pipelining and extensions.enhanced_status_codes
    assert extensions.eightbitmime and extensions.smtputf8
    assert extensions.auth == ("PLAIN", "LOGIN")
    assert "mx1.example.net" not in extensions
    assert Extensions().size is None and Extensions().auth == ()


async def test_a_multiline_greeting_crosses_the_socket_as_one_reply(lab: Lab) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-mx1.example.net ESMTP\r\n220-no UCE\r\n220 ready\r\n")
        await writer.drain()
        await reader.readline()

    port = await lab.raw(SERVER, greet)
    client = lab.client()
    greeting = await client.connect(SERVER, HOSTS[SERVER], port)
    await client.close()
    assert greeting.code == 220
    assert greeting.lines == ("mx1.example.net ESMTP", "no UCE", "ready")
    received = lab.lines(Direction.SERVER_TO_CLIENT)
    assert [e.data for e in received] == [
        b"220-mx1.example.net ESMTP\r\n",
        b"220-no UCE\r\n",
        b"220 ready\r\n",
    ]
    assert all(e.stage is Stage.CONNECT and e.side is Side.CLIENT for e in received)
    assert all(e.sender == SERVER and e.receiver == CLIENT for e in received)


async def test_a_malformed_reply_on_the_wire_raises_a_protocol_error(lab: Lab) -> None:
    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n")
        await writer.drain()
        await reader.read()

    port = await lab.raw(SERVER, babble)
    with pytest.raises(SmtpProtocolError, match="no reply code"):
        await lab.client().connect(SERVER, HOSTS[SERVER], port)


async def test_a_silent_server_times_out(lab: Lab) -> None:
    async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    port = await lab.raw(SERVER, silence)
    with pytest.raises(SmtpTimeoutError, match="timed out"):
        await lab.client(timeout=0.2).connect(SERVER, HOSTS[SERVER], port)


# --------------------------------------------------------------------------- connecting


async def test_the_server_sees_the_clients_own_address(lab: Lab) -> None:
    seen: list[tuple[str, int]] = []

    async def note_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername")[:2])
        writer.write(b"220 ready\r\n")
        await writer.drain()
        await reader.read()

    port = await lab.raw(SERVER, note_peer)
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    assert lab.ctx.plan.identify_peer(seen[0]) == (CLIENT, HOSTS[CLIENT])
    await client.close()
    (connect,) = lab.trace.of_type(TcpConnect)
    assert connect.ok and connect.dst == f"{HOSTS[SERVER]}:{port}" and connect.dst_host == SERVER
    assert connect.src.startswith(f"{HOSTS[CLIENT]}:") and connect.side is Side.CLIENT


async def test_a_refused_connection_is_published_and_raised(lab: Lab) -> None:
    port = lab.ctx.plan.allocate_port(SERVER, Service.SMTP)  # planned, nothing listens
    with pytest.raises(SmtpConnectError) as caught:
        await lab.client().connect(SERVER, HOSTS[SERVER], port)
    assert caught.value.reason == "Connection refused"
    assert str(caught.value) == f"connect to {SERVER}[{HOSTS[SERVER]}]:{port}: Connection refused"
    (connect,) = lab.trace.of_type(TcpConnect)
    assert not connect.ok and connect.error == "Connection refused"
    assert connect.stage is Stage.CONNECT


# --------------------------------------------------------------------------- DATA


def test_dot_stuffing_doubles_leading_dots_and_ends_with_a_lone_dot() -> None:
    assert dot_stuff(b"a\n.b\n.\nc") == b"a\r\n..b\r\n..\r\nc\r\n.\r\n"
    assert dot_stuff(b"x\r\n") == b"x\r\n.\r\n"
    assert dot_stuff(b"bare\rcr\r\n") == b"bare\r\ncr\r\n.\r\n"


async def test_a_body_line_starting_with_a_dot_arrives_intact(lab: Lab) -> None:
    port = await lab.smtp()
    content = (
        b"Subject: dots\r\n\r\n.hidden line\r\n.\r\n..two dots\nbare LF above\r\nlast line\r\n"
    )
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    assert (await client.mail("alice@example.org")).code == 250
    assert (await client.rcpt("bob@example.net")).code == 250
    final = await client.data(content)
    await client.quit()

    assert final.code == 250 and final.enhanced == "2.0.0"
    (envelope,) = lab.sink.envelopes
    assert envelope.original_content == content.replace(b"\nbare", b"\r\nbare")
    payloads = [e for e in lab.lines(Direction.CLIENT_TO_SERVER) if e.is_payload]
    assert len(payloads) == 1
    assert payloads[0].data.startswith(b"Subject: dots\r\n\r\n..hidden line\r\n..\r\n...two")
    assert payloads[0].data.endswith(b"\r\nlast line\r\n.\r\n")
    assert payloads[0].stage is Stage.DATA


async def test_every_command_is_published_with_its_exact_bytes_and_stage(lab: Lab) -> None:
    port = await lab.smtp()
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    await client.mail("alice@example.org", size=1234)
    await client.rcpt("bob@example.net")
    await client.quit()
    sent = [(e.data, e.stage) for e in lab.lines(Direction.CLIENT_TO_SERVER)]
    assert sent == [
        (f"EHLO {CLIENT}\r\n".encode(), Stage.EHLO),
        (b"MAIL FROM:<alice@example.org> SIZE=1234\r\n", Stage.ENVELOPE),
        (b"RCPT TO:<bob@example.net>\r\n", Stage.ENVELOPE),
        (b"QUIT\r\n", Stage.QUIT),
    ]
    assert all(
        e.sender == CLIENT and e.receiver == SERVER for e in lab.lines(Direction.CLIENT_TO_SERVER)
    )
    assert not any(e.encrypted for e in lab.lines())


async def test_mail_parameters_are_only_sent_when_the_server_offers_them(lab: Lab) -> None:
    async def plain_esmtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        async for line in reader:
            if line.startswith(b"EHLO"):
                writer.write(b"250-mx1.example.net\r\n250 PIPELINING\r\n")
            elif line.startswith(b"QUIT"):
                writer.write(b"221 Bye\r\n")
            else:
                writer.write(b"250 Ok\r\n")
            await writer.drain()

    port = await lab.raw(SERVER, plain_esmtp)
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    await client.mail("alice@example.org", size=99, body="8BITMIME", smtputf8=True)
    await client.quit()
    assert b"MAIL FROM:<alice@example.org>\r\n" in [e.data for e in lab.lines()]


# --------------------------------------------------------------------------- STARTTLS


async def test_starttls_upgrades_and_verifies_against_the_world_ca(lab: Lab) -> None:
    port = await lab.smtp()
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    assert client.extensions.starttls
    reply = await client.starttls(SERVER)
    assert reply.code == 220 and client.encrypted
    assert client.extensions == Extensions()  # RFC 3207: forget what was said in clear
    await client.ehlo()
    assert not client.extensions.starttls  # offered only once
    await client.quit()

    (handshake,) = lab.trace.of_type(TlsHandshake)
    assert handshake.ok and handshake.verified and handshake.verify_error == ""
    assert handshake.version.startswith("TLSv1.")
    assert handshake.cipher and handshake.bits >= 128
    assert handshake.sni == SERVER
    assert f"CN={SERVER}" in handshake.subject
    assert handshake.issuer and handshake.issuer != handshake.subject
    assert f"DNS:{SERVER}" in handshake.san and f"IP:{HOSTS[SERVER]}" in handshake.san
    assert handshake.not_after.startswith("3000-")
    assert handshake.chain and f"CN={SERVER}" in handshake.chain[0]
    assert handshake.stage is Stage.STARTTLS and handshake.side is Side.CLIENT

    lines = lab.lines()
    after = lines.index(
        next(e for e in lines if e.data.startswith(b"220 ") and e.stage is Stage.STARTTLS)
    )
    assert not any(e.encrypted for e in lines[: after + 1])
    assert all(e.encrypted for e in lines[after + 1 :])


async def test_a_certificate_for_another_name_fails_verification_and_says_why(lab: Lab) -> None:
    port = await lab.smtp()
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    with pytest.raises(TlsHandshakeError) as caught:
        await client.starttls("mx9.example.net")
    assert "Hostname mismatch" in caught.value.verify_error
    (handshake,) = lab.trace.of_type(TlsHandshake)
    assert not handshake.ok and not handshake.verified
    assert "Hostname mismatch" in handshake.verify_error
    assert not client.connected


async def test_an_unverified_handshake_still_reports_whether_the_peer_is_trusted(
    lab: Lab, tmp_path: Path
) -> None:
    # Opportunistic TLS (the MTA's way) does not verify during the handshake; the event
    # must still tell a trusted certificate from a foreign one.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stranger = WorldCA(elsewhere, organisation="some other CA")
    host = lab.ctx.plan.host(SERVER)
    port = lab.ctx.plan.allocate_port(SERVER, Service.SMTP)
    foreign = stranger.server_context(SERVER, host.address)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(lab.sink, hostname=SERVER, tls_context=foreign), host.bind_address, port
    )
    lab.servers.append(server)
    assert lab.ctx.ca is not None
    client = lab.client(tls_context=lab.ctx.ca.client_context(verify=False))
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    await client.starttls(SERVER)
    await client.quit()
    (handshake,) = lab.trace.of_type(TlsHandshake)
    assert handshake.ok and not handshake.verified
    assert handshake.verify_error == "unable to get local issuer certificate"


def test_certificate_check_names_the_problem(tmp_path: Path) -> None:
    ca = WorldCA(tmp_path)
    leaf = ca.leaf(SERVER).cert_chain_pems[0].bytes()
    der = x509.load_pem_x509_certificate(leaf).public_bytes(Encoding.DER)
    now = datetime.now(UTC)
    ca_pem = ca.path.read_bytes()
    assert check_certificate(der, ca_pem, SERVER, now) == ""
    assert "Hostname mismatch" in check_certificate(der, ca_pem, "mx2.example.net", now)
    assert check_certificate(der, ca_pem, SERVER, datetime(3001, 1, 1, tzinfo=UTC)) == (
        "certificate has expired"
    )


# --------------------------------------------------------------------------- AUTH


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_is_published_without_the_password(lab: Lab, mechanism: str) -> None:
    port = await lab.smtp(authenticator=_authenticate)
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    await client.starttls(SERVER)
    await client.ehlo()
    assert mechanism in client.extensions.auth
    reply = await client.auth(mechanism, "alice", "secret")
    await client.quit()

    assert reply.code == 235
    (result,) = lab.trace.of_type(AuthResult)
    assert result.ok and result.username == "alice" and result.mechanism == mechanism
    assert all("secret" not in e.text for e in lab.trace.of_type(Note))
    assert all("secret" not in repr(e) for e in lab.trace if not isinstance(e, SmtpLine))
    # What crossed the wire is base64, and it is recorded as it was.
    wire = b"".join(e.data for e in lab.lines(Direction.CLIENT_TO_SERVER))
    if mechanism == "PLAIN":
        assert base64.b64encode(b"\0alice\0secret") in wire
    else:
        assert base64.b64encode(b"alice") + b"\r\n" in wire
        assert base64.b64encode(b"secret") + b"\r\n" in wire
    sent = lab.lines(Direction.CLIENT_TO_SERVER)
    assert all(e.stage is Stage.AUTH for e in sent if b"AUTH" in e.data)


async def test_a_wrong_password_is_a_failed_auth_result(lab: Lab) -> None:
    port = await lab.smtp(authenticator=_authenticate)
    client = lab.client()
    await client.connect(SERVER, HOSTS[SERVER], port)
    await client.ehlo()
    await client.starttls(SERVER)
    await client.ehlo()
    reply = await client.auth("PLAIN", "alice", "wrong")
    await client.quit()
    assert reply.code == 535
    (result,) = lab.trace.of_type(AuthResult)
    assert not result.ok


# --------------------------------------------------------------------------- the gate


async def test_a_closed_gate_lets_exactly_one_command_through_per_release(lab: Lab) -> None:
    port = await lab.smtp()
    lab.ctx.gate.close()

    async def conversation() -> None:
        client = lab.client()
        await client.connect(SERVER, HOSTS[SERVER], port)
        await client.ehlo()
        await client.mail("alice@example.org")
        await client.rcpt("bob@example.net")
        await client.data(b"Subject: hi\r\n\r\nhi\r\n")
        await client.quit()

    task = asyncio.get_running_loop().create_task(conversation())

    async def parked() -> str:
        for _ in range(200):
            if lab.ctx.gate.waiting:
                return str(lab.ctx.gate.waiting)
            await asyncio.sleep(0.005)
        raise AssertionError("the client never reached the gate")

    assert (await parked()).startswith("connect to mx1.example.net")
    assert lab.trace.of_type(TcpConnect) == []
    sent_per_step = []
    for _ in range(7):  # connect, EHLO, MAIL, RCPT, DATA, content, QUIT
        lab.ctx.gate.release()
        await asyncio.sleep(0.05)
        if not task.done():
            await parked()
        sent_per_step.append(len(lab.lines(Direction.CLIENT_TO_SERVER)))
    await asyncio.wait_for(task, 2)
    assert sent_per_step == [0, 1, 2, 3, 4, 5, 6]
    assert len(lab.trace.of_type(TcpConnect)) == 1
