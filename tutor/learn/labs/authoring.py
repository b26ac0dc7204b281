"""The authoring check `smtp-tutor labs check` runs on every lab, each in fresh worlds.

1. A fresh world fails every requirement, each with its intended message (``fresh``).
2. The reference solution, done as a student would, passes every requirement.
3. Each near-miss fails the requirements it lists (with its ``message`` when given).

Each of these runs in its own world, in this process, through the same checks `lab check`
asks the background world for: what passes here passes for the student.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tutor.learn.labs.checks import CheckResult
from tutor.learn.labs.labrun import LabRun
from tutor.learn.labs.model import Lab, Step
from tutor.learn.labs.steps import StepLog


@dataclass
class AuthoringReport:
    lab: Lab
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what held, in words

    @property
    def ok(self) -> bool:
        return not self.problems


async def _results(lab: Lab, steps: Sequence[Step]) -> tuple[list[CheckResult], list[StepLog]]:
    async with LabRun(lab) as lab_run:
        logs = await lab_run.do(steps) if steps else []
        return await lab_run.check(), logs


def _steps_said(logs: Sequence[StepLog]) -> str:
    return "; the steps ended: " + " / ".join(log.tail(4) for log in logs) if logs else ""


async def authoring_check(lab: Lab) -> AuthoringReport:
    report = AuthoringReport(lab)

    fresh, _ = await _results(lab, ())
    for requirement, result in zip(lab.requirements, fresh, strict=True):
        if result.passed:
            report.problems.append(f"requirement {requirement.id!r} passes in a fresh world")
        elif requirement.fresh not in result.message:
            report.problems.append(
                f"requirement {requirement.id!r} fails fresh with {result.message!r}, "
                f"not the intended {requirement.fresh!r}"
            )
    if not report.problems:
        report.checked.append(f"a fresh world fails all {len(fresh)} as intended")

    solved, logs = await _results(lab, lab.solution)
    failing = [r for r in solved if not r.passed]
    for result in failing:
        report.problems.append(
            f"the reference solution fails {result.id!r}: {result.message}{_steps_said(logs)}"
        )
    if not failing:
        report.checked.append("the reference solution passes them all")

    for near_miss in lab.near_misses:
        results, logs = await _results(lab, near_miss.steps)
        by_id = {r.id: r for r in results}
        wrong = []
        for requirement_id in near_miss.fails:
            result = by_id[requirement_id]
            if result.passed:
                wrong.append(f"passes {requirement_id!r}")
            elif near_miss.message and near_miss.message not in result.message:
                wrong.append(
                    f"fails {requirement_id!r} with {result.message!r}, which does not say "
                    f"{near_miss.message!r}"
                )
        if wrong:
            report.problems.append(
                f"near-miss {near_miss.name!r} " + "; ".join(wrong) + _steps_said(logs)
            )
        else:
            report.checked.append(f"near-miss {near_miss.name!r} fails as it should")
    return report
