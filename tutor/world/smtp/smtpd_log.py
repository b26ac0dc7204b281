"""The SMTP servers' side of the mail log: one log per session, told the facts by smtpd.

Postfix's smtpd, cleanup, qmgr and virtual(8) each log a few lines per session. The traced
server (smtpd.py) tells this session log what happened as it happens — a connection, each
command it read, each reply it wrote, a login, a delivery, the queue id it gave, the close —
and the log writes the lines Postfix would have written:

* ``connect from NAME[ADDR]`` on a new connection;
* ``NOQUEUE: reject: RCPT from NAME[ADDR]: 550 5.1.1 ...; from=<> to=<> proto=ESMTP helo=<>``
  for every 4xx/5xx reply to MAIL, RCPT, DATA or the end of the data;
* on the 250 that takes a message: ``QID: client=`` (with the SASL login on a submission port),
  cleanup's ``message-id=``, and on a host that delivers into its own Maildirs, qmgr's
  ``from=<>, size=, nrcpt= (queue active)``, virtual's ``to=<> relay=virtual ... status=sent
  (delivered to maildir)`` per recipient and ``removed``;
* ``disconnect from NAME[ADDR] ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6``.

Each line is logged right after the event it follows, so the trace reads in Postfix's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tutor.trace import Delivery, NoteLevel, Stage
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
)
from tutor.world.maillog.records import (
    Delivery as DeliveryRecord,
)

if TYPE_CHECKING:
    from tutor.world.context import WorldContext

# Postfix prints the disconnect counters in the order of its command table (smtpd.c).
_COUNTED = ("helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "rset", "noop", "quit")
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r":\s*<([^>]*)>", re.IGNORECASE)

END_OF_MESSAGE = "END-OF-MESSAGE"
_AUTH_CONTINUATION = "AUTH-CONTINUATION"


@dataclass
class SmtpdSessionLog:
    """The mail log of one server session; smtpd calls one method per fact, in order."""

    ctx: WorldContext
    host: str
    program: str  # postfix/smtpd, or postfix/submission/smtpd on a submission port
    client: Peer
    session: str
    helo: str = ""
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    command: str = ""  # the verb whose reply comes next ("" = the greeting)
    argument: str = ""  # its address (MAIL/RCPT), for reject lines
    counts: dict[str, list[int]] = field(default_factory=dict)  # verb -> [ok, total]
    payload: bytes = b""
    sasl: tuple[str, str] = ("", "")
    deliveries: list[Delivery] = field(default_factory=list)
    queue_id: str = ""  # given to the message at the end of DATA, logged with the 250
    rcpt_at: float = 0.0

    # ------------------------------------------------------------------ facts from smtpd

    def connected(self, time: float) -> None:
        self._log(SmtpdConnect(self.client, self.program), time)

    def received(self, text: str, *, payload: bytes | None = None) -> None:
        """A command line (or, with ``payload``, the whole message after 354) was read."""
        if payload is not None:
            self.payload = payload
            self.command = END_OF_MESSAGE
            return
        if self.command == _AUTH_CONTINUATION:
            return
        verb = text.split(" ", 1)[0].upper()
        self.command = verb
        self.argument = ""
        if verb in ("HELO", "EHLO"):
            self.helo = text.partition(" ")[2].strip()
        elif verb in ("MAIL", "RCPT"):
            match = _ADDRESS.search(text)
            self.argument = match.group(1) if match else ""

    def authenticated(self, mechanism: str, username: str) -> None:
        self.sasl = (mechanism, username)

    def delivered(self, delivery: Delivery) -> None:
        """The host stored the message in a local mailbox (logged with the 250 that follows)."""
        self.deliveries.append(delivery)

    def queued(self, queue_id: str) -> None:
        """The message got ``queue_id``; the lines about it follow the 250 that says so."""
        self.queue_id = queue_id

    def replied(self, text: str, time: float) -> None:
        """smtpd wrote a reply line (each line of a multi-line reply is told)."""
        code = text[:3]
        last = len(text) < 4 or text[3] != "-"
        if not last or not code.isdigit():
            return
        verb, ok = self.command, code[0] in "23"
        if verb == "AUTH" and code == "334":
            self.command = _AUTH_CONTINUATION
            return
        if verb == _AUTH_CONTINUATION:
            verb = "AUTH"
        if verb == "DATA" and code == "354":
            return  # counted with the end of the data
        if verb == END_OF_MESSAGE:
            self._count("data", ok)
        elif verb.lower() in _COUNTED:
            self._count(verb.lower(), ok)
        if verb == "MAIL" and ok:
            self.sender, self.recipients = self.argument, []
        elif verb == "RCPT" and ok:
            self.recipients.append(self.argument)
            self.rcpt_at = self.rcpt_at or time
        if code[0] in "45" and verb in ("", "MAIL", "RCPT", "DATA", END_OF_MESSAGE):
            self._reject(verb, text, time)
        if verb == END_OF_MESSAGE and code[0] == "2" and self.queue_id:
            self._log_queued(time)
        if verb in (END_OF_MESSAGE, "RSET"):
            self.sender, self.recipients, self.payload = "", [], b""
            self.deliveries, self.rcpt_at, self.queue_id = [], 0.0, ""

    def closed(self, time: float) -> None:
        commands = tuple((v, *self.counts[v]) for v in _COUNTED if v in self.counts)
        self._log(SmtpdDisconnect(self.client, commands, self.program), time)

    # ------------------------------------------------------------------ lines

    def _count(self, verb: str, ok: bool) -> None:
        counts = self.counts.setdefault(verb, [0, 0])
        counts[0] += int(ok)
        counts[1] += 1

    def _reject(self, verb: str, reply: str, time: float) -> None:
        command = {"": "CONNECT"}.get(verb, verb)
        recipient = self.argument if verb == "RCPT" else ""
        sender = self.argument if verb == "MAIL" else self.sender
        record = SmtpdReject(
            command=command,
            client=self.client,
            reply=reply,
            sender=sender,
            recipient=recipient or (self.recipients[0] if self.recipients else ""),
            helo=self.helo,
            program=self.program,
        )
        self._log(record, time)

    def _log_queued(self, time: float) -> None:
        queue_id = self.queue_id
        mechanism, user = self.sasl
        self._log(SmtpdClient(queue_id, self.client, mechanism, user, program=self.program), time)
        found = _MESSAGE_ID.search(self.payload)
        if found:
            message_id = found.group(1).decode("utf-8", "replace")
            self._log(CleanupMessageId(queue_id, message_id), time)
        if not self.deliveries:
            return  # onward delivery: the sender MTA's queue runner logs the rest
        size = len(self.payload)
        self._log(QmgrQueued(queue_id, self.sender, size, len(self.recipients)), time)
        arrival = self.rcpt_at or time
        for delivery in self.deliveries:
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
            self._log(record, time)
        self._log(QmgrRemoved(queue_id), time)

    def _log(self, record: LogRecord, time: float) -> None:
        try:
            self.ctx.maillog.log(record, host=self.host, session=self.session, time=time)
        except Exception as exc:  # a log line must never break the server that logs it
            self.ctx.note(
                f"maillog: {exc!r}", host=self.host, stage=Stage.QUEUE, level=NoteLevel.ERROR
            )


__all__ = ["END_OF_MESSAGE", "SmtpdSessionLog"]
