"""`smtp-tutor scenarios`: the shipped scenarios, one line each, and the what-if toggles."""

from __future__ import annotations

import argparse

from tutor.scenario import WHAT_IFS, ScenarioError, load_scenario, shipped_scenarios


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
    print("\nWhat-ifs, for any scenario (`--what-if KEY`, repeatable, or in the tutor's picker):")
    key_width = max(len(w.key) for w in WHAT_IFS)
    for what_if in WHAT_IFS:
        print(f"  {what_if.key:<{key_width}}  {what_if.label}")
    print("\nPrint one: `smtp-tutor run NAME --plain`; step through it: `smtp-tutor run NAME`.")
    return 0
