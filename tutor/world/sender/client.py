"""The SMTP client state machine on asyncio streams: every step gated, every byte traced.

The sender MTA and the learner's mail program (the MUA side, see ``submit``) both speak SMTP
through this one client. It does no policy of its own: it sends what it is told, parses what
comes back (RFC 5321 §4.2), and publishes each line exactly as it crossed the socket, so the
views can show the real conversation and the MTA can decide what a reply means for delivery.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import re
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from tutor.runstate import PendingStep, StepKind
from tutor.smtp_keys import smtp_line_key
from tutor.trace import (
    COMMAND_STAGES,
    AuthResult,
    Direction,
    Side,
    SmtpLine,
    Stage,
    TcpClose,
    TcpConnect,
    TlsHandshake,
)
from tutor.world.network import ensure_loopback

if TYPE_CHECKING:
    from tutor.world.context import WorldContext

CRLF = b"\r\n"
DEFAULT_TIMEOUT = 30.0  # seconds; Postfix's smtp_connect_timeout is 30s too
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -]?)(.*)$", re.DOTALL)
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")


# --------------------------------------------------------------------------- errors


class SmtpError(Exception):
    """Base of everything the client raises; str() is a plain sentence a learner can read."""


class SmtpConnectError(SmtpError):
    """The TCP connection could not be made (refused, timed out, unreachable)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # the bare cause, e.g. "Connection refused"


class SmtpTimeoutError(SmtpError):
    """The server did not answer (or the handshake did not finish) within the timeout."""


class SmtpProtocolError(SmtpError):
    """The server sent something that is not an SMTP reply (RFC 5321 §4.2)."""


class SmtpConnectionLost(SmtpError):
    """The server closed the connection while the client was waiting for a reply."""


class TlsHandshakeError(SmtpError):
    """The TLS handshake failed; ``verify_error`` says why when it was the certificate."""

    def __init__(self, message: str, verify_error: str = "") -> None:
        super().__init__(message)
        self.verify_error = verify_error


class SmtpUsageError(SmtpError):
    """The client was asked for a step that makes no sense now (e.g. DATA before connect)."""


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One complete SMTP reply, possibly multi-line (RFC 5321 §4.2.1).

    ``lines`` hold the text after ``code`` and its separator on each line (enhanced status
    codes included, as sent); ``enhanced`` is the RFC 3463 code of the first line, if any.
    """

    code: int
    enhanced: str
    lines: tuple[str, ...]
    raw: bytes = b""

    @property
    def text(self) -> str:
        """All lines as one sentence, the way Postfix quotes a reply in its log."""
        return " ".join(line for line in self.lines if line)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


def parse_reply(raw_lines: list[bytes]) -> Reply:
    """Build a Reply from its raw lines (each with its line ending); raise on malformed input.

    Kept separate from the socket reader so the RFC 5321 §4.2.1 rules can be tested alone:
    every line starts with the same three-digit code, all but the last continue with '-'.
    """
    if not raw_lines:
        raise SmtpProtocolError("empty reply")
    code = 0
    texts: list[str] = []
    for index, raw in enumerate(raw_lines):
        line = raw.rstrip(b"\r\n")
        match = _REPLY_LINE.match(line)
        last = index == len(raw_lines) - 1
        if match is None:
            raise SmtpProtocolError(f"malformed reply line {_show(raw)}: no reply code")
        separator = match.group(2)
        if separator == b"" and match.group(3):
            raise SmtpProtocolError(f"malformed reply line {_show(raw)}: no space after the code")
        if (separator == b"-") == last:
            raise SmtpProtocolError(f"malformed reply line {_show(raw)}: continuation out of place")
        this_code = int(match.group(1))
        if index and this_code != code:
            raise SmtpProtocolError(
                f"malformed reply: line {_show(raw)} changes the code from {code} to {this_code}"
            )
        code = this_code
        texts.append(match.group(3).decode("utf-8", "replace"))
    enhanced = ""
    found = _ENHANCED.match(texts[0])
    # RFC 3463: the class digit of the enhanced code must agree with the reply code.
    if found and found.group(1) == str(code)[0]:
        enhanced = found.group(0)
    return Reply(code=code, enhanced=enhanced, lines=tuple(texts), raw=b"".join(raw_lines))


def _show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "replace").rstrip("\r\n"))


# --------------------------------------------------------------------------- EHLO keywords


@dataclass(frozen=True)
class Extensions:
    """The service extensions a server listed in its EHLO reply (RFC 5321 §4.1.1.1)."""

    keywords: dict[str, str] = field(default_factory=dict)  # KEYWORD -> parameters

    @classmethod
    def from_reply(cls, reply: Reply) -> Extensions:
        keywords: dict[str, str] = {}
        # The first line is the server's greeting to us, not an extension.
        for line in reply.lines[1:]:
            keyword, _, params = line.strip().partition(" ")
            if keyword:
                keywords[keyword.upper()] = params.strip()
        return cls(keywords)

    def __contains__(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    @property
    def size(self) -> int | None:
        """The SIZE limit (RFC 1870): None when SIZE is not offered, 0 when it has no limit."""
        if "SIZE" not in self.keywords:
            return None
        value = self.keywords["SIZE"]
        return int(value) if value.isdigit() else 0

    @property
    def starttls(self) -> bool:
        return "STARTTLS" in self.keywords

    @property
    def eightbitmime(self) -> bool:
        return "8BITMIME" in self.keywords

    @property
    def smtputf8(self) -> bool:
        return "SMTPUTF8" in self.keywords

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.keywords

    @property
    def enhanced_status_codes(self) -> bool:
        return "ENHANCEDSTATUSCODES" in self.keywords

    @property
    def auth(self) -> tuple[str, ...]:
        """AUTH mechanisms (RFC 4954), upper-cased, in the server's order."""
        return tuple(m.upper() for m in self.keywords.get("AUTH", "").split())


# --------------------------------------------------------------------------- TLS details


@dataclass(frozen=True)
class PeerCertificate:
    """What the client could read of the server's certificate."""

    subject: str = ""
    issuer: str = ""
    san: tuple[str, ...] = ()
    not_after: str = ""
    chain: tuple[str, ...] = ()


def describe_certificate(der: bytes | None, chain_der: list[bytes]) -> PeerCertificate:
    if not der:
        return PeerCertificate()
    cert = x509.load_der_x509_certificate(der)
    san: list[str] = []
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
        san += [f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    chain = tuple(x509.load_der_x509_certificate(d).subject.rfc4514_string() for d in chain_der)
    return PeerCertificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        san=tuple(san),
        not_after=cert.not_valid_after_utc.isoformat(),
        chain=chain or (cert.subject.rfc4514_string(),),
    )


def check_certificate(der: bytes | None, ca_pem: bytes, server_name: str, now: datetime) -> str:
    """Why the certificate would fail verification against the world CA ('' if it passes).

    Used when the handshake itself did not verify (opportunistic TLS, Postfix level 'may'),
    so the trace can still say whether the peer was trusted, in OpenSSL's own words.
    """
    if not der:
        return "no peer certificate"
    cert = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "unable to get local issuer certificate"
    if now < cert.not_valid_before_utc:
        return "certificate is not yet valid"
    if now > cert.not_valid_after_utc:
        return "certificate has expired"
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [n.lower() for n in names.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        dns_names = []
    if not any(_name_matches(pattern, server_name.lower()) for pattern in dns_names):
        return f"Hostname mismatch, certificate is not valid for '{server_name}'."
    return ""


def _name_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _chain_der(ssl_object: Any, verified: bool) -> list[bytes]:
    """The certificate chain, via a private CPython hook (public only from 3.13); [] if absent."""
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_verified_chain" if verified else "get_unverified_chain", None)
    if getter is None:
        return []
    try:
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in getter() or []]  # type: ignore[attr-defined]
    except (AttributeError, ValueError, ssl.SSLError):
        return []


# --------------------------------------------------------------------------- the client


def _connect_failure_reason(exc: BaseException) -> str:
    """The bare cause in the words of strerror(3), as Postfix logs it ("Connection refused")."""
    if isinstance(exc, TimeoutError):
        return "Connection timed out"
    errno = getattr(exc, "errno", None)
    return os.strerror(errno) if errno else str(exc)


def _stage_of(verb: str) -> Stage:
    return COMMAND_STAGES.get(verb.upper(), Stage.ENVELOPE)


def dot_stuff(content: bytes) -> bytes:
    """The DATA payload for ``content``: CRLF line endings, leading dots doubled, CRLF.CRLF.

    RFC 5321 §4.5.2: a line that begins with '.' gets one more '.', so a lone '.' in the
    message can never end the transfer early. Bare CR or LF become CRLF (§2.3.8).
    """
    lines = _LINE_ENDING.split(content)
    if lines and lines[-1] == b"":
        lines.pop()  # content that ends with a line ending has no empty last line
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + CRLF for line in stuffed) + b"." + CRLF


# How Postfix names the command a reply answered ("... (in reply to RCPT TO command)").
POSTFIX_COMMAND_NAMES = {"MAIL": "MAIL FROM", "RCPT": "RCPT TO"}


class SmtpClient:
    """One SMTP client connection of ``host_name``, publishing everything it sees.

    Each method is one protocol step: it awaits the step gate first (so a UI can step the run),
    sends exactly one line, and returns the parsed reply. Reading a reply never waits on the
    gate: the server's answer is not a step the client chooses to take.
    """

    def __init__(
        self,
        ctx: WorldContext,
        *,
        host_name: str,
        session: str,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.ctx = ctx
        self.host_name = host_name
        self.session = session
        self.tls_context = tls_context
        self.timeout = timeout
        self.server_name = ""
        self.server_address = ""
        self.port = 0
        self.encrypted = False
        self.extensions = Extensions()
        self.last_reply: Reply | None = None
        # The command the next reply answers, named as Postfix names it in "in reply to X
        # command" ("" while waiting for the greeting).
        self.last_command = ""
        self.connected_at = 0.0  # world time the TCP connection came up
        self.handshake: TlsHandshake | None = None  # the last TLS handshake, as published
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._local: tuple[str, int] | None = None
        self._closed_reason = ""

    # ----------------------------------------------------------------- connection

    @property
    def connected(self) -> bool:
        return self._writer is not None

    @property
    def relay(self) -> str:
        """Where this client is connected, the way Postfix names it: name[address]:port."""
        return f"{self.server_name}[{self.server_address}]:{self.port}"

    async def connect(
        self,
        server_name: str,
        address: str,
        port: int,
        *,
        implicit_tls: bool = False,
    ) -> Reply:
        """Open TCP from this host's own address to ``address`` and read the greeting.

        ``address`` is the server's published address; when the world runs on a shared
        127.0.0.1 the plan says where it really listens. With ``implicit_tls`` the TLS
        handshake happens first (port 465 style, RFC 8314).
        """
        if self._writer is not None:
            raise SmtpUsageError("already connected")
        self.server_name, self.server_address, self.port = server_name, address, port
        plan = self.ctx.plan
        me = plan.host(self.host_name)
        peer = plan.by_address(address)
        real_address = ensure_loopback(peer.bind_address if peer else address)
        await self.ctx.gate.wait(
            PendingStep(
                StepKind.CONNECT, self.host_name, server_name, f"{server_name}[{address}]:{port}"
            )
        )

        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        src = f"{me.address}:0"
        try:
            sock.bind((ensure_loopback(me.bind_address), 0))
            self._local = sock.getsockname()[:2]
            # Registered before connecting so the server can name us the moment it accepts.
            plan.note_outgoing(self.host_name, self._local, self.session)
            src = f"{me.address}:{self._local[1]}"
            # asyncio.timeout, never wait_for, throughout: on Python 3.11 wait_for can swallow a
            # cancellation that lands as the inner await finishes, and a world being stopped
            # (Ctrl-C on serve) would then wait for a queue run that never ends.
            async with asyncio.timeout(self.timeout):
                await loop.sock_connect(sock, (real_address, port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            self._forget_local()
            reason = _connect_failure_reason(exc)
            self._publish(
                TcpConnect(
                    stage=Stage.CONNECT,
                    src=src,
                    dst=f"{address}:{port}",
                    dst_host=server_name,
                    ok=False,
                    error=reason,
                )
            )
            raise SmtpConnectError(
                f"connect to {server_name}[{address}]:{port}: {reason}", reason
            ) from None

        connect = self._publish(
            TcpConnect(stage=Stage.CONNECT, src=src, dst=f"{address}:{port}", dst_host=server_name)
        )
        self.connected_at = connect.time
        context = self._tls_context() if implicit_tls else None
        try:
            self._reader, self._writer = await asyncio.open_connection(
                sock=sock,
                ssl=context,
                server_hostname=server_name if context else None,
                ssl_handshake_timeout=self.timeout if context else None,
            )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            sock.close()
            self._forget_local()
            error = self._handshake_failed(exc, server_name, implicit=True)
            self._publish_close(src, "TLS handshake failed")
            raise error from None
        if context is not None:
            self.encrypted = True
            self._publish_handshake(context, server_name, implicit=True)
        greeting = await self._read_reply(Stage.CONNECT)
        return greeting

    async def close(self, reason: str = "") -> None:
        """Close the connection (idempotent) and record who ended it and why."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        # The peer may already be gone; the socket is closed either way.
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(2.0):
                await writer.wait_closed()
        me = self.ctx.plan.host(self.host_name)
        port = self._local[1] if self._local else 0
        self._publish_close(f"{me.address}:{port}", reason or self._closed_reason or "closed")
        self._forget_local()

    async def __aenter__(self) -> SmtpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- commands

    async def command(self, line: str, *, what: str = "") -> Reply:
        """Send one command line (without CRLF) and return the reply: the generic step."""
        verb = line.split(" ", 1)[0].upper()
        stage = _stage_of(verb)
        self.last_command = POSTFIX_COMMAND_NAMES.get(verb, verb)
        await self._send(line.encode("utf-8") + CRLF, stage, what or line)
        return await self._read_reply(stage)

    async def ehlo(self, name: str | None = None) -> Reply:
        """EHLO with this host's name; on success ``self.extensions`` lists what is offered."""
        reply = await self.command(f"EHLO {name or self.host_name}")
        self.extensions = Extensions.from_reply(reply) if reply.code == 250 else Extensions()
        return reply

    async def helo(self, name: str | None = None) -> Reply:
        reply = await self.command(f"HELO {name or self.host_name}")
        self.extensions = Extensions()
        return reply

    async def starttls(
        self, server_name: str | None = None, *, context: ssl.SSLContext | None = None
    ) -> Reply:
        """STARTTLS (RFC 3207), then the handshake; returns the 220 (or the refusal).

        A non-220 reply is returned as is (the caller decides whether to go on in clear). A
        failed handshake publishes the failure and raises TlsHandshakeError.
        """
        reply = await self.command("STARTTLS")
        if reply.code != 220:
            return reply
        writer = self._require_writer()
        name = server_name or self.server_name
        tls = context or self._tls_context()
        try:
            await writer.start_tls(tls, server_hostname=name, ssl_handshake_timeout=self.timeout)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            error = self._handshake_failed(exc, name, implicit=False)
            await self.close("TLS handshake failed")
            raise error from None
        self.encrypted = True
        # RFC 3207 §4.2: forget everything learned before TLS; the next EHLO tells again.
        self.extensions = Extensions()
        self._publish_handshake(tls, name, implicit=False)
        return reply

    async def auth(self, mechanism: str, user: str, password: str) -> Reply:
        """AUTH PLAIN or LOGIN (RFC 4954); the result is published without the password.

        The base64 lines do go into the trace as SmtpLine events: that is what crossed the
        wire, and showing that base64 is not encryption is part of the lesson.
        """
        mechanism = mechanism.upper()
        self.last_command = "AUTH"
        if mechanism == "PLAIN":
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
            await self._send(
                f"AUTH PLAIN {token}".encode() + CRLF, Stage.AUTH, f"AUTH PLAIN as {user}"
            )
            reply = await self._read_reply(Stage.AUTH)
            if reply.code == 334:  # a server that wants the response on its own line
                await self._send(
                    token.encode() + CRLF, Stage.AUTH, f"credentials of {user} (base64)"
                )
                reply = await self._read_reply(Stage.AUTH)
        elif mechanism == "LOGIN":
            reply = await self.command("AUTH LOGIN", what=f"AUTH LOGIN as {user}")
            steps = ((user, f"user name {user} (base64)"), (password, "password (base64)"))
            for secret, what in steps:
                if reply.code != 334:
                    break
                token = base64.b64encode(secret.encode()).decode("ascii")
                await self._send(token.encode() + CRLF, Stage.AUTH, what)
                reply = await self._read_reply(Stage.AUTH)
        else:
            raise SmtpUsageError(f"AUTH {mechanism} is not supported by this client (PLAIN, LOGIN)")
        self._publish(
            AuthResult(stage=Stage.AUTH, mechanism=mechanism, username=user, ok=reply.code == 235)
        )
        return reply

    async def mail(
        self,
        sender: str,
        *,
        size: int | None = None,
        body: str | None = None,
        smtputf8: bool = False,
    ) -> Reply:
        """MAIL FROM, with SIZE= (RFC 1870), BODY= (RFC 6152) and SMTPUTF8 (RFC 6531) only
        when the server offered them and they apply."""
        return await self.command(self.mail_line(sender, size=size, body=body, smtputf8=smtputf8))

    def mail_line(
        self,
        sender: str,
        *,
        size: int | None = None,
        body: str | None = None,
        smtputf8: bool = False,
    ) -> str:
        """The MAIL FROM line ``mail`` sends, for a pipelined batch."""
        params = []
        if size is not None and self.extensions.size is not None:
            params.append(f"SIZE={size}")
        if body and self.extensions.eightbitmime:
            params.append(f"BODY={body.upper()}")
        if smtputf8 and self.extensions.smtputf8:
            params.append("SMTPUTF8")
        return " ".join([f"MAIL FROM:<{sender}>", *params])

    async def rcpt(self, address: str) -> Reply:
        return await self.command(f"RCPT TO:<{address}>")

    async def data(self, content: bytes) -> Reply:
        """DATA, then (after 354) the dot-stuffed content; returns the final reply.

        A reply other than 354 to DATA is returned as is and nothing more is sent.
        """
        reply = await self.command("DATA")
        if reply.code != 354:
            return reply
        payload = dot_stuff(content)
        self.last_command = "end of DATA"
        await self._send(
            payload, Stage.DATA, f"message content ({len(payload)} bytes)", payload=True
        )
        return await self._read_reply(Stage.DATA)

    async def pipeline(self, lines: list[str]) -> list[tuple[str, Reply]]:
        """RFC 2920: send ``lines`` as one batch (one step, one write), then read one reply per
        line, in order; each reply comes with the command it answers, in Postfix's words."""
        commands = []
        for line in lines:
            verb = line.split(" ", 1)[0].upper()
            commands.append((line, _stage_of(verb), POSTFIX_COMMAND_NAMES.get(verb, verb)))
        await self._send_batch(
            [(line.encode("utf-8") + CRLF, stage, False) for line, stage, _ in commands],
            what=" + ".join(line.split(":", 1)[0] for line, _, _ in commands) + " (pipelined)",
        )
        replies = []
        for _, stage, name in commands:
            self.last_command = name
            replies.append((name, await self._read_reply(stage)))
        return replies

    async def content_then_quit(self, content: bytes) -> Reply:
        """After 354 in a pipelined session: the dot-stuffed content and QUIT in one write, as
        Postfix's smtp(8) pipelines QUIT after the final dot; returns the reply to the dot.
        The 221 is read by ``finish_quit``, after the caller has acted on that reply."""
        payload = dot_stuff(content)
        await self._send_batch(
            [(payload, Stage.DATA, True), (b"QUIT" + CRLF, Stage.QUIT, False)],
            what=f"message content ({len(payload)} bytes) + QUIT (pipelined)",
        )
        self.last_command = "end of DATA"
        return await self._read_reply(Stage.DATA)

    async def finish_quit(self) -> Reply | None:
        """Read the 221 to a QUIT already sent, then close (None if the server had gone)."""
        try:
            self.last_command = "QUIT"
            return await self._read_reply(Stage.QUIT)
        except SmtpError:
            return None
        finally:
            await self.close("quit")

    async def quit(self) -> Reply:
        """QUIT, read the 221, close. The connection is closed even if the reply is bad."""
        try:
            return await self.command("QUIT")
        finally:
            await self.close("quit")

    # ----------------------------------------------------------------- internals

    def _tls_context(self) -> ssl.SSLContext:
        if self.tls_context is not None:
            return self.tls_context
        if self.ctx.ca is None:
            raise SmtpUsageError("no TLS context and no world CA to build one from")
        return self.ctx.ca.client_context()

    def _require_writer(self) -> asyncio.StreamWriter:
        if self._writer is None:
            raise SmtpUsageError("not connected")
        return self._writer

    async def _send(self, data: bytes, stage: Stage, what: str, *, payload: bool = False) -> None:
        self._require_writer()
        await self.ctx.gate.wait(PendingStep(StepKind.SEND, self.host_name, self.server_name, what))
        writer = self._require_writer()  # the gate may have waited while the peer went away
        line = SmtpLine(
            stage=stage,
            direction=Direction.CLIENT_TO_SERVER,
            data=data,
            sender=self.host_name,
            receiver=self.server_name,
            encrypted=self.encrypted,
            is_payload=payload,
            explain=smtp_line_key(Direction.CLIENT_TO_SERVER, data, stage=stage, payload=payload),
        )
        try:
            writer.write(data)
            # Published once handed to the socket and before draining: draining yields to the
            # loop, and the server must not be seen acting on bytes the trace has not sent yet.
            self._publish(line)
            async with asyncio.timeout(self.timeout):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            await self.close("lost connection")
            raise SmtpConnectionLost(
                f"lost connection with {self.relay} while sending {what}: {exc}"
            ) from None

    async def _send_batch(self, parts: list[tuple[bytes, Stage, bool]], what: str) -> None:
        """Several lines in one step and one write; each is traced as the line it is."""
        self._require_writer()
        await self.ctx.gate.wait(PendingStep(StepKind.SEND, self.host_name, self.server_name, what))
        writer = self._require_writer()
        lines = [
            SmtpLine(
                stage=stage,
                direction=Direction.CLIENT_TO_SERVER,
                data=data,
                sender=self.host_name,
                receiver=self.server_name,
                encrypted=self.encrypted,
                is_payload=payload,
                explain=smtp_line_key(
                    Direction.CLIENT_TO_SERVER, data, stage=stage, payload=payload
                ),
            )
            for data, stage, payload in parts
        ]
        try:
            writer.write(b"".join(data for data, _, _ in parts))
            for line in lines:
                self._publish(line)
            async with asyncio.timeout(self.timeout):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            await self.close("lost connection")
            raise SmtpConnectionLost(
                f"lost connection with {self.relay} while sending {what}: {exc}"
            ) from None

    async def _read_reply(self, stage: Stage) -> Reply:
        reader = self._reader
        if reader is None:
            raise SmtpUsageError("not connected")
        raw_lines: list[bytes] = []
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    line = await reader.readline()
            except TimeoutError:
                await self.close("timeout")
                raise SmtpTimeoutError(
                    f"conversation with {self.relay} timed out after {self.timeout:g}s"
                ) from None
            except (ValueError, asyncio.LimitOverrunError):
                await self.close("protocol error")
                raise SmtpProtocolError(
                    f"{self.relay} sent a reply line that is far too long"
                ) from None
            except (OSError, ssl.SSLError) as exc:
                await self.close("lost connection")
                raise SmtpConnectionLost(f"lost connection with {self.relay}: {exc}") from None
            if not line:
                await self.close("lost connection")
                raise SmtpConnectionLost(
                    f"lost connection with {self.relay} (the server closed it)"
                )
            self._publish(
                SmtpLine(
                    stage=stage,
                    direction=Direction.SERVER_TO_CLIENT,
                    data=line,
                    sender=self.server_name,
                    receiver=self.host_name,
                    encrypted=self.encrypted,
                    explain=smtp_line_key(Direction.SERVER_TO_CLIENT, line),
                )
            )
            raw_lines.append(line)
            if not line.endswith(b"\n"):
                continue  # EOF mid-line is caught on the next read
            if len(line) < 4 or line[3:4] != b"-":
                break
        try:
            reply = parse_reply(raw_lines)
        except SmtpProtocolError as exc:
            await self.close("protocol error")
            raise SmtpProtocolError(f"{self.relay}: {exc}") from None
        self.last_reply = reply
        return reply

    def _handshake_failed(
        self, exc: BaseException, name: str, *, implicit: bool
    ) -> TlsHandshakeError:
        verify_error = ""
        if isinstance(exc, ssl.SSLCertVerificationError):
            verify_error = exc.verify_message or str(exc)
            message = f"TLS handshake with {name} failed: certificate not trusted ({verify_error})"
        elif isinstance(exc, TimeoutError):
            message = f"TLS handshake with {name} timed out"
        else:
            message = f"TLS handshake with {name} failed: {getattr(exc, 'reason', None) or exc}"
        self.handshake = self._publish(
            TlsHandshake(
                stage=Stage.CONNECT if implicit else Stage.STARTTLS,
                ok=False,
                sni=name,
                verified=False,
                verify_error=verify_error,
                implicit=implicit,
            )
        )
        return TlsHandshakeError(message, verify_error)

    def _publish_handshake(self, context: ssl.SSLContext, name: str, *, implicit: bool) -> None:
        writer = self._require_writer()
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        verifying = context.verify_mode != ssl.CERT_NONE
        cert = describe_certificate(der, _chain_der(ssl_object, verifying))
        if verifying:
            verify_error = ""  # the handshake itself verified chain and name, or failed
        elif self.ctx.ca is not None:
            now = datetime.fromtimestamp(self.ctx.clock.now(), UTC)
            verify_error = check_certificate(der, self.ctx.ca.path.read_bytes(), name, now)
        else:
            verify_error = "no trusted CA to verify against"
        cipher = ssl_object.cipher() if ssl_object else None
        self.handshake = self._publish(
            TlsHandshake(
                stage=Stage.CONNECT if implicit else Stage.STARTTLS,
                ok=True,
                version=(ssl_object.version() if ssl_object else "") or "",
                cipher=cipher[0] if cipher else "",
                bits=int(cipher[2]) if cipher else 0,
                sni=name,
                subject=cert.subject,
                issuer=cert.issuer,
                san=cert.san,
                not_after=cert.not_after,
                chain=cert.chain,
                verified=not verify_error,
                verify_error=verify_error,
                implicit=implicit,
            )
        )

    def _publish_close(self, src: str, reason: str) -> None:
        self._publish(
            TcpClose(
                stage=Stage.QUIT,
                src=src,
                dst=f"{self.server_address}:{self.port}",
                reason=reason,
            )
        )

    def _forget_local(self) -> None:
        if self._local is not None:
            self.ctx.plan.forget_outgoing(self._local)

    def _publish(self, event: Any) -> Any:
        return self.ctx.publish(
            _with_header(event, host=self.host_name, session=self.session, side=Side.CLIENT)
        )

    def note(self, text: str, *, stage: Stage, level: str = "info", explain: str = "") -> None:
        """Publish a plain statement in this client's session (used by the MTA and submit)."""
        self.ctx.note(
            text,
            host=self.host_name,
            stage=stage,
            side=Side.CLIENT,
            session=self.session,
            level=level,
            explain=explain,
        )


def _with_header(event: Any, **header: Any) -> Any:
    return dataclasses.replace(event, **header)


# --------------------------------------------------------------------------- the MUA side


async def submit(
    ctx: WorldContext,
    *,
    client_host: str,
    server_host: str,
    address: str,
    port: int,
    user: str,
    password: str,
    sender: str,
    recipients: list[str],
    content: bytes,
    implicit_tls: bool = False,
    mechanism: str = "PLAIN",
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Reply]:
    """Hand a message to a submission server the way a mail program does (RFC 6409).

    EHLO, STARTTLS, EHLO again, AUTH, MAIL, RCPT for each recipient, DATA, QUIT; with
    ``implicit_tls`` TLS starts at connect (port 465, RFC 8314) and there is no STARTTLS.
    Like a real mail program it verifies the server certificate and refuses to send the
    password in clear. Stops (with QUIT) at the first step that fails. Returns every reply
    in order, greeting first. Connection and TLS failures raise SmtpError subclasses.
    """
    client = SmtpClient(ctx, host_name=client_host, session=ctx.new_session_id(), timeout=timeout)
    replies: list[Reply] = []

    async def step(reply: Reply, ok: bool) -> bool:
        replies.append(reply)
        if not ok and client.connected:
            replies.append(await client.quit())
        return ok

    try:
        greeting = await client.connect(server_host, address, port, implicit_tls=implicit_tls)
        if not await step(greeting, greeting.code == 220):
            return replies
        reply = await client.ehlo()
        if not await step(reply, reply.code == 250):
            return replies
        if not implicit_tls:
            if not client.extensions.starttls:
                client.note(
                    f"{server_host} does not offer STARTTLS: a mail program does not send a "
                    "password in clear, so it gives up (RFC 8314 §3)",
                    stage=Stage.STARTTLS,
                    level="error",
                )
                replies.append(await client.quit())
                return replies
            reply = await client.starttls(server_host)
            if not await step(reply, reply.code == 220):
                return replies
            reply = await client.ehlo()
            if not await step(reply, reply.code == 250):
                return replies
        reply = await client.auth(mechanism, user, password)
        if not await step(reply, reply.code == 235):
            return replies
        reply = await client.mail(sender, size=len(content), body=body_type(content))
        if not await step(reply, reply.is_positive):
            return replies
        accepted = 0
        for recipient in recipients:
            reply = await client.rcpt(recipient)
            replies.append(reply)
            accepted += reply.is_positive
        if accepted:
            replies.append(await client.data(content))
        replies.append(await client.quit())
        return replies
    finally:
        await client.close()


def body_type(content: bytes) -> str | None:
    """BODY=8BITMIME is only worth saying when some byte has the high bit set (RFC 6152)."""
    return None if content.isascii() else "8BITMIME"
