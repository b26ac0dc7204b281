"""Explain keys: every SMTP line says what it is, and every key the world emits is explained."""

from __future__ import annotations

import pytest

from tutor.smtp_keys import COMMANDS, smtp_line_key
from tutor.trace import Direction, Side, SmtpLine, Stage

C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT


@pytest.mark.parametrize(
    ("direction", "data", "key"),
    [
        (C2S, b"EHLO laptop.example.org\r\n", "command.ehlo"),
        (C2S, b"mail from:<alice@example.org> SIZE=312\r\n", "command.mail"),
        (C2S, b"RCPT TO:<bob@example.net>\r\n", "command.rcpt"),
        (C2S, b"STARTTLS\r\n", "command.starttls"),
        (C2S, b"HAVE A NICE DAY\r\n", "smtp.unknown_command"),
        (C2S, b"\r\n", "smtp.unknown_command"),
        (S2C, b"250-SIZE 10240000\r\n", "reply.250"),
        (S2C, b"550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n", "reply.550"),
        (S2C, b"354\r\n", "reply.354"),
        (S2C, b"hello there\r\n", "smtp.not_a_reply"),
        (S2C, b"2500 not a code\r\n", "smtp.not_a_reply"),
    ],
)
def test_a_line_is_keyed_by_its_command_or_reply_code(
    direction: Direction, data: bytes, key: str
) -> None:
    assert smtp_line_key(direction, data) == key


def test_the_message_content_and_an_auth_answer_have_keys_of_their_own() -> None:
    assert smtp_line_key(C2S, b"Subject: hi\r\n\r\nbody\r\n.\r\n", payload=True) == "smtp.payload"
    # The sender's client answers a 334 in the AUTH stage: inferred from the stage ...
    assert smtp_line_key(C2S, b"YWxpY2U=\r\n", stage=Stage.AUTH) == "smtp.auth_response"
    assert smtp_line_key(C2S, b"AUTH LOGIN\r\n", stage=Stage.AUTH) == "command.auth"
    # ... the receiver knows it is reading an answer, even one that looks like a command.
    assert smtp_line_key(C2S, b"QUIT\r\n", continuation=True) == "smtp.auth_response"
    assert smtp_line_key(C2S, b"FOO\r\n", stage=Stage.AUTH, continuation=False) == (
        "smtp.unknown_command"
    )


async def test_both_ends_publish_every_line_with_its_key(start_world) -> None:
    async with start_world("hello") as world:
        await world.run()
    lines = world.trace.of_type(SmtpLine)
    assert lines and all(line.explain for line in lines)
    for side in (Side.CLIENT, Side.SERVER):
        keys = [line.explain for line in lines if line.side is side]
        assert {"command.ehlo", "command.starttls", "reply.220", "reply.250"} <= set(keys)
        assert "smtp.payload" in keys
    for line in lines:
        assert line.explain == smtp_line_key(
            line.direction, line.data, stage=line.stage, payload=line.is_payload
        )


def test_every_command_the_keys_name_is_a_real_smtp_command() -> None:
    assert {"EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT", "STARTTLS", "AUTH"} <= COMMANDS
