"""Command line: the TUI by default, plus run / serve / replay / scenarios / lessons and friends.

This is the edge where errors a user can cause (a bad scenario file, a busy port, a missing
dependency) become one clear line on stderr and exit code 2 — never a traceback. Commands are
imported lazily so the plain paths never import Textual.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from tutor import __version__
from tutor.errors import UserError

EXIT_USAGE = 2

# subcommand name -> module under tutor.commands providing add_arguments(parser) and main(args)
COMMANDS: dict[str, str] = {
    "run": "Run a scenario: the TUI, or the printed transcript with --plain.",
    "serve": "Keep a scenario's world up for hands-on use with nc, swaks, openssl, dig.",
    "replay": "Show a recorded run (clearly labelled as a replay).",
    "scenarios": "List the shipped scenarios.",
    "check": "Check SPF, DKIM or DMARC against your own zone files and messages.",
    "log": "Print a run's mail log (Postfix format) and a summary.",
    "export": "Write a run's transcript as text, HTML or SVG for slides and handouts.",
    "lesson": "Follow a lesson: its scenario's run, narrated, with questions (--plain: no TUI).",
    "quiz": "Answer only a lesson's questions (its run happens unshown).",
    "lessons": "List the lessons, check lesson files, or export their questions for an LMS.",
    "progress": "See, export, import or reset your progress in lessons and labs.",
    "lab": "Hands-on labs: start one, do the task with real clients, check it against real state.",
    "labs": "For teachers: validate every lab and run its authoring check.",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand ``argv`` names is imported and given its arguments.

    ``smtp-tutor --help`` lists every command from COMMANDS alone, and ``smtp-tutor run ...``
    imports only tutor.commands.run: start-up pays for the command it runs, not for all of
    them. With ``argv`` None (tests, docs) every subcommand is built.
    """
    parser = argparse.ArgumentParser(
        prog="smtp-tutor",
        description="Watch one email's whole life in a real mail world on loopback.",
    )
    parser.add_argument("--version", action="version", version=f"smtp-tutor {__version__}")
    parser.add_argument(
        "--projector", action="store_true", help="high-contrast, large layout for a projector"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _named_command(argv)
    for name, help_text in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if argv is None or name == chosen:
            module = importlib.import_module(f"tutor.commands.{name.replace('-', '_')}")
            module.add_arguments(sub)
            sub.set_defaults(handler=module.main)
    return parser


def _named_command(argv: Sequence[str] | None) -> str | None:
    """The subcommand in ``argv``: its first word that is not an option."""
    for word in argv if argv is not None else sys.argv[1:]:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    try:
        if handler is None:
            from tutor.commands.common import on_a_terminal
            from tutor.commands.run import open_tui

            if not on_a_terminal():
                print(
                    "smtp-tutor: the tutor needs a terminal; `smtp-tutor scenarios` lists the "
                    "scenarios and `smtp-tutor run NAME --plain` prints one",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            return open_tui(None, projector=args.projector)
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `smtp-tutor run hello --plain | head`: the reader left; that is not an error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UserError as exc:  # scenario, trace, zone and lesson errors are all UserErrors
        print(f"smtp-tutor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        print(
            f"smtp-tutor: missing dependency {exc.name!r}: install it with "
            f"`python -m pip install {exc.name}` (or reinstall smtp-tutor: `pip install .`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except OSError as exc:
        if exc.filename is not None:  # a file or directory the user named: --record, -o, ...
            print(f"smtp-tutor: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        if exc.errno == errno.EADDRINUSE:
            print(
                f"smtp-tutor: a port is busy ({exc.strerror}); another world may have just "
                "taken it: run the command again",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            print(
                f"smtp-tutor: cannot bind a loopback address ({exc.strerror}); "
                "set SMTP_TUTOR_SHARED_LOOPBACK=1 to put every host on 127.0.0.1",
                file=sys.stderr,
            )
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    raise SystemExit(main())
