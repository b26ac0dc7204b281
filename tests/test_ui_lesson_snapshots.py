"""Snapshots of the lesson screens (pytest-textual-snapshot), deterministic: the lesson runs
over the normalised recording of a real `hello` run (tests/data/ui-hello.jsonl, made by
``record_trace`` in test_ui_snapshots.py) and progress lives in the test's own directory.

After a deliberate change of the screens: ``pytest tests/test_ui_lesson_snapshots.py
--snapshot-update``, then read the HTML report of what changed.
"""

from __future__ import annotations

from pathlib import Path

from lesson_pilot import (
    HELLO_TRACE,
    answer,
    course,
    lesson_screen,
    settle,
    step_to_stop,
    store_in,
    take_the_lesson,
)
from test_ui_snapshots import load_trace
from textual.pilot import Pilot

from tutor.ui.app import TutorApp

SMALL = (80, 24)
LARGE = (120, 40)


def lesson_app(tmp_path: Path, **kwargs: object) -> TutorApp:
    return TutorApp(
        lesson=course()[0],
        replay=load_trace(HELLO_TRACE),
        progress=store_in(tmp_path),
        **kwargs,  # type: ignore[arg-type]
    )


async def to_the_narration(pilot: Pilot) -> None:
    app = pilot.app
    screen = await lesson_screen(pilot, app)  # type: ignore[arg-type]
    while screen.flow.narration is None:
        await pilot.press("space")
        await settle(pilot, app)  # type: ignore[arg-type]


async def to_the_question(pilot: Pilot) -> None:
    app = pilot.app
    screen = await lesson_screen(pilot, app)  # type: ignore[arg-type]
    await step_to_stop(pilot, app, screen)  # type: ignore[arg-type]
    await pilot.press("b")  # pick b, not yet answered: the pick shows as (•), not by colour
    await settle(pilot, app)  # type: ignore[arg-type]


async def to_the_feedback(pilot: Pilot) -> None:
    app = pilot.app
    screen = await lesson_screen(pilot, app)  # type: ignore[arg-type]
    await step_to_stop(pilot, app, screen)  # type: ignore[arg-type]
    await answer(pilot, app, screen, right=False)  # type: ignore[arg-type]


async def to_the_score(pilot: Pilot) -> None:
    app = pilot.app
    screen = await lesson_screen(pilot, app)  # type: ignore[arg-type]
    wrong = {"tls-after-starttls": False}
    await take_the_lesson(pilot, app, screen, right=wrong, again_right=True)  # type: ignore[arg-type]
    await settle(pilot, app)  # type: ignore[arg-type]


def test_start_screen_for_a_first_time_learner_at_80x24(snap_compare, tmp_path: Path) -> None:
    app = TutorApp(lessons=course(), progress=store_in(tmp_path))
    assert snap_compare(app, terminal_size=SMALL)


def test_start_screen_for_a_returning_learner_at_80x24(snap_compare, tmp_path: Path) -> None:
    store = store_in(tmp_path)
    with store.update() as progress:
        progress.set_position("journey", "question-predict-rcpt")
        progress.record_answer("journey", "tls-after-starttls", 1.0)
        progress.finish_lesson("starttls", 0.5)
    app = TutorApp(lessons=course(), progress=store)
    assert snap_compare(app, terminal_size=SMALL)


def test_lesson_paused_at_a_narration_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(lesson_app(tmp_path), terminal_size=SMALL, run_before=to_the_narration)


def test_lesson_asking_a_question_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(lesson_app(tmp_path), terminal_size=SMALL, run_before=to_the_question)


def test_lesson_feedback_on_a_wrong_answer_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(lesson_app(tmp_path), terminal_size=SMALL, run_before=to_the_feedback)


def test_lesson_score_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(lesson_app(tmp_path), terminal_size=SMALL, run_before=to_the_score)


def test_lesson_question_in_the_projector_theme_at_80x24(snap_compare, tmp_path: Path) -> None:
    app = lesson_app(tmp_path, projector=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=to_the_question)


def test_lesson_question_at_120x40(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(lesson_app(tmp_path), terminal_size=LARGE, run_before=to_the_question)
