"""Wall time of `smtp-tutor run hello --plain` against a bare import baseline, in the same run.

Prints the median of several runs of each. Target (issue 2): <= 0.5 s median for the whole run.
Usage: python bench/run_bench.py [--runs N] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def time_command(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        samples.append(time.perf_counter() - started)
        if result.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {result.stderr.decode()[-500:]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scenario", default="hello")
    args = parser.parse_args()
    baseline = time_command([sys.executable, "-c", "import aiosmtpd, dns.resolver"], args.runs)
    full = time_command([sys.executable, "-m", "tutor", "run", args.scenario, "--plain"], args.runs)
    base_median, full_median = statistics.median(baseline), statistics.median(full)
    print(f"runs per command:                         {args.runs}")
    print(f"baseline  python -c 'import aiosmtpd, dns.resolver'  median {base_median:.3f} s")
    print(
        f"smtp-tutor run {args.scenario} --plain               median {full_median:.3f} s"
        f"  (min {min(full):.3f}, max {max(full):.3f})"
    )
    print(f"ratio run / baseline:                     {full_median / base_median:.2f}x")
    print(f"target <= 0.5 s median:                   {'met' if full_median <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
