"""The Textual app: wires the picker, run and help screens together; holds little logic itself."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from tutor.scenario import Scenario
from tutor.trace import Event
from tutor.ui.commands import TutorCommands
from tutor.ui.lines import use_dark_palette

if TYPE_CHECKING:
    from textual.screen import Screen

    from tutor.ui.screens.picker import PickerScreen

    PickerChosen = PickerScreen.Chosen
from tutor.ui.screens.run import RunScreen, RunSpec
from tutor.ui.themes import THEMES, theme_for


def _picker(selected: str | None, what_ifs: frozenset[str]) -> Screen[None]:
    """The picker screen, imported on demand (a run started from the command line skips it)."""
    from tutor.ui.screens.picker import PickerScreen

    return PickerScreen(selected, what_ifs)


class TutorApp(App[int]):
    """smtp-tutor's terminal UI.

    ``scenario`` opens straight on a run (a shipped name, a path or a loaded Scenario); without
    it the picker opens. ``replay`` shows a recorded trace instead of starting a world.
    ``stepped=False`` lets the world run freely (the view still reveals one line per step).
    """

    CSS_PATH = "tutor.tcss"
    TITLE = "smtp-tutor"
    COMMANDS = App.COMMANDS | {TutorCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("t", "toggle_projector", "Projector"),
        Binding("x", "export_svg", "Export SVG"),
        Binding("ctrl+l", "toggle_dark", "Light/dark theme", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        projector: bool = False,
        *,
        what_ifs: Sequence[str] = (),
        replay: Sequence[Event] | None = None,
        replay_label: str = "",
        stepped: bool = True,
        export_dir: Path | None = None,
        keep: Path | None = None,
        record: Path | None = None,
    ) -> None:
        super().__init__()
        self.initial_spec: RunSpec | None = None
        if replay is not None:
            self.initial_spec = RunSpec(replay=tuple(replay), label=replay_label or "replay")
        elif scenario is not None:
            self.initial_spec = RunSpec(
                scenario=scenario, what_ifs=frozenset(what_ifs), keep=keep, record=record
            )
        self.projector = projector
        self.dark_mode = True
        self.stepped = stepped
        self.export_dir = export_dir or Path.cwd()
        self._last_pick: tuple[str | None, frozenset[str]] = (
            scenario if isinstance(scenario, str) else getattr(scenario, "name", None),
            frozenset(what_ifs),
        )

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = theme_for(projector=self.projector, dark=self.dark_mode)
        if self.initial_spec is not None:
            self.push_screen(RunScreen(self.initial_spec, stepped=self.stepped))
        else:
            self.push_screen(_picker(*self._last_pick))

    # ------------------------------------------------------------------ screens

    @property
    def run_screen(self) -> RunScreen | None:
        return self.screen if isinstance(self.screen, RunScreen) else None

    async def on_picker_screen_chosen(self, message: PickerChosen) -> None:
        self._last_pick = (message.name, message.what_ifs)
        spec = RunSpec(scenario=message.name, what_ifs=message.what_ifs)
        await self.switch_screen(RunScreen(spec, stepped=self.stepped))

    async def action_pick_scenario(self) -> None:
        screen = self.run_screen
        if screen is not None:
            await screen.stop_run()
        await self.switch_screen(_picker(*self._last_pick))

    def action_help(self) -> None:
        # Imported here: the Markdown widget is slow to import and only needed on demand.
        from tutor.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        bindings = list(self.screen.BINDINGS) + list(self.BINDINGS)
        self.push_screen(HelpScreen([b for b in bindings if isinstance(b, Binding)]))

    # ------------------------------------------------------------------ looks

    def action_toggle_projector(self) -> None:
        self.projector = not self.projector
        self.theme = theme_for(projector=self.projector, dark=self.dark_mode)
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                screen.set_projector(self.projector)
        self.notify("Projector mode on" if self.projector else "Projector mode off", timeout=1.5)

    def action_toggle_dark(self) -> None:
        self.dark_mode = not self.dark_mode
        self.theme = theme_for(projector=self.projector, dark=self.dark_mode)

    def watch_theme(self, theme_name: str) -> None:
        """Colour traffic lines for the new background (the log redraws them on the next step)."""
        use_dark_palette(self.get_theme(theme_name).dark if self.get_theme(theme_name) else True)

    def action_export_svg(self) -> None:
        """Save the current screen as SVG (for slides and handouts)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"smtp-tutor-{stamp}.svg"
        path = self.save_screenshot(filename=name, path=str(self.export_dir))
        self.notify(f"Saved {path}", timeout=4)

    async def on_unmount(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                await screen.stop_run()


def run_tui(
    scenario: Scenario | str | None,
    projector: bool = False,
    *,
    what_ifs: Sequence[str] = (),
    replay: Sequence[Event] | None = None,
    replay_label: str = "",
    keep: Path | None = None,
    record: Path | None = None,
    lesson: str | None = None,
) -> int:
    """Entry point for the command line: open the app, return the exit code.

    ``replay`` (events from tutor.trace.read_trace) steps through a recorded run instead of
    starting a world; ``replay_label`` names it in the title bar. ``keep`` and ``record`` work
    as with ``run --plain`` for the scenario the tutor opens on (each restart records anew).
    ``lesson`` (an id or a lesson file) opens on that lesson's scenario and what-ifs.
    """
    if lesson is not None and scenario is None:
        # Until the lesson screen lands: the lesson's run, on the normal run screen.
        from tutor.learn.lesson import load_lesson

        chosen = load_lesson(lesson)
        scenario, what_ifs = chosen.scenario, (*what_ifs, *chosen.what_ifs)
    app = TutorApp(
        scenario,
        projector=projector,
        what_ifs=what_ifs,
        replay=replay,
        replay_label=replay_label,
        keep=keep,
        record=record,
    )
    result = app.run()
    return result if isinstance(result, int) else 0
