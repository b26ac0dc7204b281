"""`smtp-tutor labs check [LAB ...]`: validate lab files and run the authoring check.

Every lab file is read first (a mistake is one line, FILE:LINE, exit 2); then each lab runs in
fresh worlds: unsolved it must fail every requirement with its intended message, its
reference solution must pass them all, and each near-miss must fail what it lists (exit 1
when any of that does not hold). ``--files-only`` stops after reading the files.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="Validate every lab and run its authoring check.",
        description="Validate every lab and run its authoring check.",
    )
    check.add_argument("labs", nargs="*", help="lab ids or folders (default: every shipped lab)")
    check.add_argument(
        "--root", type=Path, help="check every lab folder under ROOT instead of the shipped ones"
    )
    check.add_argument(
        "--files-only", action="store_true", help="only read the files; start no world"
    )


def main(args: argparse.Namespace) -> int:
    from tutor.learn.labs.loader import load_lab, load_labs

    labs = [load_lab(item) for item in args.labs] if args.labs else load_labs(args.root)
    print(f"{len(labs)} lab file{'s' if len(labs) != 1 else ''} read without a problem.")
    if args.files_only:
        return 0
    return asyncio.run(_authoring(labs))


async def _authoring(labs) -> int:
    from tutor.learn.labs.authoring import authoring_check

    failed = 0
    for lab in labs:
        report = await authoring_check(lab)
        if report.ok:
            print(f"✓ {lab.id}: " + "; ".join(report.checked))
            continue
        failed += 1
        print(f"✗ {lab.id} ({lab.lab_file}):")
        for problem in report.problems:
            print(f"    {problem}")
    print(
        "All labs pass their authoring check."
        if not failed
        else f"{failed} of {len(labs)} labs fail their authoring check."
    )
    return 1 if failed else 0
