"""`smtp-tutor lessons list|check`: the course in order, and a teacher's check of lesson files.

``list`` shows every shipped lesson with its scenario, questions, minutes and (from this
user's progress) whether it is done and its best score; ``--json`` prints the same as a list
of objects. ``check`` runs tutor/learn/check.py over the files given (default: every shipped
lesson): each problem is one ``FILE:LINE: problem`` line on stderr and the exit code is 2,
otherwise one OK line per lesson.
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
