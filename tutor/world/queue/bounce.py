"""Delivery status notifications (RFC 3464) as Postfix's bounce daemon writes them.

A DSN is a ``multipart/report; report-type=delivery-status`` message with three parts, built
with the stdlib email package (never by string concatenation):

1. ``text/plain`` "Notification": Postfix's default bounce or delay template, then one
   paragraph per recipient, e.g. ``<bob@example.net>: host mx1.example.net[127.0.0.11] said:
   550 5.1.1 ... (in reply to RCPT TO command)``.
2. ``message/delivery-status`` "Delivery report": per-message fields (Reporting-MTA,
   X-Postfix-Queue-ID, X-Postfix-Sender, Arrival-Date), then per recipient Final-Recipient,
   Original-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date and, for
   a delay warning, Will-Retry-Until. (Postfix itself has Last-Attempt-Date under ``#if 0``;
   RFC 3464 section 2.3.7 allows it and the lesson wants it, so it is written.)
3. The returned message: Postfix's defaults are the whole message (``message/rfc822``,
   "Undelivered Message") for a non-delivery notice and only its headers
   (``text/rfc822-headers``, "Undelivered Message Headers") for a delay warning
   (bounce_notify_service.c: ``dsn_ret ? dsn_ret : DSN_RET_FULL``; bounce_warn_service.c:
   ``DSN_RET_HDRS``). Either can be asked for with ``ret``.

The notice is sent with the null reverse-path (``MAIL FROM:<>``), and a message whose own
sender is null is never bounced (``is_bounce``): that is what stops bounce loops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.policy import default as default_policy
from email.utils import format_datetime
from enum import StrEnum

from tutor.world.queue.retry import RetryPolicy
from tutor.world.queue.spool import QueuedMessage, RecipientState

DAY = 86400.0

# Header fields are not folded (RFC 5322 allows 998 octets). The email package folds by moving a
# whole value onto a continuation line, and its own parser then reads "Diagnostic-Code:" back
# with a leading space; Postfix wraps at 79 columns itself, which the package cannot reproduce.
DSN_POLICY = default_policy.clone(max_line_length=998)


class DsnAction(StrEnum):
    """RFC 3464 section 2.3.3 Action values this MTA produces."""

    FAILED = "failed"
    DELAYED = "delayed"


class ReturnContent(StrEnum):
    """What of the original goes back (the RET parameter of RFC 3461)."""

    FULL = "full"  # message/rfc822
    HEADERS = "headers"  # text/rfc822-headers


@dataclass(frozen=True)
class DsnRecipient:
    """What the report says about one recipient.

    ``diagnostic`` is the remote server's reply ("550 5.1.1 <bob@...>: ...") or, when no server
    answered, the local reason ("connect to ...: Connection refused"). ``command`` is the SMTP
    command the reply answered ("RCPT TO", "end of DATA"), used in the human-readable text.
    """

    address: str
    action: DsnAction
    status: str  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str = ""
    remote_mta: str = ""  # host name of the server that answered, e.g. "mx1.example.net"
    remote_address: str = ""  # its address, for "host NAME[ADDR] said:"
    command: str = ""
    original: str = ""  # Original-Recipient, when known
    last_attempt: float | None = None


@dataclass(frozen=True)
class DsnReport:
    """Everything a DSN says about one queued message."""

    reporting_mta: str  # this host's name (Reporting-MTA, From: MAILER-DAEMON@...)
    queue_id: str
    sender: str  # the original envelope sender: the DSN goes to this address
    arrival: float
    recipients: tuple[DsnRecipient, ...]
    original: bytes  # the original message, headers and body
    will_retry_until: float | None = None  # for delay warnings
    delay_warning_time: float = 0.0  # for the delay template's "for more than N hour(s)"
    maximal_queue_lifetime: float = 5 * DAY  # for the delay template's "until N day(s) old"

    @property
    def action(self) -> DsnAction:
        if any(r.action == DsnAction.FAILED for r in self.recipients):
            return DsnAction.FAILED
        return DsnAction.DELAYED


def is_bounce(sender: str) -> bool:
    """True for the null reverse-path: such a message must never cause another DSN."""
    return sender.strip().strip("<>").strip() == ""


_ENHANCED = re.compile(r"^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b")


def dsn_status(reply: str, temporary: bool | None = None) -> str:
    """The RFC 3463 status for a reply: its enhanced code, or one made from its basic code.

    Without any SMTP reply (a refused connection, a timeout) it is 4.4.1 / 4.4.2 as Postfix
    uses for "no answer from host" / "lost connection"; ``temporary`` picks 4 or 5 when the
    text says nothing.
    """
    match = _ENHANCED.match(reply)
    if match:
        return match.group(1)
    if re.match(r"^[245]\d\d\b", reply):
        return f"{reply[0]}.0.0"
    lowered = reply.lower()
    if "lost connection" in lowered or "timed out" in lowered:
        return "4.4.2"
    if temporary is False:
        return "5.4.4"
    return "4.4.1"


def is_smtp_reply(text: str) -> bool:
    return bool(re.match(r"^[245]\d\d\b", text))


def human_reason(rcpt: DsnRecipient) -> str:
    """Postfix's per-recipient sentence ("host X[A] said: ... (in reply to RCPT TO command)")."""
    if rcpt.remote_mta and is_smtp_reply(rcpt.diagnostic):
        host = (
            f"{rcpt.remote_mta}[{rcpt.remote_address}]" if rcpt.remote_address else rcpt.remote_mta
        )
        tail = f" (in reply to {rcpt.command} command)" if rcpt.command else ""
        return f"host {host} said: {rcpt.diagnostic}{tail}"
    return rcpt.diagnostic or "delivery failed"


_FAILURE_TEXT = """\
This is the mail system at host {host}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system
"""

_DELAY_TEXT = """\
This is the mail system at host {host}.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than {hours} hour(s).
It will be retried until it is {days} day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system
"""

SUBJECTS = {
    DsnAction.FAILED: "Undelivered Mail Returned to Sender",
    DsnAction.DELAYED: "Delayed Mail (still being retried)",
}


def _date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


def _wrap(text: str, width: int = 79, indent: int = 4) -> str:
    """Postfix's line_wrap: break at spaces, continuation lines indented by four."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        limit = width if not lines else width - indent
        if current and len(current) + 1 + len(word) > limit:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\n".join([lines[0], *(" " * indent + line for line in lines[1:])])


def _field_block(fields: Iterable[tuple[str, str]]) -> Message:
    block = Message()
    for name, value in fields:
        block[name] = value
    return block


def build_dsn(
    report: DsnReport,
    now: float,
    *,
    ret: ReturnContent | None = None,
    dsn_queue_id: str = "",
) -> EmailMessage:
    """The DSN for ``report`` as an EmailMessage, dated ``now`` (the world clock)."""
    action = report.action
    host = report.reporting_mta
    msg = EmailMessage(policy=DSN_POLICY)
    if dsn_queue_id:
        # post_mail.c, which the bounce daemon writes through: the notice's own trace line.
        msg["Received"] = f"by {host} (Postfix) id {dsn_queue_id}; {_date(now)}"
    msg["From"] = Address("Mail Delivery System", "MAILER-DAEMON", host)
    msg["To"] = report.sender
    msg["Subject"] = SUBJECTS[action]
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834; Postfix writes it on every notice
    msg["Date"] = _date(now)
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    msg["Message-ID"] = f"<{stamp}.{dsn_queue_id or report.queue_id}@{host}>"
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = "multipart/report; report-type=delivery-status"
    msg.preamble = "This is a MIME-encapsulated message.\n"

    # 1. the human-readable notification
    if action == DsnAction.FAILED:
        text = _FAILURE_TEXT.format(host=host)
    else:
        text = _DELAY_TEXT.format(
            host=host,
            hours=max(1, round(report.delay_warning_time / 3600)),
            days=max(1, round(report.maximal_queue_lifetime / DAY)),
        )
    for rcpt in report.recipients:
        who = f"<{rcpt.address}>"
        if rcpt.original and rcpt.original.lower() != rcpt.address.lower():
            who += f" (expanded from <{rcpt.original}>)"
        text += "\n" + _wrap(f"{who}: {human_reason(rcpt)}") + "\n"
    notification = MIMEPart(policy=DSN_POLICY)
    notification.set_content(text, charset="us-ascii" if text.isascii() else "utf-8")
    notification["Content-Description"] = "Notification"

    # 2. the machine-readable report
    per_message = [
        ("Reporting-MTA", f"dns; {host}"),
        ("X-Postfix-Queue-ID", report.queue_id),
    ]
    if report.sender:
        per_message.append(("X-Postfix-Sender", f"rfc822; {report.sender}"))
    per_message.append(("Arrival-Date", _date(report.arrival)))
    blocks = [_field_block(per_message)]
    for rcpt in report.recipients:
        fields = [("Final-Recipient", f"rfc822; {rcpt.address}")]
        if rcpt.original:
            fields.append(("Original-Recipient", f"rfc822; {rcpt.original}"))
        fields += [("Action", str(rcpt.action)), ("Status", rcpt.status)]
        if rcpt.remote_mta:
            fields.append(("Remote-MTA", f"dns; {rcpt.remote_mta}"))
        if is_smtp_reply(rcpt.diagnostic):
            fields.append(("Diagnostic-Code", f"smtp; {rcpt.diagnostic}"))
        else:
            fields.append(("Diagnostic-Code", f"X-Postfix; {rcpt.diagnostic or 'unknown'}"))
        if rcpt.last_attempt is not None:
            fields.append(("Last-Attempt-Date", _date(rcpt.last_attempt)))
        if rcpt.action == DsnAction.DELAYED and report.will_retry_until is not None:
            fields.append(("Will-Retry-Until", _date(report.will_retry_until)))
        blocks.append(_field_block(fields))
    status_part = MIMEPart(policy=DSN_POLICY)
    status_part["Content-Description"] = "Delivery report"
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload(blocks)

    # 3. the original message, or its headers
    if ret is None:
        ret = ReturnContent.FULL if action == DsnAction.FAILED else ReturnContent.HEADERS
    returned = b"Return-Path: <" + report.sender.encode() + b">\r\n" + report.original
    original_part = MIMEPart(policy=DSN_POLICY)
    if ret == ReturnContent.FULL:
        original_part.set_content(message_from_bytes(returned, policy=DSN_POLICY))
        original_part["Content-Description"] = "Undelivered Message"
    else:
        head = re.split(rb"\r?\n\r?\n", returned, maxsplit=1)[0]
        head_text = head.decode("utf-8", "replace").replace("\r\n", "\n") + "\n"
        original_part.set_content(head_text, subtype="rfc822-headers")
        original_part["Content-Description"] = "Undelivered Message Headers"

    for part in (notification, status_part, original_part):
        msg.attach(part)
    return msg


def report_for(
    message: QueuedMessage,
    recipients: Iterable[RecipientState],
    action: DsnAction,
    reporting_mta: str,
    policy: RetryPolicy | None = None,
) -> DsnReport:
    """The report for some recipients of a queued message, from the queue's per-recipient state
    (reply, relay, enhanced code, last attempt) and the retry policy's lifetimes."""
    policy = policy or RetryPolicy()
    rcpts = []
    for rcpt in recipients:
        name, address = _split_relay(rcpt.relay)
        status = rcpt.dsn or dsn_status(rcpt.reply, temporary=action == DsnAction.DELAYED)
        rcpts.append(
            DsnRecipient(
                address=rcpt.address,
                action=action,
                status=status,
                diagnostic=rcpt.reply,
                # A server's own reply names it (Remote-MTA); what the sender decided itself
                # (a refused connection, a size over the advertised limit) names none.
                remote_mta=name if is_smtp_reply(rcpt.reply) else "",
                remote_address=address if is_smtp_reply(rcpt.reply) else "",
                command=_command_for(rcpt.reply),
                original=rcpt.original,
                last_attempt=rcpt.last_attempt,
            )
        )
    return DsnReport(
        reporting_mta=reporting_mta,
        queue_id=message.queue_id,
        sender=message.sender,
        arrival=message.arrival,
        recipients=tuple(rcpts),
        original=message.content,
        will_retry_until=policy.expires_at(message.arrival, message.is_bounce),
        delay_warning_time=policy.delay_warning_time,
        maximal_queue_lifetime=policy.maximal_queue_lifetime,
    )


def _split_relay(relay: str) -> tuple[str, str]:
    """'mx1.example.net[127.0.0.11]:2525' -> ('mx1.example.net', '127.0.0.11')."""
    match = re.match(r"^([^\[\]]+)\[([^\]]*)\]", relay)
    if match:
        return match.group(1), match.group(2)
    return ("", "") if relay in ("", "none") else (relay, "")


def _command_for(reply: str) -> str:
    """Best guess of the command a reply answered, when the MTA did not say."""
    if not is_smtp_reply(reply):
        return ""
    if re.search(r"recipient|user unknown|mailbox|greylist", reply, re.IGNORECASE):
        return "RCPT TO"
    if reply.startswith(("421", "554")) and "transaction" not in reply.lower():
        return ""
    return "end of DATA"
