"""A traced aiosmtpd SMTP server: records every byte it reads and writes, and speaks like Postfix.

``TracedSMTP`` is the protocol object behind both the MX (receiver.py) and the submission
server (submission.py). aiosmtpd keeps the state machine; this subclass adds three things:

* **The trace.** Every line the client sent (exact bytes, CRLF included), every reply line the
  server wrote, the DATA payload as one event, the TCP open/close and the TLS handshake are
  published as server-side events. Reads are observed through the adapter's ``tap_read``
  (aiosmtpd_adapter.py), so what is recorded is exactly what the parser consumed.
* **Postfix's words.** aiosmtpd's own reply texts differ from Postfix's and often lack the
  RFC 3463 enhanced status code. ``push`` rewrites them (``postfix_reply``; the texts are in
  tutor/data/postfix_replies.toml) and adds the code every reply carries once
  ENHANCEDSTATUSCODES is advertised (RFC 2034: all but the greeting and the HELO/EHLO
  replies), so learners see the replies a real MTA sends.
* **Bad input.** A line with a NUL byte or invalid UTF-8 is answered 500 the way Postfix does,
  and the session carries on.

Handlers are aiosmtpd handlers (``handle_MAIL``, ``handle_RCPT``, ``handle_DATA`` ...), plus one
hook of ours: ``handle_CONNECT(server, session, envelope) -> str | None`` runs before the
greeting; a 4xx/5xx reply it returns replaces the greeting and the connection is closed.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import re
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiosmtpd.smtp import MISSING, Envelope, TLSSetupException

from tutor.smtp_keys import smtp_line_key
from tutor.trace import (
    COMMAND_STAGES,
    Direction,
    Event,
    Note,
    NoteLevel,
    Side,
    SmtpLine,
    Stage,
    TcpClose,
    TcpConnect,
    TlsHandshake,
    event_with,
)
from tutor.world.context import WorldContext
from tutor.world.maillog.records import Peer as LogPeer
from tutor.world.network import Service, ensure_loopback
from tutor.world.sender.client import describe_certificate
from tutor.world.smtp.aiosmtpd_adapter import QuietSession, SMTPAdapter
from tutor.world.smtp.postfix_replies import postfix_reply
from tutor.world.smtp.smtpd_log import SmtpdSessionLog

# aiosmtpd logs to "mail.log"; without a handler Python's last-resort handler would print its
# warnings on stderr, over the TUI. Everything worth seeing is in the trace instead.
logging.getLogger("mail.log").addHandler(logging.NullHandler())

CRLF = b"\r\n"
GREETING_IDENT = "ESMTP"  # Postfix's banner is "$myhostname ESMTP $mail_name"; we omit the name
BACKLOG = 100  # asyncio's default listen backlog
COMMAND_LIMIT = 512  # RFC 5321 §4.5.3.1.4
MAIL_PARAMS_ALLOWANCE = 26 + 10 + 14  # SIZE= (RFC 1870), SMTPUTF8, BODY=8BITMIME


# Commands a header line typed into nc starts with; Postfix hangs up on them (smtpd_forbid_cmds).
FORBIDDEN_COMMANDS = frozenset({"CONNECT", "GET", "POST"})
_HEADER_LIKE = re.compile(r"^[!-9;-~]+:$")


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Peer:
    """The connecting host as the world names it (or "[address]" for a student's nc/swaks)."""

    name: str
    address: str
    port: int

    @property
    def known(self) -> bool:
        return not self.name.startswith("[")


class TracedSession(QuietSession):
    """aiosmtpd's Session plus what our handlers and policies need to know about the client."""

    def __init__(self, loop: asyncio.AbstractEventLoop, trace_id: str, client: Peer) -> None:
        super().__init__(loop)
        self.trace_id = trace_id
        self.client = client
        self.encrypted = False
        self.tls_version = ""
        self.tls_cipher = ""
        self.auth_user = ""
        self.log: SmtpdSessionLog | None = None  # the server's mail log of this session


class TracedEnvelope(Envelope):
    """aiosmtpd's Envelope plus the queue id given at end of DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.queue_id = ""

    @property
    def sender(self) -> str:
        """The envelope sender, '' for the null sender <> of bounces (RFC 5321 §4.5.5)."""
        return "" if self.mail_from in (None, "<>") else str(self.mail_from)


def with_protocol(session: TracedSession, smtputf8: bool = False) -> str:
    """The Received 'with' keyword: RFC 3848 (ESMTP/ESMTPS/ESMTPA/ESMTPSA), RFC 6531 (UTF8SMTP*)."""
    base = "ESMTP" if session.extended_smtp else "SMTP"
    suffix = ("S" if session.encrypted else "") + ("A" if session.authenticated else "")
    if smtputf8:
        return "UTF8SMTP" + suffix
    return base + suffix


def received_header(
    session: TracedSession,
    by_host: str,
    queue_id: str,
    recipients: list[str],
    when: float,
    smtputf8: bool = False,
) -> str:
    """A Postfix-shaped Received header (RFC 5321 §4.4), folded, without the final newline.

    ``for <rcpt>`` is only written for a single recipient, as Postfix does, so one copy never
    reveals the other recipients.
    """
    client = session.client
    rdns = client.name if client.known else "unknown"
    date = format_datetime(datetime.fromtimestamp(when, UTC))
    lines = [
        f"Received: from {session.host_name or client.address} ({rdns} [{client.address}])",
        f"\tby {by_host} with {with_protocol(session, smtputf8)} id {queue_id}",
    ]
    if len(recipients) == 1:
        lines.append(f"\tfor <{recipients[0]}>; {date}")
    else:
        lines[-1] += f"; {date}"
    return "\n".join(lines)


def prepend_headers(content: bytes, headers: list[str]) -> bytes:
    """Put trace headers on top of the message exactly as received.

    Headers are prepended to the raw bytes rather than re-serialising the message with the
    email package: re-serialising could change folding or encoding and break DKIM signatures.
    """
    block = "".join(h.replace("\n", "\r\n") + "\r\n" for h in headers)
    return block.encode("utf-8") + content


# --------------------------------------------------------------------------- reading


class _Reading(enum.Enum):
    """What the next bytes from the client are, so the trace can label them."""

    COMMAND = enum.auto()
    CONTINUATION = enum.auto()  # an AUTH response after a 334 challenge
    PAYLOAD = enum.auto()  # message content after 354, up to CRLF.CRLF


# --------------------------------------------------------------------------- TLS facts

_SNI: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def record_sni(context: ssl.SSLContext) -> None:
    """Make ``context`` remember the SNI name each client sent (a server cannot read it later)."""
    previous = context.sni_callback
    if getattr(previous, "_records_sni", False):
        return

    def callback(ssl_object: Any, server_name: str | None, ctx: ssl.SSLContext) -> Any:
        if server_name:
            _SNI[ssl_object] = server_name
        return previous(ssl_object, server_name, ctx) if previous else None

    callback._records_sni = True  # type: ignore[attr-defined]
    context.sni_callback = callback


# --------------------------------------------------------------------------- the protocol


class TracedSMTP(SMTPAdapter):
    """aiosmtpd's SMTP protocol, traced and speaking Postfix's replies (see module docstring)."""

    AuthLoginUsernameChallenge = "Username:"  # what Cyrus/Dovecot send (aiosmtpd: "User Name\0")
    AuthLoginPasswordChallenge = "Password:"

    def __init__(
        self,
        handler: Any,
        *,
        ctx: WorldContext,
        host_name: str,
        implicit_tls: bool = False,
        auth_enabled: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("ident", GREETING_IDENT)
        kwargs.setdefault("enable_SMTPUTF8", True)
        kwargs.setdefault("decode_data", False)
        super().__init__(handler, hostname=host_name, **kwargs)
        # aiosmtpd keeps these limits in a class-level dict shared by every instance.
        self.command_size_limits = collections.defaultdict(lambda: COMMAND_LIMIT)
        self.ctx = ctx
        self.host_name = host_name
        self.implicit_tls = implicit_tls
        self.offers_auth = auth_enabled  # not auth_*: aiosmtpd would list it as a mechanism
        self.trace_id = ""
        self.peer = Peer(f"[{host_name}]", "", 0)
        self.local = ("", 0)
        self._encrypted = False
        self._reading = _Reading.COMMAND
        # What arrived of the current line or DATA payload. A bytearray: a 10 MB message comes
        # in as 130 000 lines, and appending to bytes would copy the whole payload each time.
        self._pending = bytearray()
        self._command = ""
        self._stage = Stage.CONNECT
        self._greeted = False
        self._line_error = ""
        self._close_reason = ""
        self._close_published = False
        self.log: SmtpdSessionLog | None = None
        self.from_outside = True  # until the peer is known to be a world client

    # ------------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starttls_done = self.starttls_done()
        if not starttls_done:
            self._identify(transport)
        # After STARTTLS, or on an implicit-TLS port, everything from here on is encrypted.
        self._encrypted = starttls_done or transport.get_extra_info("ssl_object") is not None
        super().connection_made(transport)
        if starttls_done:
            return
        connect = self._publish(
            TcpConnect(
                stage=Stage.CONNECT,
                src=f"{self.peer.address}:{self.peer.port}",
                dst=f"{self._own_address()}:{self.local[1]}",
                dst_host=self.host_name,
            )
        )
        if self.log is not None:
            self.log.connected(connect.time)
        if self._encrypted:
            self._note_tls(transport, implicit=True)

    def _identify(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername") or ("", 0)
        # A world client registered its session: both ends of the connection share its id.
        peer_key = (peername[0], int(peername[1]))
        world_session = self.ctx.plan.session_of_peer(peer_key)
        self.trace_id = world_session or self.ctx.new_session_id()
        self.from_outside = not world_session
        if self.from_outside:  # a learner's nc or swaks, or any client outside the world
            self.ctx.outside_sessions.append(self.trace_id)
        name, address = self.ctx.plan.identify_peer((peername[0], peername[1]))
        self.peer = Peer(name, address, int(peername[1]))
        sockname = transport.get_extra_info("sockname") or ("", 0)
        self.local = (sockname[0], int(sockname[1]))
        known = self.ctx.plan.by_address(address)
        self.log = SmtpdSessionLog(
            self.ctx,
            self.host_name,
            self._log_program(),
            LogPeer(known.name if known else "", address),
            self.trace_id,
        )

    def _log_program(self) -> str:
        """Which smtpd logs: ``postfix/submission/smtpd`` on a submission port, as master.cf
        names it with ``-o syslog_name``, else plain ``postfix/smtpd``."""
        try:
            ports = self.ctx.plan.host(self.host_name).ports
        except KeyError:
            return "postfix/smtpd"
        if self.local[1] == ports.get(Service.SUBMISSION):
            return "postfix/submission/smtpd"
        if self.local[1] == ports.get(Service.SUBMISSIONS):
            return "postfix/submissions/smtpd"
        return "postfix/smtpd"

    def _own_address(self) -> str:
        try:
            return self.ctx.plan.host(self.host_name).address
        except KeyError:
            return self.local[0]

    def new_session(self) -> TracedSession:
        session = TracedSession(self.loop, self.trace_id, self.peer)
        session.encrypted = self._encrypted
        session.log = self.log
        old = self.session
        if isinstance(old, TracedSession):
            session.tls_version, session.tls_cipher = old.tls_version, old.tls_cipher
        return session

    def new_envelope(self) -> TracedEnvelope:
        return TracedEnvelope()

    def connection_lost(self, error: Exception | None) -> None:
        if self._pending:
            # The client vanished mid-line or mid-DATA: record what did arrive.
            self._publish_received(bytes(self._pending), partial=True)
            self._pending.clear()
        if not self._close_published:
            self._close_published = True
            reason = self._close_reason or (
                f"lost connection: {error}" if error else "client closed the connection"
            )
            close = self._publish(
                TcpClose(
                    stage=Stage.QUIT,
                    src=f"{self.peer.address}:{self.peer.port}",
                    dst=f"{self._own_address()}:{self.local[1]}",
                    reason=reason,
                )
            )
            if self.log is not None:
                self.log.closed(close.time)
        super().connection_lost(error)

    def idle_timeout_applies(self) -> bool:
        """A world client waiting at the step gate is the learner reading, not a dead peer:
        while the run is stepped, only clients from outside the world (a learner's nc) can
        time out (world time stands still; so does the world's patience)."""
        return self.from_outside or self.ctx.gate.is_open

    def on_idle_timeout(self) -> None:
        # Postfix says goodbye before hanging up on an idle client; aiosmtpd just closes.
        if self.transport is not None and not self.transport.is_closing():
            self._write_reply(f"421 4.4.2 {self.host_name} Error: timeout exceeded")
            self._close_reason = "timeout"

    # ------------------------------------------------------------------ reading

    def tap_read(self, chunk: bytes) -> bytes:
        """See each chunk aiosmtpd reads; publish complete lines; maybe substitute a bad line."""
        if not chunk:
            return chunk
        if self._reading is _Reading.PAYLOAD:
            at_line_start = not self._pending or self._pending.endswith(CRLF)
            self._pending += chunk
            if at_line_start and chunk == b"." + CRLF:
                self._publish_received(bytes(self._pending))
                self._pending.clear()
                self._reading = _Reading.COMMAND
            return chunk
        fragmented = bool(self._pending)
        self._pending += chunk
        if not chunk.endswith(b"\n"):
            return chunk  # an overlong line arrives in pieces; aiosmtpd answers at its end
        line = bytes(self._pending)
        self._pending.clear()
        self._publish_received(line)
        if self._reading is _Reading.CONTINUATION:
            self._reading = _Reading.COMMAND
            return chunk
        if not fragmented:
            problem = _line_problem(line)
            if problem:
                self._line_error = problem
                return CRLF  # aiosmtpd answers an empty line with 500, which push() rewords
        return chunk

    def _publish_received(self, data: bytes, *, partial: bool = False) -> None:
        payload = self._reading is _Reading.PAYLOAD
        if not payload and self._reading is _Reading.COMMAND and not partial:
            verb = data.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
            self._command = verb
            self._stage = COMMAND_STAGES.get(verb, self._stage)
        stage = Stage.AUTH if self._reading is _Reading.CONTINUATION else self._stage
        line = self._publish(
            SmtpLine(
                stage=Stage.DATA if payload else stage,
                direction=Direction.CLIENT_TO_SERVER,
                data=data,
                sender=self.peer.name,
                receiver=self.host_name,
                encrypted=self._encrypted,
                is_payload=payload,
                explain=smtp_line_key(
                    Direction.CLIENT_TO_SERVER,
                    data,
                    payload=payload,
                    continuation=self._reading is _Reading.CONTINUATION,
                ),
            )
        )
        if self.log is not None and not partial:
            assert isinstance(line, SmtpLine)
            self.log.received(line.text, payload=data if payload else None)

    # ------------------------------------------------------------------ writing

    async def push(self, status: str | bytes) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        greeting = not self._greeted
        if greeting:
            self._greeted = True
            override = await self.call_handler_hook("CONNECT")
            if isinstance(override, str) and override[:1] in ("4", "5"):
                await self._send_and_hang_up(override, f"greeted with {override[:3]}")
                return
        if self._line_error and text.startswith("500 Error: bad syntax"):
            text, self._line_error = self._line_error, ""
        if self._command_is_forbidden(text):
            await self._send_and_hang_up(
                "221 2.7.0 Error: I can break rules, too. Goodbye.", "non-SMTP command"
            )
            return
        text = postfix_reply(text, self._command, self.host_name, greeting=greeting)
        self._write_reply(text)
        if text.startswith("354"):
            self._reading = _Reading.PAYLOAD
        elif text.startswith("334"):
            self._reading = _Reading.CONTINUATION
        if text.startswith("421"):
            self._close_reason = self._close_reason or text
            self._hang_up()
        elif text.startswith("221"):
            self._close_reason = "QUIT"
        await self.writer.drain()

    def _command_is_forbidden(self, text: str) -> bool:
        """Postfix hangs up on HTTP verbs and header lines typed as commands (smtpd_forbid_cmds)."""
        if not text.startswith("500 Error: command"):
            return False
        return self._command in FORBIDDEN_COMMANDS or bool(_HEADER_LIKE.match(self._command))

    def _write_reply(self, text: str) -> None:
        data = text.encode("utf-8") + CRLF
        line = self._publish(
            SmtpLine(
                stage=self._stage,
                direction=Direction.SERVER_TO_CLIENT,
                data=data,
                sender=self.host_name,
                receiver=self.peer.name,
                encrypted=self._encrypted,
                explain=smtp_line_key(Direction.SERVER_TO_CLIENT, data),
            )
        )
        self.writer.write(data)
        if self.log is not None:
            self.log.replied(text, line.time)

    def shut_down(self) -> None:
        """The world is stopping (Ctrl-C, SIGTERM): say 421 first, then close (RFC 5321
        §3.8: a server that must close a session tells the client why with a 421)."""
        if self.transport is None or self.transport.is_closing():
            return
        if self._greeted:
            self._write_reply(
                f"421 4.3.2 {self.host_name} Service shutting down, closing transmission channel"
            )
        self._close_reason = self._close_reason or "server shutting down"
        self.transport.close()

    async def _send_and_hang_up(self, text: str, reason: str) -> None:
        self._write_reply(text)
        self._close_reason = reason
        await self.writer.drain()
        self._hang_up()

    def _hang_up(self) -> None:
        # The same way aiosmtpd ends a session after QUIT: stop the loop, close (after flushing).
        self.cancel_handler()
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ commands

    async def smtp_EHLO(self, hostname: str) -> None:
        if not hostname:
            await self.push("501 Syntax: EHLO hostname")
            return
        self.reset_transaction()
        assert self.session is not None
        self.session.extended_smtp = True
        self.session.host_name = hostname
        self.command_size_limits["MAIL"] = COMMAND_LIMIT + MAIL_PARAMS_ALLOWANCE
        for line in self.ehlo_lines():
            await self.push(line)

    @property
    def verifies(self) -> bool:
        """True when VRFY is carried out here (the handler can check a recipient)."""
        return hasattr(self.event_handler, "handle_VRFY")

    def ehlo_lines(self) -> list[str]:
        """The EHLO reply, keywords in Postfix's order (PIPELINING first, SMTPUTF8 last)."""
        keywords = ["PIPELINING"]
        keywords.append(f"SIZE {self.data_size_limit}" if self.data_size_limit else "SIZE")
        if self.verifies:
            keywords.append("VRFY")  # Postfix lists it unless disable_vrfy_command = yes
        if self.tls_context and not self._encrypted:
            keywords.append("STARTTLS")
        if self.offers_auth and (self._encrypted or not self.requires_tls_for_auth):
            mechanisms = sorted(self.sasl_mechanisms, key=lambda m: (m != "PLAIN", m))
            keywords.append("AUTH " + " ".join(mechanisms))
        keywords += ["ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8"]
        lines = [self.host_name, *keywords]
        return [f"250{'-' if i < len(lines) - 1 else ' '}{line}" for i, line in enumerate(lines)]

    async def smtp_STARTTLS(self, arg: str) -> None:
        assert self.envelope is not None
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")
            return
        if self._encrypted:
            await self.push("554 5.5.1 Error: TLS already active")
            return
        if not self.tls_context:
            await self.push("502 5.5.1 Error: command not implemented")
            return
        if self.envelope.mail_from:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        record_sni(self.tls_context)
        try:
            await super().smtp_STARTTLS(arg)
        except TLSSetupException as exc:
            self._close_reason = "TLS handshake failed"
            self._publish(
                TlsHandshake(
                    stage=Stage.STARTTLS,
                    ok=False,
                    verify_error=str(exc.__cause__ or exc),
                )
            )
            raise
        assert self.transport is not None
        self._note_tls(self.transport, implicit=False)

    async def smtp_AUTH(self, arg: str) -> None:
        assert self.envelope is not None
        if not self.offers_auth:
            await self.push("503 5.5.1 Error: authentication not enabled")
            return
        if self.envelope.mail_from:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        await super().smtp_AUTH(arg)

    async def smtp_DATA(self, arg: str) -> None:
        assert self.envelope is not None
        if self.envelope.mail_from and not self.envelope.rcpt_tos:
            # Postfix tells "never asked" (503) from "asked, all refused" (554).
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        await super().smtp_DATA(arg)

    async def smtp_VRFY(self, arg: str) -> None:
        """Postfix's vrfy_cmd with its default disable_vrfy_command = no: the recipient
        checks of RCPT TO (550 5.1.1 for an unknown user), else 252 with the argument as the
        client gave it. A server whose handler cannot verify (submission) answers as Postfix
        with disable_vrfy_command = yes."""
        verify = getattr(self.event_handler, "handle_VRFY", None)
        if verify is None:
            await self.push("502 5.5.1 VRFY command is disabled")
            return
        arg = arg or ""
        if not arg.strip():
            await self.push("501 5.5.4 Syntax: VRFY address [SMTPUTF8]")
            return
        address = _vrfy_address(arg)
        if address is None:
            await self.push("501 5.1.3 Bad recipient address syntax")
            return
        await self.push(await verify(self, self.session, self.envelope, address, arg.strip()))

    async def smtp_HELP(self, arg: str) -> None:
        # Postfix 3.9 and later (smtpd.c help_cmd): the implemented commands, sorted, whatever
        # the argument. Postfix also lists BDAT, ETRN, XCLIENT and XFORWARD, which this world
        # does not implement (a listed command must not lead to 500/502).
        await self.push("214 2.0.0 Commands: " + " ".join(sorted(self.implemented_commands())))

    def implemented_commands(self) -> set[str]:
        """The commands this server really carries out, for HELP."""
        commands = {"DATA", "EHLO", "HELO", "HELP", "MAIL", "NOOP", "QUIT", "RCPT", "RSET"}
        if self.verifies:
            commands.add("VRFY")
        if self.tls_context:
            commands.add("STARTTLS")
        if self.offers_auth:
            commands.add("AUTH")
        return commands

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            return "454 4.7.0 TLS not available due to local problem"
        # A bug in a handler must show in the trace, not vanish into a log.
        self._publish(
            Note(stage=self._stage, level=NoteLevel.ERROR, text=f"server error: {error!r}")
        )
        if self._command == "DATA":
            return "451 4.3.0 Error: queue file write error"
        return "451 4.3.0 Error: command failed"

    # ------------------------------------------------------------------ TLS

    def _note_tls(self, transport: asyncio.BaseTransport, *, implicit: bool) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        cipher = ssl_object.cipher() if ssl_object else None
        version = (ssl_object.version() if ssl_object else "") or ""
        if isinstance(self.session, TracedSession):
            self.session.encrypted = True
            self.session.tls_version = version
            self.session.tls_cipher = cipher[0] if cipher else ""
        cert = self._own_certificate()
        self._publish(
            TlsHandshake(
                stage=Stage.CONNECT if implicit else Stage.STARTTLS,
                ok=True,
                version=version,
                cipher=cipher[0] if cipher else "",
                bits=int(cipher[2]) if cipher else 0,
                sni=_SNI.get(ssl_object, "") if ssl_object is not None else "",
                subject=cert.subject,
                issuer=cert.issuer,
                san=cert.san,
                not_after=cert.not_after,
                chain=cert.chain,
                implicit=implicit,
            )
        )

    def _own_certificate(self) -> Any:
        """What this server presents, read from the world CA that issued it."""
        ca = self.ctx.ca
        if ca is None:
            return describe_certificate(None, [])
        try:
            address = self.ctx.plan.host(self.host_name).address
        except KeyError:
            address = ""
        leaf = ca.leaf(self.host_name, address)
        leaf_der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))
        ca_der = ssl.PEM_cert_to_DER_cert(ca.path.read_text(encoding="ascii"))
        return describe_certificate(leaf_der, [leaf_der, ca_der])

    # ------------------------------------------------------------------ trace

    def _publish(self, event: Event) -> Event:
        return self.ctx.publish(
            event_with(event, host=self.host_name, session=self.trace_id, side=Side.SERVER)
        )


def _vrfy_address(arg: str) -> str | None:
    """The address a VRFY argument names ("bob@x" or "<bob@x>", as Postfix's extract_addr
    takes it), or None when it does not parse."""
    text = arg.strip()
    if text.upper().endswith(" SMTPUTF8"):
        text = text[: -len(" SMTPUTF8")].rstrip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if not text or any(c.isspace() or c in "<>" for c in text) or text.count("@") > 1:
        return None
    return text


def _line_problem(line: bytes) -> str:
    """Postfix's reply for a command line it cannot even tokenise, or ''."""
    if b"\x00" in line:
        return "500 5.5.2 Error: bad syntax"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "500 5.5.2 Error: bad UTF-8 syntax"
    return ""


# --------------------------------------------------------------------------- listening


class Listener:
    """One listening socket whose connections are each served by a new TracedSMTP.

    Keeps the live protocols so ``stop`` can end open sessions too (a student's forgotten nc
    must not keep the world from shutting down).
    """

    def __init__(
        self,
        factory: Callable[[], TracedSMTP],
        bind_address: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._factory = factory
        self.bind_address = ensure_loopback(bind_address)
        self.port = port
        self._ssl = ssl_context
        self._socket: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._live: weakref.WeakSet[TracedSMTP] = weakref.WeakSet()

    @property
    def serving(self) -> bool:
        return self._server is not None

    def _make(self) -> TracedSMTP:
        protocol = self._factory()
        self._live.add(protocol)
        return protocol

    def reserve(self) -> None:
        """Bind the port without listening: connections to it are refused, as to a host that is
        down, and no other program on a shared machine can take the port meanwhile."""
        if self._socket is None:
            # No SO_REUSEADDR: with it, another program setting it too could bind the same
            # port while this one is not listening (Linux allows that) and take its traffic.
            # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets
            # whose proto says TCP, and with Nagle on every multi-line reply stalls 40 ms.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.bind((self.bind_address, self.port))
            except OSError:
                sock.close()
                raise
            sock.setblocking(False)
            self._socket = sock

    def listen_now(self) -> None:
        """Accept connections from this moment on (the kernel queues them until ``start``)."""
        self.reserve()
        assert self._socket is not None
        self._socket.listen(BACKLOG)

    async def start(self) -> None:
        self.listen_now()
        if self._ssl is not None:
            record_sni(self._ssl)
        self._server = await asyncio.get_running_loop().create_server(
            self._make, sock=self._socket, ssl=self._ssl, backlog=BACKLOG
        )

    async def stop(self) -> None:
        if self._server is None:
            if self._socket is not None:  # reserved, never served
                self._socket.close()
                self._socket = None
            return
        self._socket = None  # the server owns it now and closes it
        self._server.close()
        for protocol in list(self._live):
            protocol.shut_down()
        await self._server.wait_closed()
        self._server = None
        await asyncio.sleep(0)  # let connection_lost callbacks run before the loop moves on


def queue_reply(queue_id: str) -> str:
    """Postfix's end-of-DATA acceptance."""
    return f"250 2.0.0 Ok: queued as {queue_id}"


def accept_reply(session: TracedSession, queue_id: str) -> str:
    """The end-of-DATA 250 for a message the server took as ``queue_id``; its log hears it."""
    if session.log is not None:
        session.log.queued(queue_id)
    return queue_reply(queue_id)


__all__ = [
    "MISSING",
    "Listener",
    "Peer",
    "TracedEnvelope",
    "TracedSMTP",
    "TracedSession",
    "accept_reply",
    "postfix_reply",
    "prepend_headers",
    "queue_reply",
    "received_header",
    "record_sni",
    "with_protocol",
]
