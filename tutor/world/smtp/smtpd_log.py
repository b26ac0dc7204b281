"""The SMTP servers' side of the mail log, derived from what the servers put in the trace.

Postfix's smtpd, cleanup, qmgr and virtual(8) each log a few lines per session; the world's
servers already publish every line they read and write, so this subscriber watches those
server-side events and writes the lines Postfix would have written:

* ``connect from NAME[ADDR]`` on a new connection;
* ``NOQUEUE: reject: RCPT from NAME[ADDR]: 550 5.1.1 ...; from=<> to=<> proto=ESMTP helo=<>``
  for every 4xx/5xx reply to MAIL, RCPT, DATA or the end of the data;
* on ``250 ... queued as QID``: ``QID: client=`` (with the SASL login on a submission port),
  cleanup's ``message-id=``, and on a host that delivers into its own Maildirs, qmgr's
  ``from=<>, size=, nrcpt= (queue active)``, virtual's ``to=<> relay=virtual ... status=sent
  (delivered to maildir)`` per recipient and ``removed``;
* ``disconnect from NAME[ADDR] ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6``.

The lines are published a moment later (``call_soon``) with the time of the event they come
from, so every subscriber of the trace sees them after that event and in order.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tutor.trace import (
    AuthResult,
    Delivery,
    Direction,
    Event,
    Note,
    NoteLevel,
    Side,
    SmtpLine,
    Stage,
    TcpClose,
    TcpConnect,
)
from tutor.world.maillog.records import (
    CleanupMessageId,
    LogRecord,
    Peer,
    QmgrQueued,
    QmgrRemoved,
    SmtpdClient,
    SmtpdConnect,
    SmtpdDisconnect,
    SmtpdReject,
    to_event,
)
from tutor.world.maillog.records import (
    Delivery as DeliveryRecord,
)
from tutor.world.network import Service

if TYPE_CHECKING:
    from tutor.world.context import WorldContext

# Postfix prints the disconnect counters in the order of its command table (smtpd.c).
_COUNTED = ("helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "rset", "noop", "quit")
_QUEUED = re.compile(r"^250 .*queued as ([0-9A-Za-z]+)")
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r":\s*<([^>]*)>", re.IGNORECASE)


@dataclass
class _Session:
    host: str
    program: str
    client: Peer
    helo: str = ""
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    command: str = ""  # the verb whose reply comes next ("" = the greeting)
    argument: str = ""  # its address (MAIL/RCPT), for reject lines
    counts: dict[str, list[int]] = field(default_factory=dict)  # verb -> [ok, total]
    payload: bytes = b""
    sasl: tuple[str, str] = ("", "")
    deliveries: list[Delivery] = field(default_factory=list)
    opened: float = 0.0
    rcpt_at: float = 0.0


class SmtpdLogger:
    """Subscribe with ``ctx.trace.subscribe(SmtpdLogger(ctx))``; it publishes LogLine events."""

    def __init__(self, ctx: WorldContext) -> None:
        self.ctx = ctx
        self._sessions: dict[str, _Session] = {}

    def __call__(self, event: Event) -> None:
        try:
            self._see(event)
        except Exception as exc:  # a log line must never break the server that publishes
            self._publish_soon(
                Note(
                    host=event.host,
                    stage=Stage.QUEUE,
                    level=NoteLevel.ERROR,
                    text=f"maillog: {exc!r}",
                )
            )

    def _see(self, event: Event) -> None:
        if event.side is not Side.SERVER or not event.session:
            return
        if isinstance(event, TcpConnect):
            self._connect(event)
            return
        session = self._sessions.get(event.session)
        if session is None:
            return
        if isinstance(event, SmtpLine):
            if event.direction is Direction.CLIENT_TO_SERVER:
                self._command(session, event)
            else:
                self._reply(session, event)
        elif isinstance(event, AuthResult) and event.ok:
            session.sasl = (event.mechanism, event.username)
        elif isinstance(event, Delivery):
            session.deliveries.append(event)
        elif isinstance(event, TcpClose):
            commands = tuple((v, *session.counts[v]) for v in _COUNTED if v in session.counts)
            self._log(session, SmtpdDisconnect(session.client, commands, session.program), event)
            del self._sessions[event.session]

    # ------------------------------------------------------------------ events

    def _connect(self, event: TcpConnect) -> None:
        address = event.src.rsplit(":", 1)[0]
        known = self.ctx.plan.by_address(address)
        client = Peer(known.name if known else "", address)
        program = self._program(event.host, event.dst)
        session = _Session(event.host, program, client, opened=event.time)
        self._sessions[event.session] = session
        self._log(session, SmtpdConnect(client, program), event)

    def _program(self, host: str, dst: str) -> str:
        """Which smtpd logs: ``postfix/submission/smtpd`` on a submission port, as master.cf
        names it with ``-o syslog_name``, else plain ``postfix/smtpd``."""
        try:
            port = int(dst.rsplit(":", 1)[1])
            ports = self.ctx.plan.host(host).ports
        except (IndexError, ValueError, KeyError):
            return "postfix/smtpd"
        if port == ports.get(Service.SUBMISSION):
            return "postfix/submission/smtpd"
        if port == ports.get(Service.SUBMISSIONS):
            return "postfix/submissions/smtpd"
        return "postfix/smtpd"

    def _command(self, session: _Session, event: SmtpLine) -> None:
        if event.is_payload:
            session.payload = event.data
            session.command = "END-OF-MESSAGE"
            return
        if session.command == "AUTH-CONTINUATION":
            return
        text = event.text
        verb = text.split(" ", 1)[0].upper()
        session.command = verb
        session.argument = ""
        if verb in ("HELO", "EHLO"):
            session.helo = text.partition(" ")[2].strip()
        elif verb in ("MAIL", "RCPT"):
            match = _ADDRESS.search(text)
            session.argument = match.group(1) if match else ""

    def _reply(self, session: _Session, event: SmtpLine) -> None:
        text = event.text
        code = text[:3]
        last = len(text) < 4 or text[3] != "-"
        if not last or not code.isdigit():
            return
        verb, ok = session.command, code[0] in "23"
        if verb == "AUTH" and code == "334":
            session.command = "AUTH-CONTINUATION"
            return
        if verb == "AUTH-CONTINUATION":
            verb = "AUTH"
        if verb == "DATA" and code == "354":
            return  # counted with the end of the data
        if verb == "END-OF-MESSAGE":
            self._count(session, "data", ok)
        elif verb.lower() in _COUNTED:
            self._count(session, verb.lower(), ok)
        if verb == "MAIL" and ok:
            session.sender, session.recipients = session.argument, []
        elif verb == "RCPT" and ok:
            session.recipients.append(session.argument)
            session.rcpt_at = session.rcpt_at or event.time
        if code[0] in "45" and verb in ("", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE"):
            self._reject(session, verb, text, event)
        queued = _QUEUED.match(text) if verb == "END-OF-MESSAGE" else None
        if queued:
            self._queued(session, queued.group(1), event)
        if verb in ("END-OF-MESSAGE", "RSET"):
            session.sender, session.recipients, session.payload = "", [], b""
            session.deliveries, session.rcpt_at = [], 0.0

    @staticmethod
    def _count(session: _Session, verb: str, ok: bool) -> None:
        counts = session.counts.setdefault(verb, [0, 0])
        counts[0] += int(ok)
        counts[1] += 1

    def _reject(self, session: _Session, verb: str, reply: str, event: Event) -> None:
        command = {"": "CONNECT", "END-OF-MESSAGE": "END-OF-MESSAGE"}.get(verb, verb)
        recipient = session.argument if verb == "RCPT" else ""
        sender = session.argument if verb == "MAIL" else session.sender
        record = SmtpdReject(
            command=command,
            client=session.client,
            reply=reply,
            sender=sender,
            recipient=recipient or (session.recipients[0] if session.recipients else ""),
            helo=session.helo,
            program=session.program,
        )
        self._log(session, record, event)

    def _queued(self, session: _Session, queue_id: str, event: Event) -> None:
        mechanism, user = session.sasl
        self._log(
            session,
            SmtpdClient(queue_id, session.client, mechanism, user, program=session.program),
            event,
        )
        found = _MESSAGE_ID.search(session.payload)
        if found:
            message_id = found.group(1).decode("utf-8", "replace")
            self._log(session, CleanupMessageId(queue_id, message_id), event)
        if not session.deliveries:
            return  # onward delivery: the sender MTA's queue runner logs the rest
        size = len(session.payload)
        nrcpt = len(session.recipients)
        self._log(session, QmgrQueued(queue_id, session.sender, size, nrcpt), event)
        arrival = session.rcpt_at or event.time
        for delivery in session.deliveries:
            delay = max(0.0, delivery.time - arrival)
            record = DeliveryRecord(
                queue_id=queue_id,
                recipient=delivery.recipient,
                relay="virtual",
                delay=delay,
                delays=(delay, 0.0, 0.0, 0.0),
                dsn="2.0.0",
                status="sent",
                reason="delivered to maildir"
                if delivery.folder == "INBOX"
                else f"delivered to maildir folder {delivery.folder}",
                program="postfix/virtual",
            )
            self._log(session, record, event)
        self._log(session, QmgrRemoved(queue_id), event)

    def _log(self, session: _Session, record: LogRecord, event: Event) -> None:
        self._publish_soon(
            to_event(record, host=session.host, session=event.session, time=event.time)
        )

    def _publish_soon(self, event: Event) -> None:
        try:
            asyncio.get_running_loop().call_soon(self.ctx.publish, event)
        except RuntimeError:  # no loop (a trace replayed by hand): publish at once
            self.ctx.publish(event)


__all__ = ["SmtpdLogger"]
