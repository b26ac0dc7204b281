"""Explanations: every command and reply code a learner meets is explained from the data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tutor.render.explain import (
    ExplanationDataError,
    explain_command,
    explain_enhanced,
    explain_event,
    explain_reply,
    explanations,
    load_explanations,
)
from tutor.trace import (
    Direction,
    DnsAnswer,
    Event,
    LogLine,
    Note,
    Outcome,
    PolicyVerdict,
    QueueChange,
    RecipientResult,
    SmtpLine,
    Stage,
    TcpConnect,
    TlsHandshake,
)

COMMANDS = [
    "EHLO",
    "HELO",
    "MAIL",
    "RCPT",
    "DATA",
    "QUIT",
    "STARTTLS",
    "AUTH",
    "RSET",
    "NOOP",
    "VRFY",
    "BDAT",
]
REPLY_CODES = [
    "220",
    "221",
    "235",
    "250",
    "251",
    "252",
    "334",
    "354",
    "421",
    "450",
    "451",
    "452",
    "454",
    "500",
    "501",
    "502",
    "503",
    "504",
    "521",
    "530",
    "534",
    "535",
    "538",
    "550",
    "551",
    "552",
    "553",
    "554",
    "555",
]
ENHANCED = (
    ["0.0"]
    + [f"1.{d}" for d in range(11)]
    + [f"2.{d}" for d in range(5)]
    + ["3.4"]
    + [f"4.{d}" for d in range(1, 8)]
    + [f"5.{d}" for d in range(7)]
    + [f"7.{d}" for d in range(28)]
)
EXTENSIONS = "SIZE 8BITMIME SMTPUTF8 STARTTLS PIPELINING ENHANCEDSTATUSCODES AUTH DSN CHUNKING"


@pytest.mark.parametrize("verb", COMMANDS)
def test_every_command_has_what_why_next_and_rfc(verb: str) -> None:
    entry = explanations().get("command", verb)
    assert entry is not None, verb
    assert entry.rfc and all(r.startswith("RFC ") for r in entry.rfc)
    explanation = explain_command(f"{verb} something")
    assert verb in explanation.summary
    assert explanation.rfc == entry.rfc


@pytest.mark.parametrize("code", REPLY_CODES)
def test_every_reply_code_has_meaning_next_step_and_rfc(code: str) -> None:
    entry = explanations().get("reply", code)
    assert entry is not None, code
    assert entry.rfc
    explanation = explain_reply(f"{code} text")
    assert explanation.title.startswith(code)
    assert "unknown" not in explanation.summary


@pytest.mark.parametrize("code", ENHANCED)
def test_enhanced_status_codes_used_by_postfix_are_explained(code: str) -> None:
    assert explanations().get("enhanced", code) is not None, f"X.{code}"


@pytest.mark.parametrize("name", EXTENSIONS.split())
def test_ehlo_extensions_are_explained(name: str) -> None:
    explanation = explain_reply(f"250-{name} 1234")
    assert explanation.summary.startswith(f"{name} = ")


def test_550_5_1_1_is_broken_into_reply_and_status_class_subject_detail() -> None:
    explanation = explain_reply("550 5.1.1 <bob@example.net>: Recipient address rejected")
    parts = dict(explanation.breakdown)
    assert parts["reply class 5"] == "permanent failure"
    assert parts["reply subject 5"] == "mail system"
    assert "reply detail 0" in parts
    assert parts["status class 5"] == "permanent failure"
    assert parts["status subject 1"] == "addressing"
    assert parts["status detail 1"] == "bad destination mailbox address"
    assert "RFC 5321 §4.2.2" in explanation.rfc and "RFC 3463 §3.2" in explanation.rfc
    assert "5.1.1 = bad destination mailbox address" in explanation.summary
    assert explanation.next_step


def test_enhanced_code_alone_is_explained() -> None:
    explanation = explain_enhanced("4.7.1")
    assert dict(explanation.breakdown)["status class 4"] == "persistent transient failure"
    assert "RFC 3463 §3.8" in explanation.rfc


def test_unknown_reply_code_gets_a_generic_explanation_from_its_first_digit() -> None:
    explanation = explain_reply("599 9.9.9 who knows")
    assert "unknown" in explanation.title
    assert dict(explanation.breakdown)["reply class 5"] == "permanent failure"
    assert explain_reply("hello there").title  # not a reply at all: still an answer


def test_unknown_command_is_explained_as_what_a_server_answers() -> None:
    explanation = explain_command("HAVE A NICE DAY")
    assert "not an SMTP command" in explanation.title
    assert "500" in explanation.summary


def test_mail_from_parameters_are_broken_down() -> None:
    explanation = explain_command("MAIL FROM:<alice@example.org> SIZE=312 BODY=8BITMIME")
    labels = [label for label, _ in explanation.breakdown]
    assert labels == ["MAIL", "reverse-path", "SIZE=312", "BODY=8BITMIME"]
    assert "RFC 1870" in explanation.rfc


def test_auth_login_challenge_is_decoded_to_show_base64_is_not_secret() -> None:
    explanation = explain_reply("334 VXNlcm5hbWU6")
    assert ("base64 decoded", "'Username:'") in explanation.breakdown


def _line(direction: Direction, data: bytes) -> SmtpLine:
    return SmtpLine(direction=direction, data=data, sender="a", receiver="b")


def test_events_are_explained_by_kind() -> None:
    reply = explain_event(_line(Direction.SERVER_TO_CLIENT, b"250 2.1.5 Ok\r\n"))
    assert reply.summary.startswith("250 = ")
    command = explain_event(_line(Direction.CLIENT_TO_SERVER, b"RCPT TO:<b@x>\r\n"))
    assert command.summary.startswith("RCPT = ")
    nodata = explain_event(DnsAnswer(qname="example.net.", qtype="MX", server="s", rcode="NOERROR"))
    assert "NODATA" in nodata.summary
    tls = explain_event(TlsHandshake(ok=True, verified=False, verify_error="unknown CA"))
    assert ("verified", "no: unknown CA") in tls.breakdown
    refused = explain_event(TcpConnect(src="a", dst="b", ok=False, error="Connection refused"))
    assert ("error", "Connection refused") in refused.breakdown
    rejected = explain_event(
        RecipientResult(recipient="x@y", outcome=Outcome.REJECTED, reply="550 5.1.1 no")
    )
    assert "5.1.1" in rejected.summary
    note = explain_event(Note(text="continuing in clear"))
    assert "continuing in clear" in note.body


def test_explain_key_of_an_event_adds_the_topic() -> None:
    explanation = explain_event(Note(text="deferred", explain="topic.greylisting"))
    assert any("greylisting" in p for p in explanation.body)
    assert "RFC 6647" in explanation.rfc


@dataclass(frozen=True, kw_only=True)
class _NewKindOfEvent(Event):
    type: ClassVar[str] = "something_new"


def test_an_event_kind_without_explanation_gets_a_generic_one() -> None:
    explanation = explain_event(_NewKindOfEvent())
    assert explanation.title
    assert explanation.summary


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "explanations.toml"
    bad.write_text('[event.generic]\ntitle = "x"\nshort = "y"\ntext = "z"\n\n[reply.250\n')
    with pytest.raises(ExplanationDataError, match=rf"^{bad}:6: invalid TOML"):
        load_explanations(bad)


def test_missing_field_names_file_and_line_of_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "explanations.toml"
    bad.write_text(
        '[event.generic]\ntitle = "x"\nshort = "y"\ntext = "z"\n\n'
        '[reply.250]\ntitle = "250 OK"\ntext = "fine"\n'
    )
    with pytest.raises(ExplanationDataError, match=rf"^{bad}:6: \[reply.250\] needs .*'short'"):
        load_explanations(bad)


def test_unknown_table_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "explanations.toml"
    bad.write_text('\n[replies.250]\ntitle = "x"\nshort = "y"\ntext = "z"\n')
    with pytest.raises(ExplanationDataError, match=r":2: unknown table \[replies\]"):
        load_explanations(bad)
    with pytest.raises(ExplanationDataError, match="cannot read"):
        load_explanations(tmp_path / "missing.toml")


def test_shipped_file_is_loaded_once() -> None:
    assert explanations() is explanations()


def test_a_success_code_is_not_explained_as_a_problem() -> None:
    from tutor.render.explain import explain_enhanced

    text = " ".join(explain_enhanced("2.7.0").body)
    assert "success" in text and "problem" not in text


@pytest.mark.parametrize(
    ("check", "question", "rfc"),
    [
        ("spf", "is this host allowed to send", "RFC 7208"),
        ("dmarc", "does SPF or DKIM pass for the From: domain", "RFC 7489"),
        ("greylist", "first attempt deferred on purpose", "RFC 6647"),
    ],
)
def test_a_verdicts_one_line_explanation_names_the_question_its_check_answers(
    check: str, question: str, rfc: str
) -> None:
    verdict = PolicyVerdict(check=check, result="pass", reasons=("why",))
    summary = explain_event(verdict).summary
    assert summary.startswith(f"{check}: ") and question in summary and rfc in summary


def test_a_mail_log_line_and_a_queue_change_are_explained_by_what_they_are() -> None:
    """The event's own key leads (qmgr, a deferral); the kind of event adds the background."""
    qmgr = LogLine(program="postfix/qmgr", text="ABC: removed", explain="log.qmgr")
    explained = explain_event(qmgr)
    assert explained.title.startswith("qmgr")
    assert "Postfix qmgr(8)" in explained.rfc
    assert any("mail log" in p for p in explained.body)  # the generic part is still there
    deferred = explain_event(
        QueueChange(queue_id="ABC", state="deferred", explain="queue.deferred")
    )
    assert deferred.title == "Queued: deferred"
    assert "minimal_backoff_time (300 s)" in " ".join(deferred.body)


@pytest.mark.parametrize(
    ("reply", "stage", "title"),
    [
        ("220 mx1.example.net ESMTP", Stage.CONNECT, "220 Service ready"),
        ("220 2.0.0 Ready to start TLS", Stage.STARTTLS, "220 Ready to start TLS"),
        ("250 2.1.0 Ok", Stage.ENVELOPE, "250 to MAIL FROM or RCPT TO: accepted"),
        ("250 2.1.5 Ok", Stage.ENVELOPE, "250 to RCPT TO: this recipient is accepted"),
        (
            "250 2.0.0 Ok: queued as ABC",
            Stage.DATA,
            "250 after the final dot: the message is handed over",
        ),
    ],
)
def test_a_reply_is_explained_by_what_it_answers(reply: str, stage: Stage, title: str) -> None:
    line = SmtpLine(
        stage=stage,
        direction=Direction.SERVER_TO_CLIENT,
        data=reply.encode() + b"\r\n",
        sender="mx1.example.net",
        receiver="smtp.example.org",
    )
    explained = explain_event(line)
    assert explained.title == title
    assert explained.summary.startswith(reply[:3] + " = ")


def test_a_verdict_from_a_run_is_explained_by_its_result_and_keeps_the_checks_background() -> None:
    verdict = PolicyVerdict(
        check="spf", result="softfail", reasons=("~all matched",), explain="policy.spf.softfail"
    )
    explained = explain_event(verdict)
    assert explained.title == "SPF softfail"
    assert "RFC 7208 §2.6.5" in explained.summary
    assert any("v=spf1" in p for p in explained.body)  # the SPF topic is still there
    assert ("reason", "~all matched") in explained.breakdown


def test_lines_that_are_no_command_or_reply_are_explained_from_the_data_file() -> None:
    data = explanations()
    unknown = explain_command("HAVE A NICE DAY")
    assert unknown.body == data.get("smtp", "unknown_command").paragraphs
    not_a_reply = explain_reply("hello there")
    assert not_a_reply.title == "Not an SMTP reply"
    assert ("line", "'hello there'") in not_a_reply.breakdown
    answer = explain_command("YWxpY2U=")  # a lone base64 word: the answer to a 334
    assert answer.title == "AUTH response (base64)" and "RFC 4954 §4" in answer.summary
