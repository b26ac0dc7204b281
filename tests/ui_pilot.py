"""Pilot helpers the TUI tests share: wait for the run screen, let workers and redraws settle."""

from __future__ import annotations

from tutor.ui.app import TutorApp
from tutor.ui.screens.run import RunScreen

SMALL = (80, 24)
LARGE = (120, 40)


async def settle(pilot, app: TutorApp) -> None:
    """Wait for running step/run workers and the redraw that follows them."""
    await app.workers.wait_for_complete()
    await pilot.pause()


async def run_screen(pilot, app: TutorApp) -> RunScreen:
    """The run screen once its session has started (the world starts after the first frame)."""
    for _ in range(200):
        if isinstance(app.screen, RunScreen) and app.screen.session is not None:
            await settle(pilot, app)
            return app.screen
        await pilot.pause(0.02)
    raise AssertionError("the run screen did not start")
