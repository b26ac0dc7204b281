"""Wall time of `smtp-tutor lab start` (to a ready world) and `smtp-tutor lab check`.

Each figure is the median of several runs of the real command line in a fresh lab folder:
``start`` from nothing running to the banner printed (the background world up, its state
written, its socket answering); ``check`` on the fresh world and again after the reference
solution was done in it (every requirement graded: the Maildir, the sessions, the DNS). Target
(issue 13): ``lab check`` under 1 s where no retry wait is involved.
Usage: python bench/lab_bench.py [--runs N] [--lab ID]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0, 1)) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


def solve(lab_id: str, env: dict[str, str]) -> None:
    """The lab's reference solution against its running world, as a student would do it."""
    os.environ.update(env)
    from tutor.learn.labs.loader import load_lab
    from tutor.learn.labs.place import LabPlace
    from tutor.learn.labs.reach import info_from_json
    from tutor.learn.labs.steps import run_step

    state = LabPlace.of(lab_id).read_state()
    assert state is not None
    info = info_from_json(state["world"])
    for step in load_lab(lab_id).solution:
        run_step(step, info)
    time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lab", default="speak-smtp")
    args = parser.parse_args()
    tutor = [sys.executable, "-m", "tutor", "lab"]
    starts, fresh_checks, solved_checks = [], [], []
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as home:
        env = {
            **os.environ,
            "SMTP_TUTOR_LAB_DIR": str(Path(home) / "labs"),
            "SMTP_TUTOR_DATA_DIR": str(Path(home) / "data"),
        }
        try:
            for _ in range(args.runs):
                starts.append(timed([*tutor, "start", args.lab], env, ok=(0,)))
                fresh_checks.append(timed([*tutor, "check", args.lab], env))
                solve(args.lab, env)
                solved_checks.append(timed([*tutor, "check", args.lab], env, ok=(0,)))
                timed([*tutor, "stop", args.lab], env, ok=(0,))
        finally:
            subprocess.run([*tutor, "stop"], env=env, capture_output=True, check=False)

    def line(what: str, samples: list[float]) -> str:
        return (
            f"{what:<34} median {statistics.median(samples):.3f} s"
            f"  (min {min(samples):.3f}, max {max(samples):.3f})"
        )

    print(f"lab {args.lab}, runs: {args.runs}")
    print(line("lab start (nothing running → ready)", starts))
    print(line("lab check (fresh world)", fresh_checks))
    print(line("lab check (after the solution)", solved_checks))
    worst = max(statistics.median(fresh_checks), statistics.median(solved_checks))
    print(f"target lab check < 1 s:            {'met' if worst < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
