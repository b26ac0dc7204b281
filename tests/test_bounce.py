"""DSNs parse back with the email package into Postfix's three parts with the right fields."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from tutor.trace import Outcome
from tutor.world.queue.bounce import (
    DsnAction,
    DsnRecipient,
    DsnReport,
    ReturnContent,
    build_dsn,
    dsn_status,
    is_bounce,
    report_for,
)
from tutor.world.queue.retry import HOUR, RetryPolicy
from tutor.world.queue.spool import Spool

T0 = 1_732_784_400.0  # Thu, 28 Nov 2024 09:00:00 +0000
ORIGINAL = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.net, carol@example.net\r\n"
    b"Subject: lunch?\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    b"\r\nSee you at noon. caf\xc3\xa9\r\n"
)
USER_UNKNOWN = "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown"


def parse(dsn: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(dsn.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def failed_report(**overrides) -> DsnReport:
    rcpt = DsnRecipient(
        address="bob@example.net",
        action=DsnAction.FAILED,
        status="5.1.1",
        diagnostic=USER_UNKNOWN,
        remote_mta="mx1.example.net",
        remote_address="127.0.0.11",
        command="RCPT TO",
        last_attempt=T0 + 1,
    )
    fields = dict(
        reporting_mta="smtp.example.org",
        queue_id="4F2A81C0B2E",
        sender="alice@example.org",
        arrival=T0,
        recipients=(rcpt,),
        original=ORIGINAL,
    )
    return DsnReport(**{**fields, **overrides})


def test_a_non_delivery_report_is_multipart_report_with_three_parts():
    dsn = parse(build_dsn(failed_report(), T0 + 2))

    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = list(dsn.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",  # Postfix returns the whole message with a non-delivery notice
    ]
    assert dsn["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn["From"].addresses[0].addr_spec == "MAILER-DAEMON@smtp.example.org"
    assert dsn["From"].addresses[0].display_name == "Mail Delivery System"
    assert dsn["To"] == "alice@example.org"
    assert dsn["Auto-Submitted"] == "auto-replied"
    assert dsn["Date"] == "Thu, 28 Nov 2024 09:00:02 +0000"


def test_the_human_part_reads_like_postfix_and_quotes_the_remote_reply():
    text = next(parse(build_dsn(failed_report(), T0 + 2)).iter_parts()).get_content()
    assert text.startswith("This is the mail system at host smtp.example.org.")
    assert "I'm sorry to have to inform you that your message could not" in text
    flat = " ".join(text.split())
    assert (
        "<bob@example.net>: host mx1.example.net[127.0.0.11] said: " + USER_UNKNOWN
        + " (in reply to RCPT TO command)"
    ) in flat  # fmt: skip


def test_the_delivery_status_part_has_per_message_then_per_recipient_fields():
    status = list(parse(build_dsn(failed_report(), T0 + 2)).iter_parts())[1]
    per_message, per_recipient = status.get_payload()

    assert per_message["Reporting-MTA"] == "dns; smtp.example.org"
    assert per_message["X-Postfix-Queue-ID"] == "4F2A81C0B2E"
    assert per_message["X-Postfix-Sender"] == "rfc822; alice@example.org"
    assert per_message["Arrival-Date"] == "Thu, 28 Nov 2024 09:00:00 +0000"
    assert per_recipient["Final-Recipient"] == "rfc822; bob@example.net"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx1.example.net"
    assert " ".join(per_recipient["Diagnostic-Code"].split()) == "smtp; " + USER_UNKNOWN
    assert per_recipient["Last-Attempt-Date"] == "Thu, 28 Nov 2024 09:00:01 +0000"
    assert per_recipient["Will-Retry-Until"] is None


def test_the_returned_message_is_the_original_byte_for_byte_after_a_return_path():
    dsn = build_dsn(failed_report(), T0 + 2)
    assert b"See you at noon. caf\xc3\xa9" in dsn.as_bytes()
    returned = list(parse(dsn).iter_parts())[2]
    inner = returned.get_content()
    assert inner["Return-Path"] == "<alice@example.org>"
    assert inner["Message-ID"] == "<1@example.org>"
    assert "caf\u00e9" in inner.get_content()


def test_a_delay_warning_says_delayed_with_will_retry_until_and_returns_headers_only():
    rcpt = DsnRecipient(
        "carol@example.net",
        DsnAction.DELAYED,
        "4.4.1",
        "connect to mx1.example.net[127.0.0.11]:25: Connection refused",
        last_attempt=T0 + 4 * HOUR,
    )
    report = failed_report(
        recipients=(rcpt,), will_retry_until=T0 + 5 * 86400, delay_warning_time=4 * HOUR
    )
    dsn = parse(build_dsn(report, T0 + 4 * HOUR))

    text, status, headers = dsn.iter_parts()
    assert dsn["Subject"] == "Delayed Mail (still being retried)"
    assert "THIS IS A WARNING ONLY" in text.get_content()
    assert "for more than 4 hour(s)" in text.get_content()
    block = status.get_payload()[1]
    assert (block["Action"], block["Status"]) == ("delayed", "4.4.1")
    assert block["Diagnostic-Code"].startswith("X-Postfix; connect to")
    assert block["Will-Retry-Until"] == "Tue, 03 Dec 2024 09:00:00 +0000"
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: lunch?" in headers.get_content()
    assert "See you at noon" not in headers.get_content()


def test_headers_only_can_be_asked_for_a_failure_too():
    parts = list(parse(build_dsn(failed_report(), T0, ret=ReturnContent.HEADERS)).iter_parts())
    assert parts[2].get_content_type() == "text/rfc822-headers"


def test_a_report_from_the_queue_keeps_each_recipients_own_status_and_action(tmp_path):
    spool = Spool(tmp_path)
    qid = spool.enqueue("alice@example.org", ["bob@example.net", "carol@example.net"], ORIGINAL, T0)
    qid = qid.queue_id
    relay = "mx1.example.net[127.0.0.11]:2525"
    spool.record_result(qid, "bob@example.net", Outcome.REJECTED, USER_UNKNOWN, T0, relay=relay)
    spool.record_result(
        qid, "carol@example.net", Outcome.DEFERRED, "452 4.2.2 Mailbox full", T0, relay=relay
    )
    message = spool.get(qid)
    failed = report_for(message, [message.recipients[0]], DsnAction.FAILED, "smtp.example.org")
    delayed = report_for(
        message, [message.recipients[1]], DsnAction.DELAYED, "smtp.example.org", RetryPolicy()
    )

    bob = list(parse(build_dsn(failed, T0)).iter_parts())[1].get_payload()[1]
    carol = list(parse(build_dsn(delayed, T0)).iter_parts())[1].get_payload()[1]
    assert (bob["Action"], bob["Status"], bob["Remote-MTA"]) == (
        "failed",
        "5.1.1",
        "dns; mx1.example.net",
    )
    assert (carol["Action"], carol["Status"]) == ("delayed", "4.2.2")
    assert carol["Will-Retry-Until"] == "Tue, 03 Dec 2024 09:00:00 +0000"


def test_only_the_null_reverse_path_is_a_bounce():
    assert is_bounce("") and is_bounce("<>") and is_bounce(" <> ")
    assert not is_bounce("MAILER-DAEMON@example.org")  # an address, even if it looks like one
    assert not is_bounce("alice@example.org")


def test_status_codes_come_from_the_reply_or_from_what_went_wrong():
    assert dsn_status("550 5.1.1 <x@y>: User unknown") == "5.1.1"
    assert dsn_status("554 Transaction failed") == "5.0.0"
    assert dsn_status("connect to mx[127.0.0.1]:25: Connection refused") == "4.4.1"
    assert dsn_status("lost connection with mx[127.0.0.1] while receiving the initial greeting")
    assert dsn_status("conversation with mx[127.0.0.1] timed out") == "4.4.2"
