"""The world's mail log: Postfix syslog lines from structured records, written as text and JSON.

Each record is a small dataclass whose ``text()`` is exactly what the Postfix program logs
after "postfix/NAME[PID]: " (smtpd, cleanup, qmgr, smtp, bounce; postgrey for the greylist).
The world turns a record into a ``LogLine`` event with ``to_event`` and publishes it; the
``MailLog`` writer subscribes to the trace and appends each LogLine to a syslog-style text file
and to a JSON Lines file (the line, its parts, and the fields parsed out of it, which is what
``smtp-tutor log`` and the summary read). Times are the event's time: the world clock, so a
five-day retry schedule logs five days of simulated time.

Formats follow Postfix 3.x (smtpd.c, cleanup_message.c, qmgr_message.c, log_adhoc.c,
bounce_notify_service.c): ``delay=``/``delays=`` use log_adhoc's format_tv rounding (two
significant digits for small values, at most two decimals, whole seconds from 100 s up).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from tutor.trace import Event, LogLine, Outcome, RecipientResult, Side, Stage, Trace

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


@dataclass(frozen=True)
class SmtpdConnect:
    client: Peer
    program: str = "postfix/smtpd"

    def text(self) -> str:
        return f"connect from {self.client}"


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


@dataclass(frozen=True)
class CleanupMessageId:
    queue_id: str
    message_id: str  # with or without the angle brackets
    program: str = "postfix/cleanup"

    def text(self) -> str:
        return f"{self.queue_id}: message-id=<{self.message_id.strip('<>')}>"


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

    def text(self) -> str:
        out = f"{self.queue_id}: to=<{self.recipient}>, "
        if self.orig_to and self.orig_to != self.recipient:
            out += f"orig_to=<{self.orig_to}>, "
        delays = "/".join(format_delay(d) for d in self.delays)
        return out + (
            f"relay={self.relay}, delay={format_delay(self.delay)}, delays={delays}, "
            f"dsn={self.dsn}, status={self.status} ({self.reason})"
        )


@dataclass(frozen=True)
class QmgrExpired:
    queue_id: str
    sender: str
    program: str = "postfix/qmgr"

    def text(self) -> str:
        return f"{self.queue_id}: from=<{self.sender}>, status=expired, returned to sender"


@dataclass(frozen=True)
class QmgrRemoved:
    queue_id: str
    program: str = "postfix/qmgr"

    def text(self) -> str:
        return f"{self.queue_id}: removed"


@dataclass(frozen=True)
class BounceNotice:
    """The bounce daemon queued a DSN: kind is "non-delivery", "delay" or "delivery status"."""

    queue_id: str
    dsn_queue_id: str
    kind: str = "non-delivery"
    program: str = "postfix/bounce"

    def text(self) -> str:
        return f"{self.queue_id}: sender {self.kind} notification: {self.dsn_queue_id}"


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


_STATUS_WORD = {
    Outcome.DELIVERED: "sent",
    Outcome.DEFERRED: "deferred",
    Outcome.REJECTED: "bounced",
    Outcome.BOUNCED: "bounced",
    Outcome.REFUSED: "bounced",
}


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
        host = re.sub(r":\d+$", "", relay)  # "said:" names the host without the port
        reason = f"host {host} said: {reply}"
        if command:
            reason += f" (in reply to {command} command)"
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
        text=record.text(),
    )


# ---------------------------------------------------------------------------- parsing

_QID = re.compile(r"^(?P<qid>[0-9A-Za-z]+|NOQUEUE): ")
_FIELD = re.compile(r"(?P<key>[a-z_]+)=(?P<value><[^>]*>|[^,\s]+)")
_CODE = re.compile(r"(?:^|said: |\(|: )(?P<code>[245]\d\d)[ -]")


def parse_fields(text: str) -> dict[str, Any]:
    """The fields of a Postfix log message, the way log analysers (pflogsumm) read them.

    Always has ``kind``: delivery, queued, expired, removed, reject, connect, disconnect,
    client, message-id, notification, greylist or other. Addresses lose their angle brackets,
    ``delay`` becomes a float, ``reply_code`` is the SMTP code in the reason, if any.
    """
    fields: dict[str, Any] = {}
    rest = text
    match = _QID.match(text)
    if match and not text.startswith(("connect from", "disconnect from")):
        fields["queue_id"] = match.group("qid")
        rest = text[match.end() :]
    if rest.startswith("connect from "):
        fields["kind"] = "connect"
        fields["client"] = rest.removeprefix("connect from ")
        return fields
    if rest.startswith("disconnect from "):
        fields["kind"] = "disconnect"
        client, _, counts = rest.removeprefix("disconnect from ").partition(" ")
        fields["client"] = client
        fields.update({m.group("key"): m.group("value") for m in _FIELD.finditer(counts)})
        return fields
    if rest.startswith("reject: "):
        fields["kind"] = "reject"
        head, _, tail = rest.partition("; from=")
        command, _, reply = head.removeprefix("reject: ").partition(": ")
        fields["command"] = command.split(" from ", 1)[0]
        fields["client"] = command.split(" from ", 1)[-1]
        fields["reply"] = reply
        code = _CODE.search(reply)
        if code:
            fields["reply_code"] = int(code.group("code"))
        for m in _FIELD.finditer("from=" + tail):
            fields[m.group("key")] = m.group("value").strip("<>")
        return fields
    status_reason = ""
    if ", status=" in rest or rest.startswith("status="):
        before, _, after = rest.partition("status=")
        status, _, reason = after.partition(" ")
        fields["status"] = status.rstrip(",")
        status_reason = reason.strip()
        if status_reason.startswith("(") and status_reason.endswith(")"):
            status_reason = status_reason[1:-1]
        rest = before
    for m in _FIELD.finditer(rest):
        key, value = m.group("key"), m.group("value")
        fields[key] = value[1:-1] if value.startswith("<") else value
    if status_reason:
        fields["reason"] = status_reason
        code = _CODE.search(status_reason)
        if code:
            fields["reply_code"] = int(code.group("code"))
    for key in ("delay", "size", "nrcpt"):
        if key in fields:
            try:
                fields[key] = float(fields[key]) if key == "delay" else int(fields[key])
            except ValueError:
                del fields[key]
    fields["kind"] = _kind(rest, fields)
    return fields


def _kind(rest: str, fields: dict[str, Any]) -> str:
    if "to" in fields and "status" in fields:
        return "delivery"
    if fields.get("status") == "expired":
        return "expired"
    if "nrcpt" in fields:
        return "queued"
    if rest.strip() == "removed":
        return "removed"
    if "notification:" in rest:
        return "notification"
    if "client" in fields:
        return "client"
    if "message-id" in rest:
        return "message-id"
    if fields.get("action") in ("greylist", "pass"):
        return "greylist"
    return "other"


@dataclass(frozen=True)
class ConnectFailure:
    """smtp(8)'s line for a connection that failed: ``connect to NAME[ADDR]:PORT: REASON``."""

    relay: str
    reason: str
    program: str = "postfix/smtp"

    def text(self) -> str:
        return f"connect to {self.relay}: {self.reason}"


@dataclass(frozen=True)
class DiscardedBounce:
    """What Postfix logs when a bounce cannot be delivered: no bounce of a bounce."""

    queue_id: str
    program: str = "postfix/bounce"

    def text(self) -> str:
        return f"{self.queue_id}: undeliverable notification discarded (never bounce a bounce)"


# ---------------------------------------------------------------------------- the writer


class MailLog:
    """Writes every LogLine of a trace to a syslog-style text file and a JSON Lines file.

    Lines are flushed as they come, so a crash keeps everything logged so far. Use
    ``attach(trace)`` (returns the unsubscribe function) or call ``write`` directly.
    """

    def __init__(self, path_text: Path | str, path_jsonl: Path | str) -> None:
        self.path_text = Path(path_text)
        self.path_jsonl = Path(path_jsonl)
        self.path_text.parent.mkdir(parents=True, exist_ok=True)
        self.path_jsonl.parent.mkdir(parents=True, exist_ok=True)
        self._text: IO[str] = self.path_text.open("a", encoding="utf-8")
        self._jsonl: IO[str] = self.path_jsonl.open("a", encoding="utf-8")

    def attach(self, trace: Trace) -> Callable[[], None]:
        return trace.subscribe(self)

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogLine):
            self.write(event)

    def write(self, event: LogLine) -> str:
        """Append one line to both files; returns the text line."""
        pid = pid_for(event.host, event.program)
        line = syslog_line(event.time, event.host, event.program, event.text, pid)
        record = {
            "time": event.time,
            "iso": datetime.fromtimestamp(event.time, UTC).isoformat(timespec="milliseconds"),
            "host": event.host,
            "program": event.program,
            "pid": pid,
            "text": event.text,
            "line": line,
            **parse_fields(event.text),
        }
        self._text.write(line + "\n")
        self._text.flush()
        self._jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._jsonl.flush()
        return line

    def close(self) -> None:
        self._text.close()
        self._jsonl.close()

    def __enter__(self) -> MailLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
