"""The mail log: Postfix's exact line formats, the text + JSON writer, and the summary."""

from __future__ import annotations

import json

from tutor.clock import SimulatedClock
from tutor.render.logsummary import percentile, render_summary, summarize
from tutor.trace import LogLine, Outcome, RecipientResult, Stage, Trace
from tutor.world.maillog.parse import parse_fields
from tutor.world.maillog.records import (
    BounceNotice,
    CleanupMessageId,
    Delivery,
    Peer,
    PostgreyAction,
    QmgrExpired,
    QmgrQueued,
    QmgrRemoved,
    SmtpdClient,
    SmtpdConnect,
    SmtpdDisconnect,
    SmtpdReject,
    delivery_from_result,
    format_delay,
    syslog_line,
    syslog_timestamp,
    to_event,
)
from tutor.world.maillog.writer import MailLog

T0 = 1_732_784_401.0  # Thu, 28 Nov 2024 09:00:01 UTC
SMTP = Peer("smtp.example.org", "127.0.0.12")
QID = "4F2A81C0B2E"
GREYLISTED = "451 4.7.1 <bob@example.net>: Recipient address rejected: Greylisted"


def test_smtpd_lines_look_like_postfix():
    assert SmtpdConnect(SMTP).text() == "connect from smtp.example.org[127.0.0.12]"
    assert SmtpdClient(QID, SMTP).text() == f"{QID}: client=smtp.example.org[127.0.0.12]"
    assert SmtpdClient(QID, Peer("", "127.0.0.2"), "PLAIN", "alice").text() == (
        f"{QID}: client=unknown[127.0.0.2], sasl_method=PLAIN, sasl_username=alice"
    )
    assert SmtpdReject(
        "RCPT", SMTP, GREYLISTED, "alice@example.org", "bob@example.net", "smtp.example.org"
    ).text() == (
        "NOQUEUE: reject: RCPT from smtp.example.org[127.0.0.12]: " + GREYLISTED + "; "
        "from=<alice@example.org> to=<bob@example.net> proto=ESMTP helo=<smtp.example.org>"
    )
    commands = (("ehlo", 2, 2), ("starttls", 1, 1), ("mail", 1, 1), ("rcpt", 1, 1))
    full = SmtpdDisconnect(SMTP, (*commands, ("data", 1, 1), ("quit", 1, 1)))
    assert full.text() == (
        "disconnect from smtp.example.org[127.0.0.12] "
        "ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
    )
    failed = SmtpdDisconnect(SMTP, (("ehlo", 1, 1), ("mail", 1, 1), ("rcpt", 0, 1), ("quit", 1, 1)))
    assert failed.text().endswith("ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")


def test_queue_and_delivery_lines_look_like_postfix():
    assert CleanupMessageId(QID, "<1@example.org>").text() == f"{QID}: message-id=<1@example.org>"
    assert QmgrQueued(QID, "alice@example.org", 623, 2).text() == (
        f"{QID}: from=<alice@example.org>, size=623, nrcpt=2 (queue active)"
    )
    sent = Delivery(
        QID,
        "bob@example.net",
        "mx1.example.net[127.0.0.11]:25",
        0.1234,
        (0.01, 0, 0.05, 0.0634),
        "2.0.0",
        "sent",
        "250 2.0.0 Ok: queued as 7A1B2C3D4E5",
    )
    assert sent.text() == (
        f"{QID}: to=<bob@example.net>, relay=mx1.example.net[127.0.0.11]:25, delay=0.12, "
        "delays=0.01/0/0.05/0.06, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7A1B2C3D4E5)"
    )
    assert QmgrExpired(QID, "alice@example.org").text() == (
        f"{QID}: from=<alice@example.org>, status=expired, returned to sender"
    )
    assert QmgrRemoved(QID).text() == f"{QID}: removed"
    assert BounceNotice(QID, "9C8B7A6F5E4").text() == (
        f"{QID}: sender non-delivery notification: 9C8B7A6F5E4"
    )
    assert (
        BounceNotice(QID, "9C8B7A6F5E4", "delay")
        .text()
        .endswith("sender delay notification: 9C8B7A6F5E4")
    )
    assert PostgreyAction(
        "greylist", "new", SMTP, "alice@example.org", "bob@example.net"
    ).text() == (
        "action=greylist, reason=new, client_name=smtp.example.org, client_address=127.0.0.12, "
        "sender=alice@example.org, recipient=bob@example.net"
    )


def test_delays_are_rounded_like_postfix_format_tv():
    cases = {0: "0", 0.0004: "0", 0.1234: "0.12", 0.05: "0.05", 1.234: "1.2", 12.34: "12"}
    cases |= {99.6: "100", 300.2: "300", 432022.7: "432023", 0.999: "1"}
    assert {value: format_delay(value) for value in cases} == cases


def test_syslog_lines_carry_world_time_short_host_and_a_stable_pid():
    assert syslog_timestamp(T0) == "Nov 28 09:00:01"
    assert syslog_timestamp(T0 - 20 * 86400) == "Nov  8 09:00:01"  # day padded like syslog
    line = syslog_line(T0, "mx1.example.net", "postfix/smtpd", "connect from x[127.0.0.1]")
    assert line.startswith("Nov 28 09:00:01 mx1 postfix/smtpd[")
    assert line.endswith("]: connect from x[127.0.0.1]")
    assert line == syslog_line(T0, "mx1.example.net", "postfix/smtpd", "connect from x[127.0.0.1]")


def test_the_writer_logs_each_log_line_event_as_text_and_json_on_the_simulated_clock(tmp_path):
    clock = SimulatedClock(T0)
    trace = Trace(now=clock.now)
    log = MailLog(trace.publish, tmp_path)
    log.log(SmtpdConnect(SMTP), host="mx1.example.net", session="s1")
    clock.advance(5 * 86400)  # five simulated days later
    log.log(QmgrRemoved(QID), host="smtp.example.org")
    other = "warning: any other line is kept too"
    line = trace.publish(LogLine(host="x", program="postfix/smtp", text=other, stage=Stage.QUEUE))
    assert isinstance(line, LogLine)
    log.write(line)
    log.close()

    text = (tmp_path / "maillog").read_text().splitlines()
    assert text[0].startswith("Nov 28 09:00:01 mx1 postfix/smtpd[")
    assert text[1].startswith("Dec  3 09:00:01 smtp postfix/qmgr[")
    assert text[1].endswith(f"]: {QID}: removed")
    records = [json.loads(line) for line in (tmp_path / "maillog.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["connect", "removed", "other"]
    assert records[1]["queue_id"] == QID and records[1]["time"] == T0 + 5 * 86400
    assert records[1]["line"] == text[1]
    assert trace.events[0].stage == Stage.CONNECT


def test_fields_are_parsed_back_out_of_delivery_and_reject_lines():
    bounced = Delivery(
        QID,
        "bob@example.net",
        "mx1.example.net[127.0.0.11]:25",
        1.5,
        (0.01, 0, 0.05, 1.4),
        "5.1.1",
        "bounced",
        "host mx1.example.net[127.0.0.11] said: 550 5.1.1 <bob@example.net>: "
        "Recipient address rejected: User unknown (in reply to RCPT TO command)",
    )
    fields = parse_fields(bounced.text())
    assert fields["kind"] == "delivery" and fields["status"] == "bounced"
    assert (fields["to"], fields["dsn"], fields["delay"], fields["reply_code"]) == (
        "bob@example.net",
        "5.1.1",
        1.5,
        550,
    )
    reject = parse_fields(SmtpdReject("RCPT", SMTP, GREYLISTED, "a@example.org", "b@x.net").text())
    assert (reject["kind"], reject["reply_code"], reject["to"]) == ("reject", 451, "b@x.net")


def _delivery(qid: str, rcpt: str, delay: float, status: str, reason: str) -> Delivery:
    dsn = {"sent": "2.0.0", "deferred": "4.7.1", "bounced": "5.1.1"}[status]
    relay = "mx1.example.net[127.0.0.11]:25"
    code = int(reason.removeprefix("host mx1.example.net[127.0.0.11] said: ")[:3])
    delays = (0, 0, 0, delay)
    return Delivery(qid, rcpt, relay, delay, delays, dsn, status, reason, reply_code=code)


def test_the_summary_counts_messages_outcomes_reply_codes_and_delay_percentiles(tmp_path):
    log = MailLog(Trace().publish, tmp_path)
    said = "host mx1.example.net[127.0.0.11] said: "
    records = [
        QmgrQueued("A", "alice@example.org", 500, 1),
        _delivery("A", "bob@example.net", 0, "deferred", said + GREYLISTED),
        _delivery("A", "bob@example.net", 300, "sent", "250 2.0.0 Ok: queued as X"),
        QmgrQueued("B", "alice@example.org", 500, 1),
        _delivery("B", "nobody@example.net", 0.2, "bounced", said + "550 5.1.1 unknown"),
        QmgrQueued("C", "alice@example.org", 500, 1),
        _delivery("C", "carol@example.net", 0, "deferred", said + "452 4.2.2 Mailbox full"),
        _delivery("C", "carol@example.net", 300, "deferred", said + "452 4.2.2 Mailbox full"),
        _delivery("C", "carol@example.net", 1200, "sent", "250 2.0.0 Ok: queued as Y"),
        QmgrQueued("D", "dave@example.org", 500, 1),
        _delivery("D", "erin@example.net", 0.5, "sent", "250 2.0.0 Ok: queued as Z"),
        QmgrExpired("E", "alice@example.org"),
        SmtpdReject("RCPT", SMTP, GREYLISTED, "alice@example.org", "bob@example.net"),
    ]
    for n, record in enumerate(records):
        log.log(record, host="smtp.example.org", time=T0 + n)
    log.close()

    summary = summarize(tmp_path / "maillog.jsonl")

    assert (summary.received, summary.delivered, summary.bounced) == (4, 3, 1)
    assert (summary.deferred, summary.messages_deferred) == (3, 2)
    assert (summary.expired, summary.rejected) == (1, 1)
    assert summary.reply_codes == ((250, 3), (451, 2), (452, 2), (550, 1))
    assert (summary.p50, summary.p90, summary.p99) == (300, 1200, 1200)
    text = render_summary(summary)
    assert "      3  delivered" in text and "      2  451" in text and "p50  300 s" in text


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50, 90, 99)
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0


def test_a_recipient_result_of_the_mta_becomes_a_postfix_delivery_line():
    said = RecipientResult(
        time=T0 + 1.5,
        recipient="bob@example.net",
        outcome=Outcome.REJECTED,
        reply="550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
        relay="mx1.example.net[127.0.0.11]:2525",
        queue_id=QID,
    )
    line = delivery_from_result(said, arrival=T0, command="RCPT TO").text()
    assert line == (
        f"{QID}: to=<bob@example.net>, relay=mx1.example.net[127.0.0.11]:2525, delay=1.5, "
        "delays=0/0/0/0, dsn=5.1.1, status=bounced (host mx1.example.net[127.0.0.11] said: "
        "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown "
        "(in reply to RCPT TO command))"
    )
    refused = RecipientResult(
        time=T0,
        recipient="bob@example.net",
        outcome=Outcome.DEFERRED,
        reply="connect to mx1.example.net[127.0.0.11]:2525: Connection refused",
        relay="none",
        queue_id=QID,
    )
    fields = parse_fields(delivery_from_result(refused, arrival=T0).text())
    assert (fields["status"], fields["dsn"], fields["relay"]) == ("deferred", "4.4.1", "none")


def test_every_record_files_the_fields_a_log_analyser_reads_from_its_text():
    """The world never parses its own log back: each record says its fields, and they agree
    with what pflogsumm-style parsing of the same line finds."""
    said = "host mx1.example.net[127.0.0.11] said: "
    records = [
        SmtpdConnect(SMTP),
        SmtpdClient(QID, SMTP, "PLAIN", "alice@example.org"),
        SmtpdReject("RCPT", SMTP, GREYLISTED, "alice@example.org", "bob@example.net", "smtp"),
        SmtpdDisconnect(SMTP, (("ehlo", 1, 1), ("rcpt", 0, 1), ("quit", 1, 1))),
        QmgrQueued(QID, "alice@example.org", 1234, 2),
        _delivery(QID, "bob@example.net", 1.5, "bounced", said + "550 5.1.1 unknown"),
        QmgrExpired(QID, "alice@example.org"),
        QmgrRemoved(QID),
        BounceNotice(QID, "5B3C92D1A04"),
    ]
    for record in records:
        fields = record.fields()
        parsed = parse_fields(record.text())
        assert fields["kind"] == parsed["kind"], record
        shared = set(fields) & set(parsed) - {"kind"}
        assert shared, record
        for key in shared:
            assert str(fields[key]) == str(parsed[key]), (record, key)
        assert to_event(record, host="h").fields == fields
