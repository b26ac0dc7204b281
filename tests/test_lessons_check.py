"""`smtp-tutor lessons check` and `lessons list`: a teacher's check of lesson files, and the course.

`check` runs each lesson's scenario for real, so a mistake that only the run shows (an anchor
never met, a template with nothing to ask) is reported like one in the file: FILE:LINE, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lessoncli import LESSON, smtp_tutor

from tutor.learn.lesson import shipped_lessons
from tutor.learn.progress import ProgressStore

# --------------------------------------------------------------------------- lessons check


def test_lessons_check_passes_the_test_lesson_after_running_it(tmp_path: Path) -> None:
    done = smtp_tutor("lessons", "check", str(LESSON), data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK {LESSON}: lesson 'hello-basics'")
    assert "every anchor met in a real run of hello" in done.stdout


def _variant(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, str]:
    text = LESSON.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, path.read_text(encoding="utf-8")


def _line_of(text: str, needle: str, where: str = "line") -> int:
    """The line ``needle`` is first on ("line"), last on ("last"), or of the [[table]] header
    above its first line ("header")."""
    rows = text.splitlines()
    found = [i for i, row in enumerate(rows) if needle in row]
    at = found[-1] if where == "last" else found[0]
    if where == "header":
        at = next(i for i in range(at, -1, -1) if rows[i].startswith("[["))
    return at + 1


MISTAKES = [
    pytest.param(
        'prompt = "Why does',
        'promt = "Why does',
        "promt",
        "line",
        "question[0].promt: unknown key (did you mean 'prompt'?)",
        id="unknown-key-with-did-you-mean",
    ),
    pytest.param(
        'at = { sends = "STARTTLS", host = "laptop" }\ntext',
        'at = { sends = "VRFY" }\ntext',
        'sends = "VRFY"',
        "header",
        "narration never speaks: no event when the client sends VRFY in the real run of hello",
        id="narration-anchor-never-met-in-the-real-run",
    ),
    pytest.param(
        'id = "why-starttls"\nkind = "single"\nat = { sends = "STARTTLS", host = "laptop" }',
        'id = "why-starttls"\nkind = "single"\nat = { sends = "STARTTLS", host = "mx2" }',
        'host = "mx2"',
        "header",
        "question 'why-starttls' is never asked: no event when mx2 sends STARTTLS in the real "
        "run of hello",
        id="question-anchor-never-met-in-the-real-run",
    ),
    pytest.param(
        'template = "mx-first-connect"',
        'template = "mx-first-connect"\nat = { sends = "EHLO", host = "laptop" }',
        'template = "mx-first-connect"',
        "header",
        "question 'mx-first': template 'mx-first-connect' (which MX the sender tried first) "
        "finds nothing to ask when laptop sends EHLO on the real run of hello",
        id="template-that-does-not-apply-at-its-anchor",
    ),
    pytest.param(
        'template = "mx-first-connect"',
        'template = "mx-frist-connect"',
        "mx-frist-connect",
        "header",
        "question 'mx-first': unknown template 'mx-frist-connect' (did you mean "
        "'mx-first-connect'?)",
        id="unknown-template",
    ),
    pytest.param(
        'id = "hops"',
        'id = "order"',
        'id = "order"',
        "last",
        "question[4].id: 'order' is used twice in this lesson",
        id="duplicate-question-id",
    ),
    pytest.param(
        'text = "So the password is encrypted on the wire"\ncorrect = true',
        'text = "So the password is encrypted on the wire"\nmisconception = "none"',
        "[[question.choices]]",
        "line",
        "question[0].choices: a single-choice question needs exactly one right choice, not 0",
        id="answer-not-among-the-choices",
    ),
    pytest.param(
        'scenario = "hello"',
        'scenario = "helo"',
        'scenario = "helo"',
        "line",
        "lesson.scenario: helo: no such scenario (did you mean 'hello'?)",
        id="unknown-scenario",
    ),
    pytest.param(
        'scenario = "hello"',
        'scenario = "hello"\nwhat_ifs = ["greylst"]',
        "what_ifs",
        "line",
        "lesson.what_ifs: unknown what-if 'greylst' (did you mean 'greylist'?)",
        id="unknown-what-if",
    ),
    pytest.param(
        'scenario = "hello"',
        'scenario = "hello"\nprerequisites = ["hello-basic"]',
        "prerequisites",
        "line",
        "lesson.prerequisites: no lesson 'hello-basic' (did you mean 'hello-basics'?)",
        id="prerequisite-that-names-no-lesson",
    ),
]


@pytest.mark.parametrize(("old", "new", "needle", "where", "problem"), MISTAKES)
def test_lessons_check_names_file_line_and_problem_and_exits_2(
    tmp_path: Path, old: str, new: str, needle: str, where: str, problem: str
) -> None:
    path, text = _variant(tmp_path, "broken", old, new)
    if needle == "[[question.choices]]":  # the first choices table of the first question
        line = _line_of(text, 'text = "So the password')
        line = max(i + 1 for i, row in enumerate(text.splitlines()[:line]) if row == needle)
    else:
        line = _line_of(text, needle, where)
    done = smtp_tutor("lessons", "check", str(path), data=tmp_path)
    assert done.returncode == 2
    assert f"{path}:{line}: {problem}" in done.stderr.splitlines()[0], done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_lessons_check_reports_every_problem_of_a_lesson_and_lesson_ids_used_twice(
    tmp_path: Path,
) -> None:
    text = LESSON.read_text(encoding="utf-8")
    broken = text.replace('at = { event = "delivery" }', 'at = { event = "bounce" }').replace(
        'at = { sends = "RCPT", host = "smtp.example.org" }',
        'at = { sends = "RCPT", host = "smtp.example.org", nth = 3 }',
    )
    first = tmp_path / "one.toml"
    first.write_text(broken, encoding="utf-8")
    twin = tmp_path / "twin.toml"
    twin.write_text(text, encoding="utf-8")
    done = smtp_tutor("lessons", "check", str(first), str(twin), data=tmp_path)
    assert done.returncode == 2
    problems = done.stderr.splitlines()
    assert problems[0].startswith(f"{first}:{_line_of(broken, 'bounce', 'header')}: ")
    assert "no event when a bounce event in the real run of hello" in problems[0]
    assert problems[1].startswith(f"{first}:{_line_of(broken, 'nth = 3', 'header')}: ")
    assert "question 'rcpt-code' is never asked" in problems[1]
    assert problems[2] == (
        f"{twin}:5: lesson.id: 'hello-basics' is already the id of {first}; progress is kept "
        "by id, so every lesson needs its own"
    )
    assert problems[3] == "smtp-tutor lessons check: 3 problems in 2 of 2 lesson files"


def test_lessons_check_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    done = smtp_tutor("lessons", "check", str(tmp_path / "nope.toml"), data=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"smtp-tutor: {tmp_path / 'nope.toml'}: no such lesson file\n"


@pytest.mark.parametrize(
    "path", shipped_lessons() or [pytest.param(None, marks=pytest.mark.skip("no lessons yet"))]
)
def test_every_shipped_lesson_passes_lessons_check(tmp_path: Path, path: Path) -> None:
    done = smtp_tutor("lessons", "check", str(path), data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK {path}:")


# --------------------------------------------------------------------------- lessons list


def test_lessons_list_json_parses_with_what_a_tool_needs(tmp_path: Path) -> None:
    done = smtp_tutor("lessons", "list", "--json", data=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert isinstance(rows, list) and len(rows) == len(shipped_lessons())
    assert [row["order"] for row in rows] == sorted(row["order"] for row in rows)
    for row in rows:
        assert {"id", "title", "scenario", "questions", "minutes", "done"} <= set(row)


def test_lessons_list_shows_the_course_in_order_with_progress(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import tutor.learn.lesson
    from tutor import cli

    second = tmp_path / "second.toml"
    second.write_text(
        LESSON.read_text(encoding="utf-8")
        .replace('id = "hello-basics"', 'id = "second"')
        .replace("order = 1", "order = 2")
        .replace("Hello, basics (a test lesson)", "Second"),
        encoding="utf-8",
    )
    monkeypatch.setattr(tutor.learn.lesson, "shipped_lessons", lambda: [second, LESSON])
    monkeypatch.setenv("SMTP_TUTOR_DATA_DIR", str(tmp_path / "data"))
    with ProgressStore().update() as progress:
        progress.finish_lesson("hello-basics", 0.75)
    assert cli.main(["lessons", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["questions"], r["minutes"], r["done"]) for r in rows] == [
        ("hello-basics", 7, 8, True),
        ("second", 7, 8, False),
    ]
    assert rows[0]["best_score"] == 0.75 and rows[0]["scenario"] == "hello"
    assert cli.main(["lessons", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["#", "id", "title", "scenario", "questions", "minutes", "done"]
    assert table[1].split()[:2] == ["1", "hello-basics"] and table[1].endswith("done, 75%")
    assert table[2].split()[:2] == ["2", "second"] and table[2].endswith("-")
