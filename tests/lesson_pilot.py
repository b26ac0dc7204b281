"""Pilot helpers for the lesson screens: the test lessons, and a learner who presses the keys.

The learner answers with the keys a person would press (letters, the move keys, typing), and
knows the right answer only from the question on screen (and, for the one prediction of the
test lesson, from what the hello scenario's MX really answers).
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from tutor.learn.lesson import Lesson
from tutor.learn.progress import ProgressStore
from tutor.learn.questions import MultipleChoice, NumberAnswer, PutInOrder, SingleChoice
from tutor.ui.app import TutorApp
from tutor.ui.course import load_course
from tutor.ui.lesson_flow import Phase
from tutor.ui.lesson_text import choice_letters
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.widgets.lesson.order_input import OrderInput

LESSONS_DIR = Path(__file__).parent / "data" / "lessons"
HELLO_TRACE = Path(__file__).parent / "data" / "ui-hello.jsonl"
# hello's mx1 accepts bob@example.net: the one reply the test lesson asks to predict.
PREDICTIONS = {"predict-rcpt": ("250", "550")}


def course() -> list[Lesson]:
    """The two test lessons, in course order (journey, then starttls)."""
    lessons, problems = load_course([LESSONS_DIR / "journey.toml", LESSONS_DIR / "starttls.toml"])
    assert not problems
    return lessons


def store_in(directory: Path) -> ProgressStore:
    return ProgressStore(directory / "progress.json")


async def settle(pilot: Pilot, app: TutorApp) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def lesson_screen(pilot: Pilot, app: TutorApp) -> LessonScreen:
    """The lesson screen once its run has started (the world starts after the first frame)."""
    for _ in range(300):
        screen = app.screen
        if isinstance(screen, LessonScreen) and screen.session is not None:
            await settle(pilot, app)
            return screen
        await pilot.pause(0.02)
    raise AssertionError(f"no lesson screen, the screen is {app.screen!r}")


async def step_to_stop(pilot: Pilot, app: TutorApp, screen: LessonScreen, limit: int = 400) -> None:
    """Press space until the lesson asks a question or shows its score."""
    for _ in range(limit):
        asking = screen.flow.asking
        if (asking is not None and asking.open) or screen.flow.phase is Phase.SCORED:
            await settle(pilot, app)
            return
        await pilot.press("space")
        await settle(pilot, app)
    raise AssertionError("the lesson never stopped to ask")


async def answer(pilot: Pilot, app: TutorApp, screen: LessonScreen, *, right: bool) -> None:
    """Answer the open question with the keys, rightly or wrongly."""
    asking = screen.flow.asking
    assert asking is not None and asking.open
    if asking.question is None:  # a prediction
        good, bad = PREDICTIONS[asking.id]
        await pilot.press(*(good if right else bad), "enter")
        await settle(pilot, app)
        return
    answer_ = asking.question.answer
    if isinstance(answer_, SingleChoice | MultipleChoice):
        letters = choice_letters(len(answer_.choices))
        picks = [
            letter
            for letter, choice in zip(letters, answer_.choices, strict=True)
            if choice.correct == right
        ]
        await pilot.press(*(picks if isinstance(answer_, MultipleChoice) else picks[:1]), "enter")
    elif isinstance(answer_, PutInOrder):
        if right:
            await _put_in_order(pilot, screen, [item.key for item in answer_.items])
        await pilot.press("enter")  # the scramble is never already right
    elif isinstance(answer_, NumberAnswer):
        await pilot.press(*(f"{answer_.value:g}" if right else "99999"), "enter")
    else:
        await pilot.press(*(answer_.expected() if right else "nope"), "enter")
    await settle(pilot, app)


async def _put_in_order(pilot: Pilot, screen: LessonScreen, keys: list[str]) -> None:
    widget = screen.pane.input
    assert isinstance(widget, OrderInput)
    for target, key in enumerate(keys):
        where = widget.order.index(key)
        while widget.cursor < where:
            await pilot.press("down")
        while widget.cursor > where:
            await pilot.press("up")
        for _ in range(where - target):
            await pilot.press("left_square_bracket")
    assert widget.order == keys


async def take_the_lesson(
    pilot: Pilot,
    app: TutorApp,
    screen: LessonScreen,
    *,
    right: bool | dict[str, bool],
    again_right: bool = True,
) -> list[str]:
    """Answer every question to the score (``right`` may say per question id; the once-more
    round is answered ``again_right``); the ids asked, in the order asked."""
    asked = []
    while True:
        await step_to_stop(pilot, app, screen)
        if screen.flow.phase is Phase.SCORED:
            return asked
        asking = screen.flow.asking
        assert asking is not None
        asked.append(asking.id)
        if asking.phase is Phase.AGAIN:
            wanted = again_right
        else:
            wanted = right if isinstance(right, bool) else right.get(asking.id, True)
        await answer(pilot, app, screen, right=wanted)
