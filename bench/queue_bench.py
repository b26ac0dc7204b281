"""Wall time of the `mx-down` world: five simulated days of retries (108 attempts) to the bounce.

Two figures, each the median of several runs: the world alone (start, submit, every attempt,
the delay warning and the DSN delivered over SMTP into alice's Maildir, stop) in this process,
and the whole command `smtp-tutor run mx-down --plain` (interpreter start, transcript printed).
Target (issue 5): <= 2 s. Usage: python bench/queue_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.run import open_run
from tutor.trace import QueueChange


async def one_world(scenario_name: str) -> tuple[float, int, float]:
    """(wall seconds, attempts of the first message, simulated seconds from start to the end)."""
    started = time.perf_counter()
    async with open_run(scenario_name) as run:
        result = await run.finish()
    wall = time.perf_counter() - started
    if not result.ok:
        sys.exit(f"{scenario_name} did not end as expected: {result.mismatches}")
    changes = run.trace.of_type(QueueChange)
    first = changes[0].queue_id
    attempts = sum(1 for c in changes if c.queue_id == first and c.state == "active")
    simulated = run.trace.events[-1].time - run.trace.events[0].time
    return wall, attempts, simulated


def time_command(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", default="mx-down")
    args = parser.parse_args()
    worlds = [asyncio.run(one_world(args.scenario)) for _ in range(args.runs)]
    walls = [w for w, _, _ in worlds]
    _, attempts, simulated = worlds[0]
    command = time_command(
        [sys.executable, "-m", "tutor", "run", args.scenario, "--plain"], args.runs
    )
    print(f"scenario                         {args.scenario}")
    print(f"runs                             {args.runs}")
    print(f"attempts of the message          {attempts}")
    print(f"simulated time                   {simulated / 86400:.2f} days")
    print(
        f"world (in process)   median {statistics.median(walls):.3f} s   "
        f"min {min(walls):.3f} s   max {max(walls):.3f} s"
    )
    print(
        f"run --plain (CLI)    median {statistics.median(command):.3f} s   "
        f"min {min(command):.3f} s   max {max(command):.3f} s"
    )
    print("target                           <= 2 s")


if __name__ == "__main__":
    main()
