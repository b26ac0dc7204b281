"""What the answer inputs tell the lesson screen (messages flow up, method calls flow down)."""

from __future__ import annotations

from textual.message import Message

from tutor.learn.questions import Response


class AnswerGiven(Message):
    """The learner answered the question on screen."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class HintAsked(Message):
    """The learner wants the next hint."""


class SkipAsked(Message):
    """The learner leaves the question for later."""
