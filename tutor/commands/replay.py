"""`smtp-tutor replay FILE`: show a recorded run, labelled as a replay (no traffic happens)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutor.commands.common import falling_back_to_plain
from tutor.trace import read_trace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a trace written by --record or --keep")
    parser.add_argument("--plain", action="store_true", help="print the transcript, no TUI")
    parser.add_argument("--explain", action="store_true", help="explain each line inline")
    parser.add_argument("--colour", "--color", choices=("auto", "always", "never"), default="auto")


def main(args: argparse.Namespace) -> int:
    header, events = read_trace(args.file)
    if not (args.plain or falling_back_to_plain("replay")):
        from tutor.ui.app import run_tui

        label = f"REPLAY of {args.file.name} ({header.scenario}, recorded {header.started})"
        return run_tui(header.scenario or None, replay=events, replay_label=label)
    from tutor.render.transcript import TranscriptPrinter, render_replay_banner, should_colour

    colour = {"always": True, "never": False}.get(args.colour, should_colour(sys.stdout))
    for line in render_replay_banner(header):
        print(line)
    printer = TranscriptPrinter(sys.stdout, color=colour, explain=args.explain)
    for event in events:
        printer(event)
    printer.close()
    for line in render_replay_banner(header, closing=True):
        print(line)
    return 0
