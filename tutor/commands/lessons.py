"""`smtp-tutor lessons list|check|export`: the course, a teacher's check, and questions for an LMS.

``list`` shows every shipped lesson with its scenario, questions, minutes and (from this
user's progress) whether it is done and its best score; ``--json`` prints the same as a list
of objects. ``check`` runs tutor/learn/check.py over the files given (default: every shipped
lesson): each problem is one ``FILE:LINE: problem`` line on stderr and the exit code is 2,
otherwise one OK line per lesson. ``export`` writes the lessons' questions as Moodle XML or a
QTI 2.1 package (tutor/learn/lms): the written ones, and the run-made ones as asked on a
recorded run (``--run``) or a fresh one; what a format cannot hold is said on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tutor.errors import UserError

EXIT_PROBLEMS = 2
EXPORT_NAMES = {"moodle": "smtp-tutor-questions.xml", "qti": "smtp-tutor-questions-qti.zip"}
FORMAT_NAMES = {"moodle": "Moodle XML", "qti": "a QTI 2.1 package"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="lessons_action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="every shipped lesson in course order, with your progress",
        description="Every shipped lesson in course order: id, title, scenario, questions, "
        "minutes, and whether you have done it (from your progress).",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list of lessons")
    listing.set_defaults(lessons_handler=_list)
    check = actions.add_parser(
        "check",
        help="validate lesson files, running each one's scenario",
        description="Validate lesson files: the format, the scenario and its what-ifs, unique "
        "ids, answers among the choices, and, by running the scenario for real, that every "
        "anchor is met, every generated question can be asked and every predicted command "
        "gets a reply. Problems are FILE:LINE lines and exit code 2.",
    )
    check.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="lesson files to check (default: every shipped lesson)",
    )
    check.set_defaults(lessons_handler=_check)
    export = actions.add_parser(
        "export",
        help="write lesson questions as Moodle XML or a QTI 2.1 package",
        description="Write the questions of lessons for a learning management system: every "
        "written question, and the predict and generated ones as asked on a run — the trace "
        "given with --run (recorded by `smtp-tutor run SCENARIO --plain --record FILE`), or a "
        "fresh run of each lesson's scenario. Each run-made question says which run it was "
        "asked on. Lessons stay authored in TOML; re-export after editing them.",
    )
    export.add_argument(
        "--format", required=True, choices=("moodle", "qti"), help="Moodle XML or QTI 2.1 (zip)"
    )
    export.add_argument(
        "lessons",
        nargs="*",
        metavar="ID",
        help="lesson ids or lesson files (default: every shipped lesson)",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE|DIR",
        help=f"where to write (a folder gets {EXPORT_NAMES['moodle']} or "
        f"{EXPORT_NAMES['qti']}; '-' is standard output; default: the current folder)",
    )
    export.add_argument(
        "--run",
        action="append",
        type=Path,
        default=[],
        metavar="FILE.jsonl",
        help="a recorded trace to take run-made questions from, one per scenario (repeatable)",
    )
    export.add_argument(
        "--written-only",
        action="store_true",
        help="export only the written questions (no run)",
    )
    export.set_defaults(lessons_handler=_export)


def main(args: argparse.Namespace) -> int:
    return int(args.lessons_handler(args))


# --------------------------------------------------------------------------- list


def _list(args: argparse.Namespace) -> int:
    from tutor.learn.lesson import LessonError, load_lesson, shipped_lessons

    rows: list[dict[str, Any]] = []
    for path in shipped_lessons():
        try:
            lesson = load_lesson(path)
        except LessonError as exc:  # a broken shipped file must not hide the others
            rows.append({"id": path.stem, "path": str(path), "error": str(exc)})
            continue
        rows.append(
            {
                "id": lesson.id,
                "order": lesson.order,
                "title": lesson.title,
                "scenario": lesson.scenario,
                "what_ifs": list(lesson.what_ifs),
                "questions": len(lesson.questions),
                "minutes": lesson.minutes,
                "minutes_teaching": lesson.minutes_teaching,
                "minutes_exercises": lesson.minutes_exercises,
                "prerequisites": list(lesson.prerequisites),
                "path": str(path),
            }
        )
    rows.sort(key=lambda row: (row.get("order", 1 << 30), row["id"]))
    _add_progress(rows)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No lessons are shipped yet; `smtp-tutor scenarios` lists the scenarios.")
        return 0
    _print_table(rows)
    return 0


def _add_progress(rows: list[dict[str, Any]]) -> None:
    """Each lesson's done and best score from this user's progress (a bad file: said once)."""
    from tutor.learn.progress import ProgressError, ProgressStore

    try:
        progress = ProgressStore().load()
    except ProgressError as exc:
        print(f"smtp-tutor: {exc}", file=sys.stderr)
        progress = None
    for row in rows:
        record = progress.lessons.get(row["id"]) if progress is not None else None
        row["done"] = bool(record and record.done)
        row["best_score"] = record.best_score if record is not None else None


def _print_table(rows: list[dict[str, Any]]) -> None:
    headers = ("#", "id", "title", "scenario", "questions", "minutes", "done")
    table = []
    for number, row in enumerate(rows, start=1):
        if "error" in row:
            table.append((str(number), row["id"], f"!! {row['error']}", "", "", "", ""))
            continue
        scenario = " + ".join([row["scenario"], *row["what_ifs"]])
        if row["done"]:
            score = row["best_score"]
            done = "done" if score is None else f"done, {round(score * 100)}%"
        else:
            done = "-"
        table.append(
            (
                str(number),
                row["id"],
                row["title"],
                scenario,
                str(row["questions"]),
                str(row["minutes"]),
                done,
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    last = len(headers) - 1
    for line in (headers, *table):
        cells = [cell.ljust(widths[i]) if i < last else cell for i, cell in enumerate(line)]
        print("  ".join(cells).rstrip())
    print(
        "\nOpen one: `smtp-tutor lesson ID` (the tutor) or `smtp-tutor lesson ID --plain`; "
        "only its questions: `smtp-tutor quiz ID`."
    )


# --------------------------------------------------------------------------- check


def _check(args: argparse.Namespace) -> int:
    from tutor.learn.check import check_lessons
    from tutor.learn.lesson import lessons_root, shipped_lessons

    files: list[Path] = list(args.files) or shipped_lessons()
    if not files:
        print(f"No lesson files in {lessons_root()} to check.", file=sys.stderr)
        return 0
    for path in files:
        if not path.is_file():
            raise UserError(f"{path}: no such lesson file")
    reports = asyncio.run(check_lessons(files))
    problems = 0
    for report in reports:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        problems += len(report.problems)
        if report.ok:
            print(report.summary())
    if problems:
        bad = sum(not r.ok for r in reports)
        print(
            f"smtp-tutor lessons check: {problems} problem{'s' if problems > 1 else ''} in "
            f"{bad} of {len(reports)} lesson file{'s' if len(reports) > 1 else ''}",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    return 0


# --------------------------------------------------------------------------- export


def _export(args: argparse.Namespace) -> int:
    from tutor.learn.lesson import load_lesson, load_lessons
    from tutor.learn.lms.bank import gather, recorded_run
    from tutor.learn.lms.moodle import moodle_xml
    from tutor.learn.lms.qti import qti_package

    if args.written_only and args.run:
        raise UserError("--written-only runs nothing, so it takes no --run")
    target = _export_target(args.output, args.format)
    lessons = [load_lesson(name) for name in args.lessons] if args.lessons else load_lessons()
    if not lessons:
        raise UserError("no lessons to export")
    recordings = [recorded_run(path) for path in args.run]
    bank = asyncio.run(gather(lessons, recordings=recordings, written_only=args.written_only))
    data, notes = (moodle_xml if args.format == "moodle" else qti_package)(bank)
    for note in [*bank.notes, *notes]:
        print(f"smtp-tutor lessons export: {note}", file=sys.stderr)
    if target is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            target.write_bytes(data)
        except OSError as exc:
            raise UserError(f"{target}: cannot write: {exc.strerror}") from exc
    questions = bank.questions()
    from_runs = sum(q.origin is not None for q in questions)
    made = f" ({from_runs} of them as asked on a run)" if from_runs else ""
    where = "standard output" if target is None else str(target)
    print(
        f"Wrote {_count(len(questions), 'question')} from {_count(len(bank.lessons), 'lesson')}"
        f"{made} to {where} as {FORMAT_NAMES[args.format]}.",
        file=sys.stderr if target is None else sys.stdout,
    )
    return 0


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _export_target(output: str | None, fmt: str) -> Path | None:
    """The file to write (None: standard output); a folder gets the format's default name."""
    if output == "-":
        return None
    path = Path(output) if output else Path.cwd()
    if path.is_dir():
        return path / EXPORT_NAMES[fmt]
    if output and output.endswith(("/", "\\")):
        raise UserError(f"{output}: no such folder")
    if not path.parent.is_dir():
        raise UserError(f"{path}: no such folder {path.parent}")
    return path
