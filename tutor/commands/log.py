"""`smtp-tutor log [DIR]`: a kept run's mail log in Postfix format, and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from tutor.errors import UserError

LOG_DIR = "log"
TEXT_LOG = "maillog"
JSON_LOG = "maillog.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", nargs="?", type=Path, default=Path("."), help="a --keep directory (default: here)"
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", help="only the summary")
    shown.add_argument("--no-summary", action="store_true", help="only the log lines")


def find_log(directory: Path) -> tuple[Path, Path]:
    """The text and JSON Lines logs of a kept run: DIR/log/, or DIR itself if it is that folder."""
    for base in (directory / LOG_DIR, directory):
        text, jsonl = base / TEXT_LOG, base / JSON_LOG
        if jsonl.is_file() and text.is_file():
            return text, jsonl
    raise FileNotFoundError(directory)


def main(args: argparse.Namespace) -> int:
    from tutor.render.logsummary import render_summary, summarize

    try:
        text, jsonl = find_log(args.dir)
    except FileNotFoundError:
        raise UserError(
            f"{args.dir}: no mail log here; run a scenario with --keep DIR first "
            f"(it writes DIR/{LOG_DIR}/{TEXT_LOG})"
        ) from None
    try:
        lines = text.read_text(encoding="utf-8")
        summary = summarize(jsonl)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{jsonl}: unreadable mail log: {exc}") from None
    if not args.summary:
        print(lines, end="")
    if not args.no_summary:
        if not args.summary:
            print()
        print(f"Summary of {text} (every host of the world; times are world time)")
        print()
        print(render_summary(summary), end="")
    return 0
