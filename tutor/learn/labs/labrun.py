"""One lab's world, opened through the runner: start it, check it, review it, act in it.

The background world process (``daemon.py``), the authoring check and the tests all use this
one class, so a check gives the same verdict wherever it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from tutor.learn.labs.checks import CheckContext, CheckResult, check_all
from tutor.learn.labs.model import Lab, Step
from tutor.learn.labs.steps import StepLog, run_step
from tutor.run import ClockKind, RunHandle, open_run
from tutor.runstate import WorldInfo


class LabRun:
    """A lab's world (not yet started): ``async with LabRun(lab) as lab_run: ...``."""

    def __init__(self, lab: Lab, *, keep: Path | None = None) -> None:
        self.lab = lab
        # Learners' own clients live in real time, as with `serve`.
        self.run: RunHandle = open_run(
            lab.scenario, what_ifs=lab.what_ifs, clock=ClockKind.REAL, keep=keep
        )
        self.context = CheckContext()

    async def __aenter__(self) -> LabRun:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.run.start()

    async def stop(self) -> None:
        await self.run.stop()

    @property
    def info(self) -> WorldInfo:
        return self.run.state.info

    async def check(self) -> list[CheckResult]:
        return await check_all(self.lab.requirements, self.run, self.context)

    async def do(self, steps: Sequence[Step]) -> list[StepLog]:
        """Do steps one after another as a student would, each on a real socket."""
        logs = []
        for step in steps:
            logs.append(await asyncio.to_thread(run_step, step, self.info))
        await self.settle()
        return logs

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until what the steps set going has happened: a submitted message handed on.

        The world writes what a session caused as it happens; a message a submission server
        queued is delivered by the sender's MTA moments later. Deferred mail stays deferred.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0.05)
        while loop.time() < deadline:
            busy = [q for q in self.run.state.queue() if q.state in ("incoming", "active")]
            if not busy:
                return
            await asyncio.sleep(0.05)

    def review(self) -> list:
        from tutor.learn.labs.review import review_sessions

        return review_sessions(self.run.trace.events)
