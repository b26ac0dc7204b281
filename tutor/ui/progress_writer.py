"""Saves the learner's progress as they go, without making a key wait for the disk.

Each change is a read-modify-write of the progress file with an fsync (``ProgressStore``),
a few milliseconds on a laptop and far more on a network home directory. So changes are
queued and written in order by one background task, in a thread (the one place the TUI uses
one: the file lock and fsync block, and the loop must keep answering keys). Changes queued
while a write is under way go out together in the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tutor.learn.progress import Progress, ProgressCorrupt, ProgressError, ProgressStore

Change = Callable[[Progress], object]


class ProgressWriter:
    def __init__(self, store: ProgressStore, on_problem: Callable[[str], None]) -> None:
        self.store = store
        self.on_problem = on_problem  # told once per problem, in words for the learner
        self._queue: list[Change] = []
        self._task: asyncio.Task[None] | None = None
        self.problem = ""

    def save(self, change: Change) -> None:
        """Queue a change; it is written soon, in order with the others."""
        self._queue.append(change)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        """Wait until every queued change is on disk (or has failed)."""
        while self._task is not None and not self._task.done():
            await self._task

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._write, batch)
            except ProgressError as error:
                self._tell(str(error))

    def _write(self, batch: list[Change]) -> None:
        try:
            self._apply(batch)
        except ProgressCorrupt:
            # The unreadable file was moved to a backup (its message says where, once the
            # retry has told the learner); the changes go into a fresh one.
            self._apply(batch)
            raise

    def _apply(self, batch: list[Change]) -> None:
        with self.store.update() as progress:
            for change in batch:
                change(progress)

    def _tell(self, problem: str) -> None:
        if problem != self.problem:
            self.problem = problem
            self.on_problem(problem)
