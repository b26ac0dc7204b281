"""Lessons from the command line: `lesson --plain`, `quiz` and `progress`, as a learner meets them.

The lesson under test is tests/data/lessons/hello-basics.toml (every kind of question once, on
the hello scenario). Every command runs as a learner or a script runs it: a real process,
answers piped in, a real world on loopback, and a progress directory of the test's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lessoncli import LESSON, ROOT, lines, right_answers, smtp_tutor

from tutor.learn.lesson import load_lesson
from tutor.learn.plain import parse_response, presented_order
from tutor.learn.progress import CSV_COLUMNS, ProgressStore
from tutor.learn.questions import ResponseError

# --------------------------------------------------------------------------- lesson --plain


def test_a_plain_lesson_with_right_answers_piped_in_runs_to_full_marks(tmp_path: Path) -> None:
    done = smtp_tutor(
        "lesson", str(LESSON), "--plain", data=tmp_path, answers=lines(*right_answers())
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[score]   7 of 7 points (100%)" in out
    assert "Once more" not in out and "Not right" not in out
    assert "Key points:" in out and "  - Submission (port 587)" in out
    assert "\x1b[" not in out  # no colour, no cursor movement unless asked
    # The narration speaks right after its anchor: the client's STARTTLS, before the reply.
    starttls = out.index("  ->      STARTTLS")
    narration = out.index("[lesson]  Alice's mail program asks to upgrade")
    assert starttls < narration < out.index("  <-      220 2.0.0 Ready to start TLS")
    # The prediction is asked before the reply it predicts is printed.
    asked = out.index("[question 2: predict the reply]")
    rcpt = out.rindex("  ~>      RCPT TO:<bob@example.net>", 0, asked)
    assert "250 2.1.5" not in out[rcpt:asked]
    assert out.index("  <~      250 2.1.5 Ok", asked) < out.index("Right: you predicted 250.")
    # Progress is recorded: the lesson done with full marks, each answer counted.
    progress = ProgressStore(tmp_path / "progress.json").load()
    record = progress.lessons["hello-basics"]
    assert record.done and record.best_score == 1.0
    assert set(record.questions) == {q.id for q in load_lesson(LESSON).questions}


def test_wrong_answers_come_back_once_at_the_end_and_hints_and_skips_work(
    tmp_path: Path,
) -> None:
    starttls, rcpt, mx, hops, order, _port, _ok = right_answers()
    answers = [
        *("?", "?", "?", "b"),  # why-starttls: two hints, "no more", then a wrong choice
        *(rcpt, mx, hops, order),
        "588",  # submission-port: wrong
        *("", "y"),  # ok-code: skipped, after confirming
        *(starttls, "587", "250"),  # the three come back once, answered right this time
    ]
    done = smtp_tutor("lesson", str(LESSON), "--plain", data=tmp_path, answers=lines(*answers))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Hint 1 of 2: What does AUTH PLAIN send?" in out
    assert "Hint 2 of 2: Base64 is not encryption." in out and "No more hints." in out
    assert "You picked b) Because the server only speaks TLS on port 25: STARTTLS" in out
    assert "Once more: the 3 questions not answered right the first time" in out
    tail = out[out.index("Once more") :]
    for number in (1, 6, 7):
        assert f"[question {number} again:" in tail
    assert tail.count("    Right.") == 3
    assert "[score]   4 of 7 points (57%)" in out  # the first answer is the one that scores
    record = ProgressStore(tmp_path / "progress.json").load().lessons["hello-basics"]
    assert record.questions["why-starttls"].hints_used == 2
    assert record.questions["why-starttls"].best_score == 1.0  # right the second time
    assert record.best_score == pytest.approx(4 / 7)


def test_a_plain_lesson_whose_input_ends_skips_the_rest_and_still_scores(tmp_path: Path) -> None:
    done = smtp_tutor("lesson", str(LESSON), "--plain", data=tmp_path, answers="a\n")
    assert done.returncode == 0, done.stderr
    assert "(no more input: the remaining questions are skipped)" in done.stdout
    assert "[score]   1 of 7 points (14%)" in done.stdout


def test_lesson_off_a_terminal_falls_back_to_the_plain_prompt(tmp_path: Path) -> None:
    done = smtp_tutor("lesson", str(LESSON), data=tmp_path, answers=lines(*right_answers()))
    assert done.returncode == 0, done.stderr
    assert "not on a terminal, so printing the plain transcript" in done.stderr
    assert "[score]   7 of 7 points (100%)" in done.stdout


def test_an_unknown_lesson_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = smtp_tutor("lesson", str(tmp_path / "nope.toml"), "--plain", data=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"smtp-tutor: {tmp_path / 'nope.toml'}: no such lesson file\n"


# --------------------------------------------------------------------------- quiz


def test_a_quiz_asks_only_the_questions_of_a_run_that_happened_unshown(tmp_path: Path) -> None:
    done = smtp_tutor(
        "quiz", str(LESSON), "--plain", data=tmp_path, answers=lines(*right_answers())
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "The scenario hello has run (unshown:" in out
    assert "EHLO laptop.example.org" not in out and "[lesson]" not in out  # no transcript
    assert (
        "smtp.example.org sends `RCPT TO:<bob@example.net>` to mx1.example.net. What will the "
        "server answer to it?" in " ".join(out.split())
    )
    assert "[score]   7 of 7 points (100%)" in out
    progress = ProgressStore(tmp_path / "progress.json").load().lessons["hello-basics"]
    assert progress.questions["rcpt-code"].best_score == 1.0
    assert not progress.done  # a quiz scores the questions; the lesson itself is not followed


def test_a_quiz_brings_a_wrong_prediction_back_with_the_real_reply(tmp_path: Path) -> None:
    answers = right_answers()
    answers[1] = "550"
    answers.append("250")
    done = smtp_tutor("quiz", str(LESSON), data=tmp_path, answers=lines(*answers))
    assert done.returncode == 0, done.stderr
    assert "Not right: you predicted 550, the server answered 250." in done.stdout
    assert "[question 2 again: the reply code]" in done.stdout
    assert "[score]   6 of 7 points (86%)" in done.stdout


# --------------------------------------------------------------------------- progress


def test_progress_exported_as_json_imports_elsewhere_and_twice_counts_once(
    tmp_path: Path,
) -> None:
    laptop, lab_box = tmp_path / "laptop", tmp_path / "lab"
    done = smtp_tutor("quiz", str(LESSON), data=laptop, answers=lines(*right_answers()))
    assert done.returncode == 0, done.stderr
    exported = smtp_tutor("progress", "--export", "json", "--student", "ada", data=laptop)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["student"] == "ada"
    export = tmp_path / "ada.json"
    export.write_text(exported.stdout, encoding="utf-8")
    for _ in range(2):
        imported = smtp_tutor("progress", "--import", str(export), data=lab_box)
        assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"Imported the progress of ada from {export}: 1 lessons, 7")
    table = smtp_tutor("progress", "--export", "csv", "--student", "ada", data=lab_box)
    rows = table.stdout.splitlines()
    assert rows[0] == ",".join(CSV_COLUMNS)  # a header row, so a class's files concatenate
    by_id = {row.split(",")[2]: row.split(",") for row in rows[1:]}
    assert by_id["hello-basics/rcpt-code"][3:6] == ["1.000", "1", "yes"]  # counted once
    assert (
        smtp_tutor("progress", "--export", "csv", "--no-header", data=lab_box).stdout.count(
            "student,"
        )
        == 0
    )


def test_a_corrupt_progress_file_is_named_with_its_backup_and_exit_2(tmp_path: Path) -> None:
    tmp_path.joinpath("progress.json").write_text("{ not json", encoding="utf-8")
    done = smtp_tutor("progress", "--export", "csv", data=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    backups = list(tmp_path.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "{ not json"
    assert done.stderr.startswith(f"smtp-tutor: progress file {tmp_path / 'progress.json'}")
    assert f"it was moved to {backups[0]}" in done.stderr
    # the next command starts afresh
    assert smtp_tutor("progress", "--export", "csv", data=tmp_path).returncode == 0


def test_a_lesson_goes_on_past_a_corrupt_progress_file(tmp_path: Path) -> None:
    tmp_path.joinpath("progress.json").write_text("[]", encoding="utf-8")
    done = smtp_tutor("quiz", str(LESSON), data=tmp_path, answers=lines(*right_answers()))
    assert done.returncode == 0
    assert done.stderr.count("could not be read") == 1 and "Traceback" not in done.stderr
    assert "[score]   7 of 7 points (100%)" in done.stdout
    assert ProgressStore(tmp_path / "progress.json").load().lessons["hello-basics"].questions


def test_resetting_asks_first_and_a_script_says_yes(tmp_path: Path) -> None:
    with ProgressStore(tmp_path / "progress.json").update() as progress:
        progress.finish_lesson("hello-basics", 1.0)
        progress.finish_lesson("other", 0.5)
    refused = smtp_tutor("progress", "--reset", "hello-basics", data=tmp_path)
    assert refused.returncode == 2 and "add --yes when not on a terminal" in refused.stderr
    done = smtp_tutor("progress", "--reset", "hello-basics", "--yes", data=tmp_path)
    assert done.returncode == 0 and "is forgotten" in done.stdout
    assert set(ProgressStore(tmp_path / "progress.json").load().lessons) == {"other"}
    typo = smtp_tutor("progress", "--reset", "othr", "--yes", data=tmp_path)
    assert "No progress in lesson 'othr' to forget (did you mean 'other'?)" in typo.stdout
    everything = smtp_tutor("progress", "--reset-all", "--yes", data=tmp_path)
    assert everything.returncode == 0 and "the old file is kept as" in everything.stdout
    assert not ProgressStore(tmp_path / "progress.json").load().lessons
    assert list(tmp_path.glob("progress.json.reset-*"))


# --------------------------------------------------------------------------- pieces


def test_typed_letters_become_the_keys_the_grader_takes() -> None:
    lesson = load_lesson(LESSON)
    by_id = {q.id: q.question for q in lesson.questions if q.question is not None}
    assert parse_response(by_id["why-starttls"], " B ") == "b"
    assert parse_response(by_id["hops"], "a, b") == {"a", "b"}
    assert parse_response(by_id["hops"], "ab") == {"a", "b"}
    order = by_id["order"]
    shown = presented_order(order)
    assert parse_response(order, "c a b") == [shown[2], shown[0], shown[1]]
    assert parse_response(order, "cab") == parse_response(order, "c a b")
    assert parse_response(by_id["submission-port"], "587") == 587.0
    with pytest.raises(ResponseError, match="type letters from a to c"):
        parse_response(by_id["why-starttls"], "d")
    with pytest.raises(ResponseError, match="Pick one letter"):
        parse_response(by_id["why-starttls"], "a b")


def test_the_plain_lesson_and_quiz_paths_never_import_textual() -> None:
    code = (
        "import sys, tutor.cli, tutor.commands.lesson, tutor.commands.quiz, "
        "tutor.commands.lessons, tutor.commands.progress, tutor.learn.plain, tutor.learn.check; "
        "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
