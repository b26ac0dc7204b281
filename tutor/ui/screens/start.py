"""The start screen: where a first-time learner is led to lesson 1 and a returning one
continues where they stopped; every lesson with its progress, and the free scenario picker."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, OptionList, Static

from tutor.learn.lesson import Lesson
from tutor.learn.progress import Progress
from tutor.ui.course import LessonRow, Suggestion, course_rows, suggestion
from tutor.ui.lesson_text import objectives_line
from tutor.ui.widgets.start.lesson_list import LessonList


def about(row: LessonRow | None) -> Text:
    """A few lines on the highlighted lesson: what it is about and what is advised first."""
    text = Text()
    if row is None:
        return text
    lesson = row.lesson
    text.append(lesson.summary or lesson.title)
    if lesson.objectives:
        text.append("\n" + objectives_line(lesson))
    text.append(
        f"\n{lesson.minutes} min ({lesson.minutes_teaching} teaching, "
        f"{lesson.minutes_exercises} exercises) · {len(lesson.questions)} questions"
    )
    if row.missing:
        text.append("\nSuggested first: ", style="bold")
        text.append(", ".join(row.missing) + " (not done yet). You can open this one anyway.")
    return text


class StartScreen(Screen[None]):
    """Every action is a binding (footer, help, palette); prerequisites never lock a lesson."""

    BINDINGS = [
        Binding("c", "suggested", "Start/continue"),
        Binding("w", "scenarios", "Scenarios"),
        Binding("r", "reset_lesson", "Reset"),
        Binding("R", "reset_all", "Reset all progress", key_display="R", show=False),
        Binding("down", "focus_lessons", "Lesson list", show=False),
        # The app's, out of this footer so that Help and Quit fit at 80 columns.
        Binding("x", "app.export_svg", "Export SVG", show=False),
    ]

    class LessonChosen(Message):
        def __init__(self, lesson: Lesson) -> None:
            super().__init__()
            self.lesson = lesson

    def __init__(
        self, lessons: Sequence[Lesson], progress: Progress, problems: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.lessons = list(lessons)
        self.progress = progress
        self.problems = list(problems)
        self.rows = course_rows(self.lessons, progress)
        self.suggested: Suggestion | None = suggestion(self.rows, progress)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="start-page"):
            yield Static(
                "A real mail world on loopback: every line you will see crossed a real socket.",
                id="start-intro",
            )
            if self.suggested is not None:
                yield Button(f"▶ {self.suggested.words}", id="start-main", compact=True)
            yield Label("Lessons", classes="start-heading")
            if self.rows:
                yield LessonList(self.rows, id="lesson-list")
                yield Static(id="lesson-about")
            else:
                yield Static(
                    "No lessons are installed yet. The scenarios are all here: press w.",
                    id="lesson-about",
                )
            if self.problems:
                yield Static(
                    "\n".join(f"✗ {problem}" for problem in self.problems), id="start-problems"
                )
            with Horizontal(id="start-actions"):
                yield Button("Scenarios & what-ifs (w)", id="start-scenarios", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "smtp-tutor"
        self.sub_title = "lessons"
        if self.rows:
            lessons = self.query_one(LessonList)
            default = self.suggested.row.number - 1 if self.suggested else 0
            lessons.highlighted = default
            self._show_about()
        main = self.query(Button).filter("#start-main")
        if main:
            main.first().focus()
        else:
            self.query_one("#start-scenarios", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No lessons: nothing to start or reset.
        return bool(self.rows) or action not in ("suggested", "reset_lesson")

    def _show_about(self) -> None:
        lessons = self.query_one(LessonList)
        self.query_one("#lesson-about", Static).update(about(lessons.row))

    @on(OptionList.OptionHighlighted, "#lesson-list")
    def _highlighted(self) -> None:
        self._show_about()

    @on(OptionList.OptionSelected, "#lesson-list")
    def _selected(self, message: OptionList.OptionSelected) -> None:
        self._open(self.rows[message.option_index])

    @on(Button.Pressed, "#start-main")
    def _main_pressed(self) -> None:
        self.action_suggested()

    @on(Button.Pressed, "#start-scenarios")
    def _scenarios_pressed(self) -> None:
        self.action_scenarios()

    def _open(self, row: LessonRow) -> None:
        if row.missing:
            self.notify(
                f"Suggested first: {', '.join(row.missing)}. Opening {row.lesson.title} anyway.",
                timeout=3,
            )
        self.post_message(self.LessonChosen(row.lesson))

    # ------------------------------------------------------------------ actions

    def action_suggested(self) -> None:
        if self.suggested is not None:
            self._open(self.suggested.row)

    def action_scenarios(self) -> None:
        self.app.call_later(self.app.action_pick_scenario)

    def action_focus_lessons(self) -> None:
        if self.rows:
            self.query_one(LessonList).focus()

    def action_reset_lesson(self) -> None:
        row = self.query_one(LessonList).row if self.rows else None
        if row is None:
            return
        from tutor.ui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.call_later(self.app.reset_progress, row.lesson.id)  # type: ignore[attr-defined]

        self.app.push_screen(
            ConfirmScreen(
                f"Reset your progress in “{row.lesson.title}”?\n"
                "Its answers, score and position are forgotten.",
                yes="Reset lesson",
            ),
            answered,
        )

    def action_reset_all(self) -> None:
        from tutor.ui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.call_later(self.app.reset_progress, None)  # type: ignore[attr-defined]

        self.app.push_screen(
            ConfirmScreen(
                "Reset ALL your progress, in every lesson and lab?\n"
                "The old file is kept as a backup next to it.",
                yes="Reset all",
            ),
            answered,
        )
