"""`smtp-tutor log [DIR]`: a kept run's mail log in Postfix format, and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), help="a --keep directory")


def main(args: argparse.Namespace) -> int:
    from tutor.cli import UserError

    raise UserError(f"{args.dir}: no mail log yet (the queue is being wired in)")
