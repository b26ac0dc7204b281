"""The explanation key of one SMTP line: which command or reply it is, named in one place.

The world sets the key where it publishes a line (the sender's client, the receivers' smtpd),
so a view reads what a line is from ``SmtpLine.explain`` instead of taking the text apart
again. Readers of traces recorded before lines carried a key call the same function.

Keys name entries of tutor/data/explanations.toml:
    command.<verb>       a command the tutor knows ("command.ehlo", "command.mail")
    reply.<code>         a reply line, continuation lines included ("reply.250")
    smtp.payload         the message content after 354, up to CRLF.CRLF
    smtp.auth_response   a client line answering a 334 challenge during AUTH (base64)
    smtp.unknown_command a client line that is no SMTP command
    smtp.not_a_reply     a server line that does not start with a reply code
"""

from __future__ import annotations

import re

from tutor.trace import Direction, Stage

# The commands of RFC 5321 and of the extensions the tutor speaks; each has a [command.X] entry.
COMMANDS = frozenset(
    {
        "EHLO",
        "HELO",
        "MAIL",
        "RCPT",
        "DATA",
        "BDAT",
        "RSET",
        "NOOP",
        "QUIT",
        "VRFY",
        "EXPN",
        "HELP",
        "STARTTLS",
        "AUTH",
    }
)

PAYLOAD = "smtp.payload"
AUTH_RESPONSE = "smtp.auth_response"
UNKNOWN_COMMAND = "smtp.unknown_command"
NOT_A_REPLY = "smtp.not_a_reply"

_REPLY_CODE = re.compile(rb"([1-5][0-9][0-9])(?:[ \-\r\n]|$)")


def smtp_line_key(
    direction: Direction,
    data: bytes,
    *,
    stage: Stage = Stage.SCENARIO,
    payload: bool = False,
    continuation: bool | None = None,
) -> str:
    """The explanation key of the SMTP line ``data`` that travelled in ``direction``.

    ``continuation`` says whether a client line answers a 334 challenge. The receiver knows
    (it is reading the AUTH exchange); left as None it is inferred from ``stage``: a client
    line in the AUTH stage that is not itself an AUTH command is the answer to a challenge,
    which is exact for the tutor's own client and for lines recorded without a key.
    """
    if payload:
        return PAYLOAD
    if direction is Direction.SERVER_TO_CLIENT:
        code = _REPLY_CODE.match(data)
        return f"reply.{code.group(1).decode()}" if code else NOT_A_REPLY
    verb = _verb(data)
    if continuation is None:
        continuation = stage is Stage.AUTH and verb != "AUTH"
    if continuation:
        return AUTH_RESPONSE
    return f"command.{verb.lower()}" if verb in COMMANDS else UNKNOWN_COMMAND


def _verb(data: bytes) -> str:
    """The command word of a client line, upper-cased ("mail from:<a>" -> "MAIL")."""
    word = data.strip().split(b" ", 1)[0].split(b":", 1)[0]
    return word.decode("ascii", "replace").upper()
