"""The lesson pane under the run: the narration, the question and its feedback, the score."""

from __future__ import annotations

import random

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tutor.learn.questions import MultipleChoice, NumberAnswer, PutInOrder, SingleChoice
from tutor.ui import lesson_text
from tutor.ui.lesson_flow import Asking, LessonFlow, Phase
from tutor.ui.widgets.lesson.answer_input import AnswerInput
from tutor.ui.widgets.lesson.choice_input import ChoiceInput
from tutor.ui.widgets.lesson.order_input import OrderInput


def input_for(asking: Asking) -> Widget:
    """The widget that takes the answer to this question."""
    if asking.question is None:
        # Digits only: a learner still pressing space to step on types nothing here.
        return AnswerInput("the reply code you expect, then Enter", restrict=r"\d*", max_length=3)
    answer = asking.question.answer
    if isinstance(answer, SingleChoice | MultipleChoice):
        return ChoiceInput(answer.choices, multiple=isinstance(answer, MultipleChoice))
    if isinstance(answer, PutInOrder):
        # Seeded by the question, so a learner (and a snapshot) sees the same scramble.
        return OrderInput(answer.items, answer.scrambled(random.Random(asking.question.id)))
    if isinstance(answer, NumberAnswer):
        unit = f" (in {answer.unit})" if answer.unit else ""
        return AnswerInput(f"a number{unit}, then Enter")
    return AnswerInput("type the answer, then Enter")


class LessonPane(Vertical):
    """Shows what the lesson flow has current; rebuilt only when that changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: object = None
        self._input_for: Asking | None = None
        self.input: Widget | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="lesson-heading")
        with VerticalScroll(id="lesson-body"):
            yield Static(id="lesson-text")
            yield Static(id="lesson-after")
        yield Static(id="lesson-notes")

    def forget_shown(self) -> None:
        """Draw afresh on the next ``show`` (a new flow may look like the old one)."""
        self._shown = None
        self._input_for = None
        if self.input is not None:
            self.input.remove()
            self.input = None

    def show(self, flow: LessonFlow, *, notes: bool, catching_up: bool = False) -> bool:
        """Draw the flow's current state; True when a new answer input was mounted."""
        asking = flow.asking
        key = (
            flow.phase,
            flow.narration_number,
            flow.run_over,
            len(flow.queue),
            id(asking),
            asking.open if asking else None,
            asking.grade is not None if asking else None,
            asking.predicted if asking else None,
            asking.hints_shown if asking else None,
            notes,
            catching_up,
        )
        if key == self._shown:
            return False
        self._shown = key
        self.query_one("#lesson-heading", Static).update(lesson_text.heading(flow))
        body = self.query_one("#lesson-text", Static)
        after = self.query_one("#lesson-after", Static)
        if catching_up:
            body.update(f"Catching up to where you stopped ({flow.resume_at})…")
            after.update("")
        elif flow.phase is Phase.SCORED:
            body.update(lesson_text.score_renderable(flow))
            after.update("")
        elif asking is not None:
            body.update(lesson_text.prompt_text(asking))
            after.update(
                lesson_text.rule_text(asking) if asking.open else lesson_text.feedback(asking)
            )
        elif flow.narration is not None:
            body.update(lesson_text.narration_text(flow))
            after.update("")
        elif flow.run_over:
            body.update(lesson_text.run_over_text(flow))
            after.update("")
        else:
            body.update(lesson_text.intro(flow.lesson))
            after.update("")
        after.display = bool(after.visual)  # an empty line would push the pane up for nothing
        notes_widget = self.query_one("#lesson-notes", Static)
        notes_widget.display = notes
        if notes:
            notes_widget.update(lesson_text.instructor_notes(flow.lesson))
        return self._place_input(asking)

    def _place_input(self, asking: Asking | None) -> bool:
        wanted = asking if asking is not None and asking.open else None
        if wanted is self._input_for:
            return False
        if self.input is not None:
            self.input.remove()
            self.input = None
        self._input_for = wanted
        if wanted is None:
            return False
        self.input = input_for(wanted)
        self.input.add_class("lesson-input")
        self.query_one("#lesson-body", VerticalScroll).mount(self.input, before="#lesson-after")
        self.query_one("#lesson-body", VerticalScroll).scroll_home(animate=False)
        return True
