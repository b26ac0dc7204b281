"""Pieces several commands share: scenario arguments, what-if toggles, the keep directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutor.errors import UserError
from tutor.scenario import WHAT_IFS, Scenario, apply_what_ifs, load_scenario


def add_scenario_argument(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    parser.add_argument(
        "scenario",
        nargs="?" if optional else None,
        default="hello" if optional else None,
        help="a shipped scenario's name (see `smtp-tutor scenarios`) or a path to a .toml file",
    )
    keys = ", ".join(w.key for w in WHAT_IFS)
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        metavar="FAULT",
        help=f"switch on a fault before the run (repeatable): {keys}",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep mailboxes, CA, logs, the zone file and the recorded trace in DIR "
        "(default: a temp dir)",
    )


def scenario_from_args(args: argparse.Namespace) -> Scenario:

    scenario = load_scenario(args.scenario)
    known = {w.key for w in WHAT_IFS}
    unknown = [k for k in args.what_if if k not in known]
    if unknown:
        raise UserError(f"unknown --what-if {unknown[0]!r}; one of {', '.join(sorted(known))}")
    return apply_what_ifs(scenario, set(args.what_if))


def on_a_terminal() -> bool:
    """Whether the TUI can run here: it reads keys from stdin and draws on stdout."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def falling_back_to_plain(command: str) -> bool:
    """True (after saying so on stderr) when the TUI was asked for but there is no terminal.

    ``smtp-tutor run hello > out.txt`` or ``| less`` then gets the transcript a reader can
    use, instead of screen-control codes and a program waiting for keys that never come.
    """
    if on_a_terminal():
        return False
    print(
        f"smtp-tutor {command}: not on a terminal, so printing the plain transcript "
        "(--plain asks for it explicitly)",
        file=sys.stderr,
    )
    return True
