"""The step gate: the world awaits it before each protocol step so a UI can step the run.

Open (the default) lets every step through at once: plain runs never wait. A closed gate lets
one waiting step through per ``release()``; ``open()`` lets everything through again (play).
Going back is a view operation on the recorded trace, never a rewind of sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from tutor.runstate import PendingStep


class StepGate:
    def __init__(self, *, open_: bool = True) -> None:
        self._open = open_
        self._credits = 0
        self._changed = asyncio.Event()
        self.waiting: PendingStep | None = None  # what the world is about to do
        self.on_wait: Callable[[PendingStep], None] | None = None
        # What to hold while a step waits for the learner: the world's clock (World sets it).
        self.hold_time: Callable[[], AbstractContextManager[None]] = nullcontext

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        self._open = True
        self._changed.set()

    def close(self) -> None:
        self._open = False

    def release(self, steps: int = 1) -> None:
        """Let ``steps`` more waits through (used while the gate is closed)."""
        self._credits += steps
        self._changed.set()

    async def wait(self, what: PendingStep) -> None:
        """Called by the world before a step; returns when the step may happen."""
        if self._open:
            return
        self.waiting = what
        if self.on_wait is not None:
            self.on_wait(what)
        if self._credits <= 0:
            with self.hold_time():  # the learner's thinking time is not the mail's
                while not self._open and self._credits <= 0:
                    self._changed.clear()
                    await self._changed.wait()
        if not self._open:
            self._credits -= 1
        self.waiting = None
