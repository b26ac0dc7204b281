"""The command line as a user meets it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def smtp_tutor(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


def test_scenarios_lists_every_shipped_scenario_with_a_description() -> None:
    result = smtp_tutor("scenarios")
    assert result.returncode == 0
    for name in ("hello", "mx-fallback", "no-starttls", "unknown-user", "too-big"):
        line = next(row for row in result.stdout.splitlines() if row.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 20
    assert "  greylist      MX greylists new senders (450)" in result.stdout  # the what-ifs too


def test_malformed_scenario_file_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('[scenario]\ntitle = "x"\n\n[[host]]\nname = "a.example"\nrole = "mx\n')
    result = smtp_tutor("run", str(bad), "--plain")
    assert result.returncode == 2
    assert result.stderr.startswith(f"smtp-tutor: {bad}:6: not valid TOML")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_scenario_and_unknown_what_if_are_clear(tmp_path: Path) -> None:
    result = smtp_tutor("run", "helo", "--plain")
    assert result.returncode == 2 and "did you mean 'hello'" in result.stderr
    result = smtp_tutor("run", "hello", "--plain", "--what-if", "meteor")
    assert result.returncode == 2 and "unknown --what-if 'meteor'" in result.stderr


def test_replay_of_a_file_that_is_not_a_trace_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.jsonl"
    bogus.write_text("hello\n")
    result = smtp_tutor("replay", str(bogus), "--plain")
    assert result.returncode == 2
    assert result.stderr.strip() == f"smtp-tutor: {bogus}:1: not JSON (Expecting value)"


def test_the_tui_off_a_terminal_prints_the_plain_transcript_instead(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tutor", "run", "unknown-user"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert "not on a terminal, so printing the plain transcript" in done.stderr
    assert "550 5.1.1 <carol@example.net>" in done.stdout
    assert "\x1b[" not in done.stdout  # no screen-control codes in a file or a pipe


def test_the_picker_off_a_terminal_says_what_to_do_instead() -> None:
    done = smtp_tutor()
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr and "--plain" in done.stderr


def test_a_record_file_in_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "run.jsonl"
    for extra in (["--plain"], []):  # the printed transcript and the tutor alike
        done = smtp_tutor("run", "hello", "--record", str(missing), *extra)
        assert done.returncode == 2
        assert done.stderr.strip() == f"smtp-tutor: {missing.parent}: no such directory"


def test_a_class_can_run_the_same_scenario_side_by_side_on_one_machine(tmp_path: Path) -> None:
    """Four students start hello at the same moment: each world gets its own ports and
    directories, and each delivers its own message."""
    students = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tutor",
                "run",
                "hello",
                "--plain",
                "--keep",
                str(tmp_path / f"s{i}"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for i, student in enumerate(students):
        out, err = student.communicate(timeout=60)
        assert student.returncode == 0, err
        assert "Scenario 'hello' ended as expected." in out
        assert (
            len(list((tmp_path / f"s{i}" / "mailboxes" / "bob@example.net" / "new").iterdir())) == 1
        )


@pytest.mark.parametrize("argv", [["--projector", "run", "hello"], ["run", "hello", "--projector"]])
def test_projector_works_before_or_after_the_command(argv: list[str]) -> None:
    from tutor.cli import build_parser

    assert build_parser().parse_args(argv).projector is True
    assert build_parser().parse_args(["run", "hello"]).projector is False
