"""`smtp-tutor scenarios`: the shipped scenarios, one line each."""

from __future__ import annotations

import argparse

from tutor.scenario import ScenarioError, load_scenario, shipped_scenarios


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def main(args: argparse.Namespace) -> int:
    del args
    rows = []
    for path in shipped_scenarios():
        try:
            rows.append((path.stem, load_scenario(path).description))
        except ScenarioError as exc:  # a broken shipped file must not hide the others
            rows.append((path.stem, f"!! {exc}"))
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    print("\nPrint one: `smtp-tutor run NAME --plain`; step through it: `smtp-tutor run NAME`.")
    return 0
