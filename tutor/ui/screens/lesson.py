"""The lesson screen: the run screen with a lesson pane that narrates, asks and scores.

The lesson's scenario runs for real (stepped), exactly as on the run screen this screen
extends; every event the learner reveals goes through the lesson flow (tutor.ui.lesson_flow),
which stops the run where the lesson speaks or asks. What the learner does is saved as they
go (position, answers, hints, time) through the app's progress writer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll

from tutor.learn.lesson import Lesson
from tutor.learn.progress import Progress
from tutor.learn.questions import ResponseError
from tutor.ui import lesson_text
from tutor.ui.lesson_flow import LessonFlow, Move, Phase, Record, RecordKind, position_words
from tutor.ui.screens.run import RunScreen, RunSpec
from tutor.ui.session import RunSession
from tutor.ui.widgets.lesson.lesson_pane import LessonPane
from tutor.ui.widgets.lesson.messages import AnswerGiven, HintAsked, SkipAsked
from tutor.ui.widgets.status_line import StatusLine
from tutor.ui.widgets.traffic_log import TrafficLog

if TYPE_CHECKING:
    from textual.worker import Worker

    from tutor.ui.progress_writer import ProgressWriter

# Time away from the keyboard is not time spent learning: a longer gap counts this much.
MAX_GAP_SECONDS = 15 * 60
# Time alone (no answer, no new position) is written at most this often, and on leaving.
TIME_SAVE_SECONDS = 60


class LessonScreen(RunScreen):
    """A lesson over a real (or replayed) run; every action is a binding with a description."""

    BINDINGS = [
        Binding("a", "review", "Review", tooltip="Review every question, with its answers"),
        Binding("i", "notes", "Instructor notes (projector mode)", show=False),
        Binding("escape", "show_lesson", "Back to the lesson pane", show=False),
        Binding("r", "restart", "Restart the lesson", show=False),
        Binding("w", "pick", "Lessons & scenarios", show=False),
        # Kept from the run screen, out of the footer: at 80 columns the lesson's keys come first.
        Binding("plus,equals_sign", "faster", "Speed", key_display="+/-", show=False),
        Binding("f", "filter", "Filter", show=False),
        Binding("g", "dsn_links", "DSN links", show=False),
        Binding("t", "app.toggle_projector", "Projector", show=False),
        Binding("x", "app.export_svg", "Export SVG", show=False),
    ]

    # While a question waits, the keys that cannot go on are out of the footer (and do nothing).
    WAITING_FOR_ANSWER = frozenset({"step", "play", "review"})

    def __init__(
        self,
        lesson: Lesson,
        spec: RunSpec | None = None,
        *,
        resume_at: str = "",
        carried: Mapping[str, float | None] | None = None,
        writer: ProgressWriter | None = None,
        stepped: bool = True,
    ) -> None:
        spec = spec or RunSpec(scenario=lesson.scenario, what_ifs=frozenset(lesson.what_ifs))
        super().__init__(replace(spec, label=f"lesson: {lesson.title}"), stepped=stepped)
        self.lesson = lesson
        self.writer = writer
        self.flow = LessonFlow(lesson, resume_at=resume_at, carried=dict(carried or {}))
        self.notes_shown = False
        self._fed = 0  # how many of the session's events the flow has been fed
        self._time_mark = time.monotonic()
        self._caught_up_told = not resume_at
        self._catcher: Worker[None] | None = None
        self._waiting = False  # a question waits for its answer
        self._bindings_for = (False, False)  # (waiting, run over) the footer was drawn for

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, StatusLine):
                yield LessonPane(id="lesson")
            yield widget

    @property
    def pane(self) -> LessonPane:
        return self.query_one(LessonPane)

    # ------------------------------------------------------------------ following the run

    def session_opened(self, session: RunSession) -> None:
        self._fed = 0
        session.listen(self._feed)

    def _feed(self) -> None:
        """Give the flow every newly revealed event (all of them, hidden ones too, in order),
        holding back while a question waits: its answer must come before what follows."""
        session = self.session
        if session is None:
            return
        flow = self.flow
        while self._fed < session.revealed and not flow.blocked:
            flow.feed(session.events[self._fed])
            self._fed += 1
        if flow.catching_up and (self._catcher is None or self._catcher.is_finished):
            self._catcher = self._catch_up()
        elif not self._caught_up_told:
            self._caught_up_told = True
            self.notify(f"Continuing at {position_words(self.lesson, flow.resume_at)}.")
        if flow.take_next():
            self._stopped()
        self._lesson_changed()

    @work(group="catch-up", exclusive=True)
    async def _catch_up(self) -> None:
        """Replay the run to where the learner stopped, without stopping on the way."""
        while self.flow.catching_up and self.session is not None:
            if not await self.session.step():
                break

    def _stopped(self) -> None:
        """The flow has something new to show: pause the run and bring the pane forward."""
        self.pause()
        self.remove_class("-details")
        if self.flow.phase is Phase.SCORED:
            self.add_class("-scored")

    async def step_once(self) -> bool:
        flow = self.flow
        if flow.catching_up:
            return False
        move = flow.step_on()
        if move is Move.BLOCKED:
            self.remove_class("-details")
            self._focus_input()
            self.notify("Answer the question first (or skip it).", timeout=2)
            return False
        if move is Move.NOTHING:
            return False
        if move is Move.SHOWN:
            self._stopped()
            self._lesson_changed()
            return True
        if self.focused is not None and self.pane in self.focused.ancestors_with_self:
            self.query_one(TrafficLog).focus()
        moved = await super().step_once()
        self._lesson_changed()
        return moved

    # ------------------------------------------------------------------ the learner's answers

    def on_answer_given(self, message: AnswerGiven) -> None:
        message.stop()
        asking = self.flow.asking
        if asking is None or not asking.open:
            return
        try:
            self.flow.answer(message.response)
        except ResponseError as error:
            self.notify(str(error), severity="warning", timeout=3)
            return
        self._answered()

    def on_hint_asked(self, message: HintAsked) -> None:
        message.stop()
        asking = self.flow.asking
        if self.flow.hint() is None:
            has_hints = asking is not None and asking.hints
            self.notify("No more hints." if has_hints else "This question has no hints.", timeout=2)
        self._lesson_changed()

    def on_skip_asked(self, message: SkipAsked) -> None:
        message.stop()
        asking = self.flow.asking
        if asking is None or not asking.open:
            return
        self.flow.skip()
        self._answered()

    def _answered(self) -> None:
        self._feed()  # events held back while the question waited
        self._lesson_changed()
        # The feedback can be longer than the pane: the arrows scroll it, space steps on.
        self.call_after_refresh(self.query_one("#lesson-body", VerticalScroll).focus)

    def _focus_input(self) -> None:
        widget = self.pane.input
        if widget is not None:
            self.call_after_refresh(widget.focus)

    # ------------------------------------------------------------------ showing and saving

    def _lesson_changed(self) -> None:
        self._save(self.flow.take_records())
        waiting = self.flow.asking is not None and self.flow.asking.open
        if (waiting, self.flow.run_over) != self._bindings_for:
            self._waiting = waiting
            self._bindings_for = (waiting, self.flow.run_over)
            self.refresh_bindings()
        self.schedule_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "play" and self.flow.run_over:
            return False  # nothing left to play: the step key goes through the questions
        return not (self._waiting and action in self.WAITING_FOR_ANSWER)

    def refresh_views(self) -> None:
        super().refresh_views()
        if not self.is_mounted:
            return
        notes = self.notes_shown and self.has_class("-projector")
        if self.pane.show(self.flow, notes=notes, catching_up=self.flow.catching_up):
            self._focus_input()

    def _save(self, records: list[Record], *, leaving: bool = False) -> None:
        if self.writer is None:
            return
        now = time.monotonic()
        seconds = min(now - self._time_mark, MAX_GAP_SECONDS)
        if not records and seconds < (1 if leaving else TIME_SAVE_SECONDS):
            return
        self._time_mark = now
        lesson_id = self.lesson.id

        def change(progress: Progress) -> None:
            for record in records:
                apply_record(progress, lesson_id, record)
            if seconds > 0:
                progress.add_time(lesson_id, seconds)

        self.writer.save(change)

    def save_time(self) -> None:
        """Count the time spent since the last save (when the learner leaves the lesson)."""
        self._save(self.flow.take_records(), leaving=True)

    def on_unmount(self) -> None:
        self.save_time()

    # ------------------------------------------------------------------ actions

    def action_review(self) -> None:
        if self.flow.phase is Phase.SCORED:
            self._open_review()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.flow.answers_shown = True
                self._open_review()

        from tutor.ui.screens.confirm import ConfirmScreen

        self.app.push_screen(
            ConfirmScreen(
                "Show every question with its answer now, before the end of the lesson?\n"
                "The lesson goes on afterwards; your answers so far keep their score.",
                yes="Show me",
            ),
            answered,
        )

    def _open_review(self) -> None:
        from tutor.ui.screens.review import ReviewScreen

        finished = self.flow.phase is Phase.SCORED
        body = lesson_text.review_renderable(self.flow.review(), finished=finished)
        self.app.push_screen(ReviewScreen(f"Review · {self.lesson.title}", body))

    def action_notes(self) -> None:
        if not self.has_class("-projector"):
            self.notify("Instructor notes show in projector mode: press t, then i.", timeout=3)
            return
        self.notes_shown = not self.notes_shown
        self.schedule_refresh()

    def action_show_lesson(self) -> None:
        self.remove_class("-details")
        asking = self.flow.asking
        if asking is not None and asking.open:
            self._focus_input()

    def action_tab(self, tab: str) -> None:
        super().action_tab(tab)
        self.add_class("-details")  # at 80 columns the details take the lesson pane's place
        if self.has_class("-narrow"):
            self.notify("esc: back to the lesson pane", timeout=2)

    def action_restart(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.flow = LessonFlow(self.lesson)
                self.pane.forget_shown()
                self._caught_up_told = True
                self.remove_class("-scored")
                self.notify("The lesson starts again on a fresh world.", timeout=2)
                self.start_run()

        from tutor.ui.screens.confirm import ConfirmScreen

        self.app.push_screen(
            ConfirmScreen(
                "Start this lesson again from the beginning, on a fresh world?\n"
                "What you answered so far stays saved.",
                yes="Start again",
            ),
            answered,
        )

    def action_pick(self) -> None:
        self.app.call_later(self.app.action_lessons)  # type: ignore[attr-defined]


def apply_record(progress: Progress, lesson_id: str, record: Record) -> None:
    """Write one thing the learner did into their progress."""
    if record.kind is RecordKind.ANSWER:
        progress.record_answer(lesson_id, record.question_id, record.score, seconds=record.seconds)
    elif record.kind is RecordKind.HINT:
        progress.record_hint(lesson_id, record.question_id, record.hints)
    elif record.kind is RecordKind.POSITION:
        progress.set_position(lesson_id, record.position)
    else:
        progress.finish_lesson(lesson_id, record.score)
        progress.set_position(lesson_id, "")
