"""Postfix's words for aiosmtpd's replies, read from tutor/data/postfix_replies.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.world.smtp.postfix_replies import (
    DATA_FILE,
    TABLE,
    ReplyTableError,
    load_reply_table,
    postfix_reply,
)

HOST = "mx1.example.net"


@pytest.mark.parametrize(
    ("aiosmtpd", "command", "postfix"),
    [
        ("250 OK", "NOOP", "250 2.0.0 Ok"),
        ("250 OK", "MAIL", "250 2.1.0 Ok"),
        ("250 OK", "RCPT", "250 2.1.5 Ok"),
        ("553 5.1.3 Error: malformed address", "MAIL", "501 5.1.7 Bad sender address syntax"),
        (
            '500 Error: command "FOO" not recognized',
            "FOO",
            "500 5.5.2 Error: command not recognized",
        ),
        ("502 EXPN not implemented", "EXPN", "500 5.5.2 Error: command not recognized"),
        (
            "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]",
            "MAIL",
            "501 5.5.4 Syntax: MAIL FROM:<address>",
        ),
        (
            "502 5.5.1 Too many unrecognized commands, goodbye.",
            "FOO",
            f"421 4.7.0 {HOST} Error: too many errors",
        ),
    ],
    ids=[
        "noop",
        "mail",
        "rcpt",
        "bad-sender",
        "unknown",
        "expn",
        "mail-syntax",
        "too-many-errors",
    ],
)
def test_aiosmtpd_texts_become_postfix_s(aiosmtpd: str, command: str, postfix: str) -> None:
    assert postfix_reply(aiosmtpd, command, HOST) == postfix


def test_a_reply_without_an_enhanced_code_gets_the_one_of_its_reply_code() -> None:
    assert postfix_reply("554 Transaction failed", "DATA", HOST) == "554 5.5.1 Transaction failed"
    assert postfix_reply("451 Try later", "RCPT", HOST) == "451 4.3.0 Try later"
    assert postfix_reply("250", "NOOP", HOST) == "250 2.0.0"
    assert postfix_reply("556 odd", "NOOP", HOST) == "556 5.0.0 odd"  # not in [enhanced]


def test_greeting_ehlo_and_3xx_replies_get_no_enhanced_code() -> None:
    assert postfix_reply(f"220 {HOST} ESMTP", "", HOST, greeting=True) == f"220 {HOST} ESMTP"
    assert postfix_reply(f"250-{HOST}", "EHLO", HOST) == f"250-{HOST}"
    assert postfix_reply("354 End data with <CR><LF>.<CR><LF>", "DATA", HOST).startswith("354 E")


def test_a_reply_that_has_an_enhanced_code_is_left_alone() -> None:
    reply = "550 5.1.1 <x@example.net>: Recipient address rejected: User unknown"
    assert postfix_reply(reply, "RCPT", HOST) == reply


def test_the_shipped_table_has_every_part() -> None:
    assert TABLE.exact and TABLE.by_command and TABLE.patterns and TABLE.enhanced
    assert DATA_FILE.parent.name == "data" and DATA_FILE.is_file()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[exact]\n"250 OK" = 1\n', "[exact] must map reply texts"),
        ('[replies]\n"250 OK" = "x"\n', "unknown table(s) replies"),
        ('[[pattern]]\nmatch = "^250"\n', "[[pattern]] 1 needs exactly match and reply"),
        ('[[pattern]]\nmatch = "("\nreply = "x"\n', "[[pattern]] 1: bad regex"),
        ('[enhanced]\nfoo = "2.0.0"\n', "[enhanced] keys are three-digit reply codes"),
    ],
    ids=["not-text", "unknown-table", "pattern-keys", "bad-regex", "bad-code"],
)
def test_a_malformed_table_is_refused_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "replies.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReplyTableError) as raised:
        load_reply_table(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)
