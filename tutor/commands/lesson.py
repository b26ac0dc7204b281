"""`smtp-tutor lesson ID`: follow a lesson in the TUI, or with --plain on a plain prompt.

The plain prompt (tutor/learn/plain.py) prints the narration between the lines of the real
transcript and asks the questions on stdin/stdout: for screen readers, scripts (answers can
be piped in, one a line) and terminals without the TUI. Off a terminal the plain prompt is
used even without --plain, as ``run`` falls back to its plain transcript.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tutor.commands.common import falling_back_to_plain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lesson_arguments(parser)
    parser.add_argument(
        "--explain", action="store_true", help="explain each transcript line inline (with --plain)"
    )
    # SUPPRESS: unset here, the global `smtp-tutor --projector lesson X` still counts.
    parser.add_argument(
        "--projector", action="store_true", default=argparse.SUPPRESS, help="projector layout (TUI)"
    )


def add_lesson_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments `lesson` and `quiz` share."""
    parser.add_argument(
        "lesson", metavar="ID", help="a lesson's id (see `smtp-tutor lessons list`) or a file"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="no TUI: plain lines on stdout, answers read from stdin one a line",
    )
    parser.add_argument(
        "--colour",
        "--color",
        choices=("auto", "always", "never"),
        default="never",
        help="highlight the transcript (default never; auto: only on a terminal, not with "
        "NO_COLOR)",
    )


def main(args: argparse.Namespace) -> int:
    from tutor.learn.lesson import load_lesson

    load_lesson(args.lesson)  # a bad id or file: one line, exit 2, before any screen opens
    if not (args.plain or falling_back_to_plain("lesson")):
        from tutor.ui.app import run_tui

        return run_tui(None, projector=args.projector, lesson=args.lesson)
    return run_plain(args, quiz=False)


def run_plain(args: argparse.Namespace, *, quiz: bool) -> int:
    """The lesson (or only its questions) on the plain prompt, to the score."""
    from tutor.learn.lesson import load_lesson
    from tutor.learn.plain import AnswerLines, PlainLesson, ProgressLog
    from tutor.learn.progress import ProgressStore
    from tutor.render.transcript import should_colour

    lesson = load_lesson(args.lesson)
    colour = {"always": True, "never": False}.get(args.colour, should_colour(sys.stdout))
    session = PlainLesson(
        lesson,
        out=sys.stdout,
        answers=AnswerLines(sys.stdin),
        progress=ProgressLog(lesson.id, ProgressStore(), _warn),
        interactive=sys.stdin.isatty() and sys.stdout.isatty(),
        colour=colour,
        explain=getattr(args, "explain", False),
    )
    asyncio.run(session.run_quiz() if quiz else session.run_lesson())
    return 0


def _warn(message: str) -> None:
    print(f"smtp-tutor: {message}", file=sys.stderr)
