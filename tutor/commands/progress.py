"""`smtp-tutor progress`: see, export, import or reset what you have done in lessons and labs.

Without options it says where the progress file is and what it holds. ``--export json|csv``
prints it to stdout: JSON to move to another machine (``--import`` merges it there), CSV for a
teacher's class table (every export has the same header, so a class's files concatenate).
Resetting asks first on a terminal; a script says ``--yes``. A corrupt progress file is moved
to a backup by the store, and the message names it (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.errors import UserError

if TYPE_CHECKING:
    from tutor.learn.progress import ProgressStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--export",
        choices=("json", "csv"),
        help="print your progress: json (to --import elsewhere) or csv (for a class table)",
    )
    action.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar="FILE",
        help="merge a JSON export into your progress ('-' reads stdin); importing twice "
        "counts nothing twice",
    )
    action.add_argument("--reset", metavar="LESSON", help="forget one lesson's progress")
    action.add_argument(
        "--reset-all", action="store_true", help="forget everything (the old file is kept)"
    )
    parser.add_argument(
        "--student",
        metavar="NAME",
        help="the name an export carries (default: your login name)",
    )
    parser.add_argument(
        "--no-header",
        action="store_true",
        help="CSV without its header row, to append to a class table",
    )
    parser.add_argument(
        "--yes", "-y", action="store_true", help="reset without asking (for scripts)"
    )


def main(args: argparse.Namespace) -> int:
    from tutor.learn.progress import ProgressStore

    store = ProgressStore()
    if args.export == "json":
        sys.stdout.write(store.export_json(args.student))
    elif args.export == "csv":
        sys.stdout.write(store.export_csv(args.student, header=not args.no_header))
    elif args.import_file is not None:
        _import(store, args.import_file)
    elif args.reset is not None:
        _reset_lesson(store, args.reset, yes=args.yes)
    elif args.reset_all:
        _reset_all(store, yes=args.yes)
    else:
        _show(store)
    return 0


def _import(store: ProgressStore, path: Path) -> None:
    if str(path) == "-":
        text, source = sys.stdin.read(), "the export on stdin"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text, so not a progress export") from None
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
        source = str(path)
    summary = store.import_json(text, source=source)
    who = f" of {summary.student}" if summary.student else ""
    print(
        f"Imported the progress{who} from {source}: {summary.lessons} lessons, "
        f"{summary.questions} questions, {summary.labs} labs, merged into {store.path}"
    )


def _confirm(question: str, *, yes: bool, flag: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"{flag} asks before it forgets anything: add --yes when not on a terminal")
    try:
        reply = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return reply.strip().lower() in ("y", "yes")


def _reset_lesson(store: ProgressStore, lesson_id: str, *, yes: bool) -> None:
    from tutor import tomlfile

    recorded = store.load().lessons
    if lesson_id not in recorded:
        hint = tomlfile.suggestion(lesson_id, sorted(recorded))
        print(f"No progress in lesson {lesson_id!r} to forget{hint}.")
        return
    if not _confirm(
        f"Forget your progress in lesson {lesson_id!r} (answers, score, time)?",
        yes=yes,
        flag="--reset",
    ):
        print("Nothing was forgotten.")
        return
    store.reset_lesson(lesson_id)
    print(f"Your progress in lesson {lesson_id!r} is forgotten.")


def _reset_all(store: ProgressStore, *, yes: bool) -> None:
    if not store.path.exists():
        print("There is no progress to forget yet.")
        return
    if not _confirm(
        "Forget all your progress in every lesson and lab?", yes=yes, flag="--reset-all"
    ):
        print("Nothing was forgotten.")
        return
    backup = store.reset_all()
    kept = f"; the old file is kept as {backup}" if backup is not None else ""
    print(f"All your progress is forgotten{kept}.")


def _show(store: ProgressStore) -> None:
    progress = store.load()
    print(f"Progress file: {store.path}")
    if not progress.lessons and not progress.labs:
        print("Nothing done yet: `smtp-tutor lessons list` shows where to start.")
        return
    for lesson_id, lesson in sorted(progress.lessons.items()):
        answered = sum(q.answered for q in lesson.questions.values())
        score = "" if lesson.best_score is None else f", best {round(lesson.best_score * 100)}%"
        state = "done" if lesson.done else "started"
        print(f"  lesson {lesson_id}: {state}{score}, {answered} questions answered")
    for lab_id, lab in sorted(progress.labs.items()):
        state = "passed" if lab.passed else "not passed yet"
        print(
            f"  lab {lab_id}: {state}, {lab.requirements_passed}/{lab.requirements_total} "
            "requirements at best"
        )
    print("Export it with `smtp-tutor progress --export csv` (or json, to --import elsewhere).")
