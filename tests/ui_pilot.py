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


async def start_from_picker(pilot, app: TutorApp, scenario: str, what_if: str) -> RunScreen:
    """On the picker (waiting for it if a key just asked for it): check that ``scenario`` is
    the chosen one, switch ``what_if`` on, press Start; the run screen once it is up."""
    from textual.widgets import SelectionList

    from tutor.ui.screens.picker import PickerScreen

    for _ in range(100):
        if isinstance(app.screen, PickerScreen):
            break
        await pilot.pause(0.02)
    picker = app.screen
    assert isinstance(picker, PickerScreen)
    assert picker.chosen_name == scenario
    picker.query_one("#what-ifs", SelectionList).select(what_if)
    await pilot.click("#start")
    screen = await run_screen(pilot, app)
    assert screen.spec.what_ifs == frozenset({what_if})
    return screen
