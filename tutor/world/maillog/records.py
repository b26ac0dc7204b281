"""The world's mail log: Postfix syslog lines from structured records, written as text and JSON.

Each record is a small dataclass whose ``text()`` is exactly what the Postfix program logs
after "postfix/NAME[PID]: " (smtpd, cleanup, qmgr, smtp, bounce; postgrey for the greylist).
Each record also says its parts (``fields()``) under the names log analysers use; the
``MailLog`` writer (writer.py) turns a record into a ``LogLine`` event carrying both, publishes
it and files it, so nothing ever parses the world's own log text back. Times are the event's
time: the world clock, so a five-day retry schedule logs five days of simulated time.

Formats follow Postfix 3.x (smtpd.c, cleanup_message.c, qmgr_message.c, log_adhoc.c,
bounce_notify_service.c): ``delay=``/``delays=`` use log_adhoc's format_tv rounding (two
significant digits for small values, at most two decimals, whole seconds from 100 s up).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tutor.trace import LogLine, Outcome, RecipientResult, Side, Stage

# ---------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Peer:
    """A host as Postfix names it in logs: ``name[address]`` ("unknown" without a PTR name)."""

    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name or 'unknown'}[{self.address}]"


def format_delay(seconds: float, sig_digits: int = 2, max_decimals: int = 2) -> str:
    """Postfix's format_tv: 0.12, 1.2, 12, 432022; trailing zeros dropped, "0" for nothing."""
    seconds = max(0.0, seconds)
    sec = int(seconds)
    usec = round((seconds - sec) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    million = 1_000_000
    ures = million // 10**max_decimals
    wid = 10**sig_digits
    if ures < million:
        if sec > 0:
            n = 1
            while sec >= n and n <= wid // 10:
                n *= 10
            ures = (million // wid) * n
        else:
            while usec >= wid * ures:
                ures *= 10
    if ures > 1:
        usec += ures // 2
        if usec >= million:
            sec += 1
            usec -= million
    out = str(sec)
    if usec >= ures:
        out += "."
        rem, n = usec, million // 10
        while rem >= ures and n > 0:
            out += "0123456789"[rem // n]
            rem %= n
            n //= 10
    return out


def postfix_printable(text: str) -> str:
    """What Postfix logs for text a client sent: each non-printable character becomes '?'
    (its printable() in the log code), so no log line can carry a terminal escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def syslog_timestamp(when: float) -> str:
    """``Nov 28 09:00:01`` (RFC 3164 style, day padded with a space; UTC on the world clock)."""
    moment = datetime.fromtimestamp(when, UTC)
    return f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S}"


def pid_for(host: str, program: str) -> int:
    """A stable, plausible process id per host and program, so replays log identical lines."""
    return 1000 + zlib.crc32(f"{host}/{program}".encode()) % 30000


def short_host(host: str) -> str:
    """Syslog shows the short host name (``mx1`` for mx1.example.net)."""
    return host.split(".", 1)[0] if host else "localhost"


def syslog_line(when: float, host: str, program: str, text: str, pid: int | None = None) -> str:
    pid = pid_for(host, program) if pid is None else pid
    return f"{syslog_timestamp(when)} {short_host(host)} {program}[{pid}]: {text}"


# ---------------------------------------------------------------------------- records


class LogRecord(Protocol):
    program: str

    def text(self) -> str: ...

    def fields(self) -> dict[str, Any]:
        """The record's parts under the names log analysers (pflogsumm) use, with ``kind``."""
        ...


@dataclass(frozen=True)
class SmtpdConnect:
    client: Peer
    program: str = "postfix/smtpd"

    def text(self) -> str:
        return f"connect from {self.client}"

    def fields(self) -> dict[str, Any]:
        return {"kind": "connect", "client": str(self.client)}


@dataclass(frozen=True)
class SmtpdClient:
    """The server gave the message a queue id (after the first accepted RCPT)."""

    queue_id: str
    client: Peer
    sasl_method: str = ""
    sasl_username: str = ""
    program: str = "postfix/smtpd"

    def text(self) -> str:
        out = f"{self.queue_id}: client={self.client}"
        if self.sasl_username:
            out += f", sasl_method={self.sasl_method}, sasl_username={self.sasl_username}"
        return out

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "client",
            "queue_id": self.queue_id,
            "client": str(self.client),
        }
        if self.sasl_username:
            out |= {"sasl_method": self.sasl_method, "sasl_username": self.sasl_username}
        return out


@dataclass(frozen=True)
class SmtpdReject:
    """A refused command: ``NOQUEUE: reject: RCPT from ...: 451 4.7.1 ...; from=<> to=<> ...``."""

    command: str  # RCPT, MAIL, DATA, END-OF-MESSAGE, CONNECT
    client: Peer
    reply: str
    sender: str = ""
    recipient: str = ""
    helo: str = ""
    proto: str = "ESMTP"
    queue_id: str = "NOQUEUE"
    program: str = "postfix/smtpd"

    def text(self) -> str:
        out = f"{self.queue_id}: reject: {self.command} from {self.client}: {self.reply};"
        out += f" from=<{self.sender}>"
        if self.recipient:
            out += f" to=<{self.recipient}>"
        out += f" proto={self.proto}"
        if self.helo:
            out += f" helo=<{self.helo}>"
        return out

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "reject",
            "queue_id": self.queue_id,
            "command": self.command,
            "client": str(self.client),
            "reply": self.reply,
            "from": self.sender,
            "proto": self.proto,
        }
        if self.reply[:3].isdigit():
            out["reply_code"] = int(self.reply[:3])
        if self.recipient:
            out["to"] = self.recipient
        if self.helo:
            out["helo"] = self.helo
        return out


@dataclass(frozen=True)
class SmtpdDisconnect:
    """``disconnect from X ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4`` (ok/total if any failed)."""

    client: Peer
    commands: tuple[tuple[str, int, int], ...] = ()  # (command, accepted, total)
    program: str = "postfix/smtpd"

    def text(self) -> str:
        parts = [f"disconnect from {self.client}"]
        ok_sum = total_sum = 0
        for name, ok, total in self.commands:
            parts.append(f"{name}={ok}" if ok == total else f"{name}={ok}/{total}")
            ok_sum += ok
            total_sum += total
        if self.commands:
            parts.append(
                f"commands={ok_sum}" if ok_sum == total_sum else f"commands={ok_sum}/{total_sum}"
            )
        return " ".join(parts)

    def fields(self) -> dict[str, Any]:
        counts = {name: ok if ok == total else f"{ok}/{total}" for name, ok, total in self.commands}
        ok_sum = sum(ok for _, ok, _ in self.commands)
        total_sum = sum(total for _, _, total in self.commands)
        if self.commands:
            counts["commands"] = ok_sum if ok_sum == total_sum else f"{ok_sum}/{total_sum}"
        return {"kind": "disconnect", "client": str(self.client), **counts}


@dataclass(frozen=True)
class CleanupMessageId:
    queue_id: str
    message_id: str  # with or without the angle brackets
    program: str = "postfix/cleanup"

    def text(self) -> str:
        return f"{self.queue_id}: message-id=<{self.message_id.strip('<>')}>"

    def fields(self) -> dict[str, Any]:
        return {
            "kind": "message-id",
            "queue_id": self.queue_id,
            "message_id": self.message_id.strip("<>"),
        }


@dataclass(frozen=True)
class QmgrQueued:
    """The queue manager took the message into the active queue."""

    queue_id: str
    sender: str
    size: int
    nrcpt: int
    program: str = "postfix/qmgr"

    def text(self) -> str:
        return (
            f"{self.queue_id}: from=<{self.sender}>, size={self.size}, "
            f"nrcpt={self.nrcpt} (queue active)"
        )

    def fields(self) -> dict[str, Any]:
        return {
            "kind": "queued",
            "queue_id": self.queue_id,
            "from": self.sender,
            "size": self.size,
            "nrcpt": self.nrcpt,
        }


@dataclass(frozen=True)
class Delivery:
    """One recipient's delivery attempt as smtp(8) logs it (status sent, deferred or bounced)."""

    queue_id: str
    recipient: str
    relay: str  # "mx1.example.net[127.0.0.11]:25" or "none"
    delay: float  # since arrival
    delays: tuple[float, float, float, float]  # before qmgr / in qmgr / conn setup / transmission
    dsn: str
    status: str  # sent | deferred | bounced
    reason: str  # "250 2.0.0 Ok: queued as X", "host X said: 550 ... (in reply to RCPT TO command)"
    orig_to: str = ""
    program: str = "postfix/smtp"
    reply_code: int | None = None  # the server's reply code in the reason, if a server replied

    def text(self) -> str:
        out = f"{self.queue_id}: to=<{self.recipient}>, "
        if self.orig_to and self.orig_to != self.recipient:
            out += f"orig_to=<{self.orig_to}>, "
        delays = "/".join(format_delay(d) for d in self.delays)
        return out + (
            f"relay={self.relay}, delay={format_delay(self.delay)}, delays={delays}, "
            f"dsn={self.dsn}, status={self.status} ({self.reason})"
        )

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "delivery", "queue_id": self.queue_id, "to": self.recipient}
        if self.orig_to and self.orig_to != self.recipient:
            out["orig_to"] = self.orig_to
        out |= {
            "relay": self.relay,
            "delay": float(format_delay(self.delay)),
            "delays": "/".join(format_delay(d) for d in self.delays),
            "dsn": self.dsn,
            "status": self.status,
            "reason": self.reason,
        }
        if self.reply_code is not None:
            out["reply_code"] = self.reply_code
        return out


@dataclass(frozen=True)
class QmgrExpired:
    queue_id: str
    sender: str
    program: str = "postfix/qmgr"

    def text(self) -> str:
        return f"{self.queue_id}: from=<{self.sender}>, status=expired, returned to sender"

    def fields(self) -> dict[str, Any]:
        return {
            "kind": "expired",
            "queue_id": self.queue_id,
            "from": self.sender,
            "status": "expired",
        }


@dataclass(frozen=True)
class QmgrRemoved:
    queue_id: str
    program: str = "postfix/qmgr"

    def text(self) -> str:
        return f"{self.queue_id}: removed"

    def fields(self) -> dict[str, Any]:
        return {"kind": "removed", "queue_id": self.queue_id}


@dataclass(frozen=True)
class BounceNotice:
    """The bounce daemon queued a DSN: kind is "non-delivery", "delay" or "delivery status"."""

    queue_id: str
    dsn_queue_id: str
    kind: str = "non-delivery"
    program: str = "postfix/bounce"

    def text(self) -> str:
        return f"{self.queue_id}: sender {self.kind} notification: {self.dsn_queue_id}"

    def fields(self) -> dict[str, Any]:
        return {
            "kind": "notification",
            "queue_id": self.queue_id,
            "dsn_queue_id": self.dsn_queue_id,
            "notification": self.kind,
        }


@dataclass(frozen=True)
class PostgreyAction:
    """postgrey's own log line: ``action=greylist, reason=new, client_name=..., ...``."""

    action: str  # greylist | pass
    reason: str  # new | early-retry (Ns missing) | triplet found | client AWL
    client: Peer
    sender: str
    recipient: str
    delay: int | None = None
    queue_id: str = ""
    program: str = "postgrey"

    def text(self) -> str:
        info = [f"action={self.action}", f"reason={self.reason}"]
        if self.delay is not None:
            info.append(f"delay={self.delay}")
        info += [
            f"client_name={self.client.name or 'unknown'}",
            f"client_address={self.client.address}",
            f"sender={self.sender}",
            f"recipient={self.recipient}",
        ]
        prefix = f"{self.queue_id}: " if self.queue_id else ""
        return prefix + ", ".join(info)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "greylist", "action": self.action, "reason": self.reason}
        if self.delay is not None:
            out["delay"] = self.delay
        out |= {
            "client_name": self.client.name or "unknown",
            "client_address": self.client.address,
            "sender": self.sender,
            "recipient": self.recipient,
        }
        if self.queue_id:
            out["queue_id"] = self.queue_id
        return out


_STATUS_WORD = {
    Outcome.DELIVERED: "sent",
    Outcome.DEFERRED: "deferred",
    Outcome.REJECTED: "bounced",
    Outcome.BOUNCED: "bounced",
    Outcome.REFUSED: "bounced",
}


def server_said(relay: str, reply: str, command: str) -> str:
    """Postfix's smtp(8) words for a server's refusal (smtp_proto.c): ``host NAME[ADDR] said:
    REPLY (in reply to COMMAND command)``, or ``host NAME[ADDR] refused to talk to me: REPLY``
    for a greeting (no command); the host is named without the port. Not a reply (a timeout,
    a TLS failure): the text as it is, without its DSN code."""
    host = re.sub(r":\d+$", "", relay)
    if not re.match(r"^[245]\d\d\b", reply):
        return re.sub(r"^[245]\.\d{1,3}\.\d{1,3} ", "", reply)
    if not command:
        return f"host {host} refused to talk to me: {reply}"
    return f"host {host} said: {reply} (in reply to {command} command)"


def delivery_from_result(
    result: RecipientResult,
    *,
    arrival: float,
    delays: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    command: str = "",
    dsn: str = "",
) -> Delivery:
    """The smtp(8) log record for one RecipientResult event of the sender MTA.

    A reply from a server is logged as Postfix does: ``host NAME[ADDR] said: REPLY (in reply
    to COMMAND command)`` for failures, the bare reply for a 250; anything else (a refused
    connection, a DNS failure) is logged as it is.
    """
    reply = result.reply
    relay = result.relay or "none"
    is_reply = bool(re.match(r"^[245]\d\d\b", reply))
    if is_reply and result.outcome != Outcome.DELIVERED and relay != "none":
        reason = server_said(relay, reply, command)
    else:
        reason = reply
    if not dsn:
        code = re.match(r"^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b", reply)
        if code:
            dsn = code.group(1)
        elif is_reply:
            dsn = f"{reply[0]}.0.0"
        else:
            dsn = "2.0.0" if result.outcome == Outcome.DELIVERED else "4.4.1"
    return Delivery(
        queue_id=result.queue_id,
        recipient=result.recipient,
        relay=relay,
        delay=max(0.0, result.time - arrival),
        delays=delays,
        dsn=dsn,
        status=_STATUS_WORD[result.outcome],
        reason=reason,
        reply_code=int(reply[:3]) if is_reply else None,
    )


# The stage of the mail's life a daemon's log line belongs to, by the daemon's own name: the
# program may carry a service prefix (postfix/submission/smtpd is still smtpd).
_STAGES = {
    "smtpd": Stage.CONNECT,
    "master": Stage.CONNECT,
    "cleanup": Stage.DATA,
    "qmgr": Stage.QUEUE,
    "smtp": Stage.DELIVERY,
    "lmtp": Stage.DELIVERY,
    "virtual": Stage.DELIVERY,
    "local": Stage.DELIVERY,
    "bounce": Stage.BOUNCE,
    "postgrey": Stage.FILTERING,
}


def to_event(record: LogRecord, *, host: str, session: str = "", time: float = 0.0) -> LogLine:
    """The LogLine event for a record, ready for ``ctx.publish`` (time 0 = stamp on publish)."""
    daemon = record.program.rsplit("/", 1)[-1]
    stage = _STAGES.get(daemon, Stage.QUEUE)
    if isinstance(record, SmtpdReject):
        stage = Stage.ENVELOPE
    return LogLine(
        host=host,
        session=session,
        time=time,
        stage=stage,
        side=Side.WORLD,
        explain="log." + daemon,
        program=record.program,
        text=postfix_printable(record.text()),
        fields={
            k: postfix_printable(v) if isinstance(v, str) else v for k, v in record.fields().items()
        },
    )


@dataclass(frozen=True)
class ConnectFailure:
    """smtp(8)'s line for a connection that failed: ``connect to NAME[ADDR]:PORT: REASON``."""

    relay: str
    reason: str
    program: str = "postfix/smtp"

    def text(self) -> str:
        return f"connect to {self.relay}: {self.reason}"

    def fields(self) -> dict[str, Any]:
        return {"kind": "connect-failure", "relay": self.relay, "reason": self.reason}


@dataclass(frozen=True)
class SkippedServer:
    """smtp(8)'s line when a server that is not the last one fails temporarily and delivery
    moves on to the next (smtp_trouble.c): ``ID: host NAME[ADDR] said: REPLY (in reply to
    RCPT TO command)``, one per recipient a RCPT reply left open."""

    queue_id: str
    reason: str
    program: str = "postfix/smtp"

    def text(self) -> str:
        return f"{self.queue_id}: {self.reason}"

    def fields(self) -> dict[str, Any]:
        return {"kind": "skipped-server", "queue_id": self.queue_id, "reason": self.reason}


@dataclass(frozen=True)
class DiscardedBounce:
    """What Postfix logs when a bounce cannot be delivered: no bounce of a bounce."""

    queue_id: str
    program: str = "postfix/bounce"

    def text(self) -> str:
        return f"{self.queue_id}: undeliverable notification discarded (never bounce a bounce)"

    def fields(self) -> dict[str, Any]:
        return {"kind": "discarded", "queue_id": self.queue_id}


@dataclass(frozen=True)
class MasterStarted:
    """master(8) starting the mail system: a host whose mail service comes (back) up."""

    version: str = "3.7.11"
    program: str = "postfix/master"

    def text(self) -> str:
        return f"daemon started -- version {self.version}, configuration /etc/postfix"

    def fields(self) -> dict[str, Any]:
        return {"kind": "started", "version": self.version}
