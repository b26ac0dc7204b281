"""`smtp-tutor run SCENARIO`: the TUI on a scenario, or with --plain the printed transcript."""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from pathlib import Path

from tutor.commands.common import (
    add_scenario_argument,
    falling_back_to_plain,
    scenario_from_args,
)
from tutor.scenario import Scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_argument(parser)
    parser.add_argument("--plain", action="store_true", help="print the transcript, no TUI")
    parser.add_argument(
        "--explain", action="store_true", help="explain each line inline (with --plain)"
    )
    parser.add_argument(
        "--both-sides",
        action="store_true",
        help="also print each line as the server recorded it (with --plain)",
    )
    parser.add_argument("--record", type=Path, metavar="FILE", help="write the trace as JSON Lines")
    parser.add_argument(
        "--colour",
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="highlight the transcript (auto: only on a terminal, and never with NO_COLOR)",
    )
    # SUPPRESS: unset here, the global `smtp-tutor --projector run X` still counts.
    parser.add_argument(
        "--projector", action="store_true", default=argparse.SUPPRESS, help="projector layout (TUI)"
    )


def main(args: argparse.Namespace) -> int:
    scenario = scenario_from_args(args)
    _check_output_paths(args)
    if not (args.plain or falling_back_to_plain("run")):
        return open_tui(scenario, projector=args.projector, keep=args.keep, record=args.record)
    return asyncio.run(run_plain(scenario, args))


def _check_output_paths(args: argparse.Namespace) -> None:
    """Fail before any world starts (and before the TUI takes the screen) on paths that
    cannot be written: the CLI turns the OSError into one line and exit 2."""
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    if args.record is not None and not args.record.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(args.record.parent))


def open_tui(
    scenario: Scenario | str | None,
    *,
    projector: bool = False,
    keep: Path | None = None,
    record: Path | None = None,
) -> int:
    """Start the Textual app (imported only here, so plain runs never load Textual)."""
    from tutor.ui.app import run_tui

    return run_tui(scenario, projector=projector, keep=keep, record=record)


async def run_plain(scenario: Scenario, args: argparse.Namespace) -> int:
    """Run the world once, printing every event as it happens; exit 0 if it ended as expected."""
    from tutor.render.transcript import TranscriptPrinter, should_colour
    from tutor.run import open_run

    colour = {"always": True, "never": False}.get(args.colour, should_colour(sys.stdout))
    printer = TranscriptPrinter(
        sys.stdout, color=colour, explain=args.explain, show_server_side=args.both_sides
    )
    run = open_run(scenario, record=args.record, keep=args.keep)
    run.trace.subscribe(printer)
    async with run:
        result = await run.finish()
    printer.close()
    from tutor.render.timeline import render_timelines

    for line in render_timelines(run.trace.events):  # only messages that were retried
        print(line)
    if not result.ok:
        verdict = "NOT as the scenario expects"
    elif result.unjudged:
        verdict = f"with {', '.join(result.unjudged)} not judged: a what-if changed what to expect"
    else:
        verdict = "as expected"
    print(f"\nScenario {scenario.name!r} ended {verdict}.")
    for mismatch in result.mismatches:
        print(f"  !! {mismatch}")
    if args.keep:
        print(f"Mailboxes, CA, zone file (world.zone), trace and mail log kept in {args.keep}")
    return 0 if result.ok else 1
