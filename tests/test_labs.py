"""Labs as data, checked in-process: the authoring check of every shipped lab, each check kind,
the review's first-mistake marks, and lab files whose mistakes name file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tutor.learn.labs.authoring import authoring_check
from tutor.learn.labs.labrun import LabRun
from tutor.learn.labs.loader import LabError, lab_folders, load_lab, shipped_labs_root
from tutor.learn.labs.model import Step, StepKind, TlsMode
from tutor.learn.labs.reach import world_json
from tutor.learn.labs.report import render_check, render_start
from tutor.learn.labs.review import render_review, visible

SHIPPED = [folder.name for folder in lab_folders()]


def smtp(host: str, *lines: str, **options: object) -> Step:
    return Step(StepKind.SMTP, host=host, lines=lines, timeout=0.5, **options)  # type: ignore[arg-type]


DELIVERY = (
    "EHLO laptop.example.com",
    "MAIL FROM:<student@example.com>",
    "RCPT TO:<bob@example.net>",
    "DATA",
    "Subject: Hello from the command line",
    "",
    "hi",
    ".",
    "QUIT",
)


def test_the_first_labs_of_the_issue_ship() -> None:
    assert {"speak-smtp", "find-the-mx", "starttls-by-hand", "submit-with-auth"} <= set(SHIPPED)
    assert [lab.id for lab in map(load_lab, ["speak-smtp", "find-the-mx"])] == [
        "speak-smtp",
        "find-the-mx",
    ]


@pytest.mark.parametrize("lab_id", SHIPPED)
async def test_shipped_lab_fails_fresh_as_intended_and_its_solution_passes(lab_id: str) -> None:
    report = await authoring_check(load_lab(lab_id))
    assert report.ok, "\n".join(report.problems)
    assert report.checked[0].startswith("a fresh world fails all")
    assert "the reference solution passes them all" in report.checked


async def test_a_fresh_lab_world_says_what_is_missing_and_where_it_looked() -> None:
    lab = load_lab("speak-smtp")
    async with LabRun(lab) as lab_run:
        results = await lab_run.check()
        printed = "\n".join(render_check(lab, results))
    assert [r.passed for r in results] == [False, False]
    assert results[0].message == "no message has arrived for bob@example.net yet"
    assert results[0].looked_at.startswith("the Maildir of bob@example.net (INBOX): ")
    assert "✗ A message with the subject" in printed and "0 of 2 requirements pass" in printed


async def test_a_session_check_names_the_reply_that_went_wrong() -> None:
    lab = load_lab("speak-smtp")
    async with LabRun(lab) as lab_run:
        await lab_run.do(
            [
                smtp(
                    "mx1.example.net",
                    "EHLO me",
                    "MAIL FROM:<s@example.com>",
                    "RCPT TO:<someone@example.com>",
                    "QUIT",
                )
            ]
        )
        by_hand = (await lab_run.check())[1]
    assert not by_hand.passed
    assert (
        "expected RCPT answered 250 after MAIL, got RCPT TO:<someone@example.com> → 554 5.7.1"
        in (by_hand.message)
    )


async def test_mail_through_a_backup_mx_arrives_but_does_not_count() -> None:
    lab = load_lab("find-the-mx")
    async with LabRun(lab) as lab_run:
        await lab_run.do(
            [
                smtp(
                    "charlie.example.net",
                    *(
                        line.replace("bob@", "carol@").replace(
                            "Hello from the command line", "Found the mail server"
                        )
                        for line in DELIVERY
                    ),
                )
            ]
        )
        delivered = (await lab_run.check())[2]
    assert not delivered.passed
    assert (
        "arrival through bravo.example.net expected, but it arrived through charlie.example.net"
        in delivered.message
    )


async def test_a_dns_answer_check_asks_the_world_and_is_not_taken_for_the_learner(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mx-answer"
    shutil.copytree(shipped_labs_root() / "find-the-mx", folder)
    toml = (folder / "lab.toml").read_text()
    toml = toml.replace('id = "find-the-mx"', 'id = "mx-answer"').replace(
        "[[hint]]",
        '[[requirement]]\nid = "served"\nkind = "dns-answer"\ntext = "t"\nname = "example.net"\n'
        'type = "MX"\ncontains = ["5 bravo.example.net."]\nabsent = ["20 alpha.example.net"]\n'
        'fresh = "still holds"\n\n[[hint]]',
        1,
    )
    (folder / "lab.toml").write_text(toml)
    lab = load_lab(folder)
    async with LabRun(lab) as lab_run:
        results = {r.id: r for r in await lab_run.check()}
        again = {r.id: r for r in await lab_run.check()}
    assert not results["served"].passed
    assert results["served"].message.startswith("the answer still holds 20 alpha.example.net")
    assert results["served"].looked_at.startswith("dig @127.0.0.")
    # The check's own questions to the DNS are not the learner's dig.
    assert not again["asked-mx"].passed


async def test_the_mail_log_check_reads_the_records_fields() -> None:
    lab = load_lab("submit-with-auth")
    async with LabRun(lab) as lab_run:
        await lab_run.do(lab.solution)
        results = {r.id: r for r in await lab_run.check()}
    assert results["relayed"].passed
    assert "status=sent" in results["relayed"].message
    assert results["relayed"].looked_at.startswith("the mail log (")


REVIEWED = [
    (("MAIL FROM:<a@example.com>", "QUIT"), {}, "MAIL before EHLO", "RFC 5321 §4.1.4"),
    (
        ("EHLO me", "MAIL FROM:a@example.com", "QUIT"),
        {},
        "an address without angle brackets",
        "RFC 5321 §4.1.2",
    ),
    (
        ("EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<x@example.com>", "QUIT"),
        {},
        "RCPT to a stranger: relay denied",
        "RFC 5321 §3.6.2, §7.1",
    ),
    (
        ("EHLO me", "AUTH PLAIN AGEAYg==", "QUIT"),
        {},
        "AUTH before STARTTLS",
        "RFC 4954 §4, RFC 3207 §4",
    ),
    (
        ("MAIL FROM:<a@example.com>", "QUIT"),
        {"tls": TlsMode.STARTTLS},
        "no EHLO after STARTTLS",
        "RFC 3207 §4.2",
    ),
    (
        (
            "EHLO me",
            "MAIL FROM:<a@example.com>",
            "RCPT TO:<bob@example.net>",
            "DATA",
            "Subject: x",
            "",
            "no dot follows",
        ),
        {},
        "the message never ended with a lone dot",
        "RFC 5321 §4.1.1.4",
    ),
    (
        ("EHLO me", "QUIT"),
        {"crlf": False},
        "bare LF line ending (nc without -C?)",
        "RFC 5321 §2.3.8, §4.1.1.4",
    ),
    (("EHLO me", "MAIL FROM:<a@example.com>"), {}, "no QUIT", "RFC 5321 §4.1.1.10"),
    (DELIVERY, {}, None, None),
]


async def test_review_marks_the_first_protocol_mistake_of_each_session() -> None:
    lab = load_lab("speak-smtp")
    async with LabRun(lab) as lab_run:
        await lab_run.do(
            [smtp("mx1.example.net", *lines, **opts) for lines, opts, _, _ in REVIEWED]
        )
        sessions = lab_run.review()
    assert len(sessions) == len(REVIEWED)
    for session, (lines, _, title, rfc) in zip(sessions, REVIEWED, strict=True):
        got = (session.mistake.title, session.mistake.rfc) if session.mistake else (None, None)
        assert got == (title, rfc), lines
    printed = render_review(sessions)
    assert "  ✗ first mistake: MAIL before EHLO (RFC 5321 §4.1.4)" in printed
    assert "  -> EHLO me  [bare LF]" in printed
    # The mark follows the reply that showed the mistake.
    mark = printed.index(
        "  ✗ first mistake: RCPT to a stranger: relay denied (RFC 5321 §3.6.2, §7.1)"
    )
    assert printed[mark - 1].startswith("        · ") or printed[mark - 1].startswith("  <- 554")


async def test_client_bytes_never_reach_the_terminal_raw() -> None:
    lab = load_lab("speak-smtp")
    async with LabRun(lab) as lab_run:
        await lab_run.do([smtp("mx1.example.net", "EHLO \x1b]0;PWNED\x07\x1b[2J\x00\r", "QUIT")])
        printed = "\n".join(render_review(lab_run.review()))
    assert "\x1b" not in printed and "\x07" not in printed and "\x00" not in printed
    assert "EHLO \\x1b]0;PWNED\\x07\\x1b[2J\\x00\\r" in printed
    assert visible("a\x1bb\u2028c\\") == "a\\x1bb\\u2028c\\\\"


async def test_shared_loopback_prints_addresses_a_learner_can_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMTP_TUTOR_SHARED_LOOPBACK", "1")
    lab = load_lab("find-the-mx")
    async with LabRun(lab) as lab_run:
        state = {"world": world_json(lab_run.info), "work_dir": "/w"}
        printed = "\n".join(render_start(lab, state, reused=False, cleaned="", work_files=()))
        await lab_run.do(lab.solution)
        results = await lab_run.check()
    assert state["world"]["mode"] == "shared-loopback"
    assert "→ connect to 127.0.0.1: smtp port" in printed
    assert "dig @127.0.0.1 -p" in printed
    assert all(r.passed for r in results), [r.message for r in results]


# --------------------------------------------------------------------------- lab files


def _broken_lab(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "speak-smtp"
    shutil.copytree(shipped_labs_root() / "speak-smtp", folder)
    text = (folder / "lab.toml").read_text()
    assert old in text
    (folder / "lab.toml").write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'recipient = "bob@example.net"',
            'recipent = "bob@example.net"',
            ":17: requirement[0].recipent: unknown key (did you mean 'recipient'?)",
        ),
        (
            'kind = "mailbox"',
            'kind = "mailbx"',
            ":15: requirement[0].kind: 'mailbx' is not one of mailbox, session, dns-answer, "
            "dns-query, log, queue (did you mean 'mailbox'?)",
        ),
        (
            'host = "mx1.example.net"\ncommands',
            'host = "mx9.example.net"\ncommands',
            ":25: requirement[1].host: 'mx9.example.net' is not one of",
        ),
        (
            '"RCPT 250"',
            '"RCPT TO 250"',
            ":26: requirement[1].commands[2]: 'RCPT TO 250' is not a command pattern",
        ),
        (
            'scenario = "hello"',
            'scenario = "helo"',
            ":11: start.scenario: helo: no such scenario (did you mean 'hello'?)",
        ),
        (
            'fails = ["delivered"]',
            'fails = ["delivred"]',
            ":85: near_miss[1].fails[0]: 'delivred' is not one of by-hand, delivered (did you mean "
            "'delivered'?)",
        ),
        ('title = "Speak SMTP by hand"', 'title = "Speak SMTP by hand', ":4: not valid TOML"),
    ],
)
def test_a_malformed_lab_file_names_file_line_and_problem(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    folder = _broken_lab(tmp_path, old, new)
    with pytest.raises(LabError) as caught:
        load_lab(folder)
    message = str(caught.value)
    assert message.startswith(str(folder / "lab.toml") + ":"), message
    assert expected in message, message
    assert "\n" not in message


def test_labs_check_prints_one_line_and_exits_2_for_a_broken_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tutor.cli import main

    folder = _broken_lab(tmp_path, 'subject = "Hello', 'subjet = "Hello')
    assert main(["labs", "check", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"smtp-tutor: {folder / 'lab.toml'}:18: requirement[0].subjet")
    assert len(err.splitlines()) == 1


async def test_the_authoring_check_catches_a_lab_whose_solution_does_not_solve_it(
    tmp_path: Path,
) -> None:
    folder = _broken_lab(
        tmp_path,
        '"RCPT TO:<bob@example.net>",\n    "DATA",\n    "From: Student',
        '"RCPT TO:<alice@example.org>",\n    "DATA",\n    "From: Student',
    )
    report = await authoring_check(load_lab(folder))
    assert not report.ok
    assert any("the reference solution fails 'delivered'" in p for p in report.problems)


async def test_the_commented_example_in_labs_readme_is_a_lab_that_passes(tmp_path: Path) -> None:
    readme = (shipped_labs_root() / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "speak-smtp"
    folder.mkdir()
    (folder / "lab.toml").write_text(example)
    (folder / "task.md").write_text("Deliver a message by hand.\n")
    report = await authoring_check(load_lab(folder))
    assert report.ok, report.problems
