"""`smtp-tutor serve [SCENARIO]`: keep a world up for nc, swaks, openssl s_client and dig."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from tutor.commands.common import add_scenario_argument, scenario_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_argument(parser, optional=True)
    parser.add_argument(
        "--json", action="store_true", help="print the world as one JSON object on the first line"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not print the live transcript of what happens"
    )


def main(args: argparse.Namespace) -> int:
    scenario = scenario_from_args(args)
    return asyncio.run(serve(scenario, args))


async def serve(scenario, args: argparse.Namespace) -> int:
    from tutor.render.serveinfo import render_serve_info
    from tutor.render.transcript import TranscriptPrinter, should_colour
    from tutor.run import ClockKind, open_run

    # Learners' own clients live in real time: a retry in 300 s really takes five minutes.
    run = open_run(scenario, keep=args.keep, clock=ClockKind.REAL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run:
        info = run.state.info
        if args.json:
            print(json.dumps(info.to_json()), flush=True)
        else:
            for line in render_serve_info(info):
                print(line)
            sys.stdout.flush()
        if not (args.quiet or args.json):
            # Each step once: the world's own sessions from the client's side, a learner's
            # nc or swaks session from the server's (the only side the world sees).
            run.trace.subscribe(TranscriptPrinter(sys.stdout, color=should_colour(sys.stdout)))
        await stop.wait()
    if not args.json:
        kept = f"kept in {args.keep}" if args.keep else "removed"
        print(f"\nWorld stopped; its mailboxes are {kept}.")
    return 0
