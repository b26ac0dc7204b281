"""Build the scenario's message with the email package: the bytes the mail program submits."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tutor.scenario import MessageSpec
    from tutor.world.context import WorldContext

# Filler for size lessons: 76 characters, well inside RFC 5322's 78-character line advice.
_PAD_LINE = "This line only makes the message bigger, for the lesson on size limits. ..."


def build_message(ctx: WorldContext, spec: MessageSpec) -> bytes:
    """The RFC 5322 message a mail program would write for ``spec``, with CRLF line endings.

    Date comes from the world clock (so a simulated run has a simulated date) and the
    Message-ID is derived from the message and that date, so two runs of one scenario on one
    clock produce the same bytes.
    """
    now = ctx.clock.now()
    body = spec.body
    if spec.pad_to:
        body = _padded_body(spec, now, body, spec.pad_to)
    message = _assemble(spec, now, body)
    return message.as_bytes(policy=SMTP)


def _assemble(spec: MessageSpec, now: float, body: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = spec.header_from or spec.sender
    message["To"] = ", ".join(spec.recipients)
    message["Subject"] = spec.subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    message["Message-ID"] = _message_id(spec, now)
    message["MIME-Version"] = "1.0"
    message.set_content(body)
    return message


def _message_id(spec: MessageSpec, now: float) -> str:
    """<YYYYMMDDhhmmss.HASH@sender-domain>: unique per message, stable per run (RFC 5322 §3.6.4)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    seed = "\0".join([spec.sender, *spec.recipients, spec.subject, spec.body, repr(now)])
    digest = hashlib.sha256(seed.encode()).hexdigest()[:16].upper()
    domain = spec.sender.rpartition("@")[2] or "localhost"
    return f"<{stamp}.{digest}@{domain}>"


def _padded_body(spec: MessageSpec, now: float, body: str, target: int) -> str:
    """``body`` grown with filler lines until the whole message is at least ``target`` bytes."""
    size = len(_assemble(spec, now, body).as_bytes(policy=SMTP))
    if size >= target:
        return body
    if not body.endswith("\n"):
        body += "\n"
    line_bytes = len(_PAD_LINE) + 2  # with CRLF
    lines = -(-(target - size) // line_bytes)  # ceiling division
    return body + (_PAD_LINE + "\n") * lines
