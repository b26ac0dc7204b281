"""The Textual app: wires the start, lesson, picker, run and help screens together; holds
little logic itself (the lesson flow, the course and the progress writer hold it)."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from tutor.scenario import Scenario
from tutor.trace import Event
from tutor.ui.commands import TutorCommands, described_bindings
from tutor.ui.lines import use_dark_palette

if TYPE_CHECKING:
    from textual.screen import Screen

    from tutor.learn.lesson import Lesson
    from tutor.learn.progress import Progress, ProgressStore
    from tutor.ui.progress_writer import ProgressWriter
    from tutor.ui.screens.lesson import LessonScreen
    from tutor.ui.screens.picker import PickerScreen
    from tutor.ui.screens.start import StartScreen

    PickerChosen = PickerScreen.Chosen
    LessonChosen = StartScreen.LessonChosen
from tutor.ui.screens.run import RunScreen, RunSpec
from tutor.ui.themes import THEMES, theme_for


def _picker(selected: str | None, what_ifs: frozenset[str]) -> Screen[None]:
    """The picker screen, imported on demand (a run started from the command line skips it)."""
    from tutor.ui.screens.picker import PickerScreen

    return PickerScreen(selected, what_ifs)


def _settle_the_heap() -> None:
    """Move what start-up made (Textual, Rich, the tutor's modules) out of the collector's way.

    A full collection walks every live object; with start-up's objects in it, one took
    40-120 ms and landed on whichever key was being handled. Frozen objects are still freed
    when their last reference goes; only cycles among them are never collected, so collect
    first. Done a second after the first screen, when a learner is still reading it.
    """
    gc.collect()
    gc.freeze()


class TutorApp(App[int]):
    """smtp-tutor's terminal UI.

    ``lesson`` opens straight on that lesson (over ``replay`` if given, else a real run of its
    scenario); ``scenario`` opens straight on a run (a shipped name, a path or a loaded
    Scenario); with neither the start screen opens, listing ``lessons`` (default: the shipped
    ones). ``replay`` shows a recorded trace instead of starting a world. ``stepped=False``
    lets the world run freely (the view still reveals one line per step). ``progress`` is the
    learner's progress file (default: theirs, in the platform's data directory).
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
        lesson: Lesson | None = None,
        lessons: Sequence[Lesson] | None = None,
        progress: ProgressStore | None = None,
    ) -> None:
        super().__init__()
        self.initial_lesson = lesson
        self._lessons = list(lessons) if lessons is not None else None
        self._lesson_problems: list[str] = []
        self._given_store = progress
        self._store: ProgressStore | None = None
        self._writer: ProgressWriter | None = None
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
        if self.initial_lesson is not None:
            self.push_screen(self.lesson_screen(self.initial_lesson, self.initial_spec))
        elif self.initial_spec is not None:
            self.push_screen(RunScreen(self.initial_spec, stepped=self.stepped))
        else:
            self.push_screen(self._start_screen())
        self.set_timer(1.0, _settle_the_heap)

    # ------------------------------------------------------------------ screens

    @property
    def run_screen(self) -> RunScreen | None:
        return self.screen if isinstance(self.screen, RunScreen) else None

    @property
    def progress_store(self) -> ProgressStore:
        """The learner's progress file, opened when first needed (a plain run never is)."""
        if self._store is None:
            from tutor.learn.progress import ProgressStore

            self._store = self._given_store if self._given_store is not None else ProgressStore()
        return self._store

    @property
    def progress_writer(self) -> ProgressWriter:
        if self._writer is None:
            from tutor.ui.progress_writer import ProgressWriter

            self._writer = ProgressWriter(self.progress_store, self._progress_problem)
        return self._writer

    async def _flush_progress(self) -> None:
        """Write pending progress, if anything ever made a writer."""
        if self._writer is not None:
            await self._writer.flush()

    @property
    def lessons(self) -> list[Lesson]:
        """The course: the lessons given, or the shipped ones (loaded once, when first asked)."""
        if self._lessons is None:
            from tutor.ui.course import load_course  # lessons load when first shown

            self._lessons, self._lesson_problems = load_course()
        return self._lessons

    def _load_progress(self) -> Progress:
        """The learner's progress; a problem with the file is told in one line, never raised."""
        from tutor.learn.progress import Progress, ProgressError

        try:
            return self.progress_store.load()
        except ProgressError as error:
            self._progress_problem(str(error))
            return Progress()

    def _progress_problem(self, problem: str) -> None:
        self.notify(problem, title="Progress", severity="warning", timeout=8)

    def _start_screen(self) -> Screen[None]:
        from tutor.ui.screens.start import StartScreen

        lessons = self.lessons
        return StartScreen(lessons, self._load_progress(), self._lesson_problems)

    def lesson_screen(self, lesson: Lesson, spec: RunSpec | None = None) -> LessonScreen:
        """The lesson, continuing where the learner stopped if they did."""
        progress = self._load_progress()
        record = progress.lessons.get(lesson.id)
        from tutor.ui.course import carried_scores
        from tutor.ui.screens.lesson import LessonScreen  # only a lesson pays for its screens

        return LessonScreen(
            lesson,
            spec,
            resume_at=record.position if record else "",
            carried=carried_scores(progress, lesson.id),
            writer=self.progress_writer,
            stepped=self.stepped,
        )

    async def _leave_current(self) -> None:
        screen = self.run_screen
        if screen is not None:
            await screen.stop_run()
        if _is_lesson(screen):
            screen.save_time()  # type: ignore[union-attr]
        await self._flush_progress()

    async def on_start_screen_lesson_chosen(self, message: LessonChosen) -> None:
        await self._leave_current()
        await self.switch_screen(self.lesson_screen(message.lesson))

    async def action_lessons(self) -> None:
        """Back to the start screen (the lessons, and the way to the scenarios)."""
        await self._leave_current()
        await self.switch_screen(self._start_screen())

    async def reset_progress(self, lesson_id: str | None) -> None:
        """Forget one lesson's progress (or all of it), then show the start screen afresh."""
        from tutor.learn.progress import ProgressError

        await self._flush_progress()
        try:
            if lesson_id is None:
                backup = self.progress_store.reset_all()
                kept = f" (the old file is kept as {backup})" if backup else ""
                self.notify(f"All progress reset{kept}.", timeout=4)
            else:
                self.progress_store.reset_lesson(lesson_id)
                self.notify("Lesson progress reset.", timeout=2)
        except ProgressError as error:
            self._progress_problem(str(error))
        await self.switch_screen(self._start_screen())

    async def on_picker_screen_chosen(self, message: PickerChosen) -> None:
        self._last_pick = (message.name, message.what_ifs)
        spec = RunSpec(scenario=message.name, what_ifs=message.what_ifs)
        await self.switch_screen(RunScreen(spec, stepped=self.stepped))

    async def action_pick_scenario(self) -> None:
        await self._leave_current()
        await self.switch_screen(_picker(*self._last_pick))

    def action_help(self) -> None:
        # Imported here: the Markdown widget is slow to import and only needed on demand.
        from tutor.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        bindings = [binding for _, binding in described_bindings(self.screen)]
        self.push_screen(HelpScreen(bindings))

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

    async def action_quit(self) -> None:
        """Quit once the learner's progress is on disk."""
        for screen in self.screen_stack:
            if _is_lesson(screen):
                screen.save_time()  # type: ignore[attr-defined]
        await self._flush_progress()
        self.exit()

    async def on_unmount(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                await screen.stop_run()
        await self._flush_progress()


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

    With no scenario, replay or lesson the start screen opens (the lessons, and the way to the
    scenario picker). ``lesson`` (a shipped lesson's id or a lesson file) opens that lesson,
    continuing where the learner stopped; a lesson that cannot be loaded raises LessonError
    (a UserError: one line and exit 2 at the edge) before the screen opens. ``replay``
    (events from tutor.trace.read_trace) steps through a recorded run instead of starting a
    world; ``replay_label`` names it in the title bar. ``keep`` and ``record`` work as with
    ``run --plain`` for the scenario the tutor opens on (each restart records anew).
    """
    app = TutorApp(
        scenario,
        projector=projector,
        what_ifs=what_ifs,
        replay=replay,
        replay_label=replay_label,
        keep=keep,
        record=record,
        lesson=_load_lesson(lesson) if lesson is not None else None,
    )
    result = app.run()
    return result if isinstance(result, int) else 0


def _is_lesson(screen: object) -> bool:
    """Whether ``screen`` is a lesson screen, without importing the lesson screens to ask
    (a plain run must not pay for them at start-up)."""
    import sys

    module = sys.modules.get("tutor.ui.screens.lesson")
    return module is not None and isinstance(screen, module.LessonScreen)


def _load_lesson(lesson: str) -> Lesson:
    from tutor.learn.lesson import load_lesson

    return load_lesson(lesson)
