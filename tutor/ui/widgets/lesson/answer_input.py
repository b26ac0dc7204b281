"""Type the answer (text, a number, a predicted reply code); Enter answers.

Letters go into the field, so hint and skip are on control keys here.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.widgets import Input

from tutor.ui.widgets.lesson.messages import AnswerGiven, HintAsked, SkipAsked


class AnswerInput(Input):
    BINDINGS = [
        Binding("enter", "submit", "Answer"),
        Binding("ctrl+t", "hint", "Hint", key_display="^t"),
        Binding("ctrl+s", "skip", "Skip", key_display="^s"),
    ]

    def __init__(
        self, placeholder: str, *, restrict: str | None = None, max_length: int = 0
    ) -> None:
        super().__init__(
            placeholder=placeholder, compact=True, restrict=restrict, max_length=max_length
        )

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        message.stop()
        if not message.value.strip():
            self.notify("Type an answer first.", timeout=2)
            return
        self.post_message(AnswerGiven(message.value))

    def action_hint(self) -> None:
        self.post_message(HintAsked())

    def action_skip(self) -> None:
        self.post_message(SkipAsked())
