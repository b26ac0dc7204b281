"""`smtp-tutor quiz ID`: only a lesson's questions; its run happens first, unshown.

Generated questions need a trace and predict questions a real reply, so the lesson's scenario
runs (not printed) before the first question; a predict question is then asked as "what will
the server answer to <the command>?", its answer the reply the server really gave. The quiz
is asked on the plain prompt (stdin/stdout), with or without --plain.
"""

from __future__ import annotations

import argparse

from tutor.commands.lesson import add_lesson_arguments, run_plain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lesson_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_plain(args, quiz=True)
