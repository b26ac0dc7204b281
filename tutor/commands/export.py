"""`smtp-tutor export SCENARIO|RUN.jsonl --format txt|html|svg -o FILE`: handout transcripts."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.errors import UserError
from tutor.trace import Event

if TYPE_CHECKING:
    from tutor.scenario import Scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        help="a recorded run (.jsonl, exported as a labelled replay) or a scenario to run now",
    )
    parser.add_argument("--format", choices=("txt", "html", "svg"), default=None)
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (format from its suffix)"
    )


def main(args: argparse.Namespace) -> int:
    from tutor.render.export import ExportFormat, export_transcript
    from tutor.render.transcript import render_replay_banner

    fmt_name = args.format or args.output.suffix.lstrip(".").lower() or "txt"
    try:
        fmt = ExportFormat(fmt_name)
    except ValueError:
        raise UserError(f"cannot export to {fmt_name!r}; use --format txt, html or svg") from None
    source = Path(args.source)
    if source.suffix == ".jsonl" or (source.is_file() and source.suffix != ".toml"):
        from tutor.trace import read_trace

        header, events = read_trace(source)
        banner = render_replay_banner(header)
        title = f"smtp-tutor replay: {header.scenario}"
    else:
        from tutor.scenario import load_scenario

        scenario = load_scenario(args.source)
        events = asyncio.run(_run(scenario))
        banner = []
        title = f"smtp-tutor: {scenario.title}"
    content = export_transcript(events, fmt, title=title, banner=banner)
    try:
        args.output.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write: {exc.strerror}") from None
    print(f"wrote {fmt} transcript to {args.output}")
    return 0


async def _run(scenario: Scenario) -> list[Event]:
    from tutor.run import open_run

    async with open_run(scenario) as run:
        await run.finish()
    return list(run.trace.events)
