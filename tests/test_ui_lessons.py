"""Lessons in the TUI: the start screen, the lesson screen over a real run, progress as the
learner goes. Pilot tests press the keys a learner would; the flow is also tested on its own
over a recorded hello trace."""

from __future__ import annotations

import asyncio
import inspect
import time
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
from textual.widgets import Button, Input

from tutor.learn.engine import StopKind
from tutor.learn.progress import Progress
from tutor.learn.questions import ResponseError
from tutor.trace import ScenarioFinished
from tutor.ui import lesson_text
from tutor.ui.app import TutorApp, run_tui
from tutor.ui.course import LessonState, SuggestionKind, course_rows, suggestion
from tutor.ui.lesson_flow import (
    END_POSITION,
    LessonFlow,
    Move,
    Phase,
    RecordKind,
    position_words,
)
from tutor.ui.screens.confirm import ConfirmScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.picker import PickerScreen
from tutor.ui.screens.review import ReviewScreen
from tutor.ui.screens.start import StartScreen
from tutor.ui.widgets.lesson.choice_input import ChoiceInput

SMALL = (80, 24)
LARGE = (120, 40)


def journey():
    return course()[0]


# ------------------------------------------------------------------ the flow, without a screen


def follow(flow: LessonFlow, events, *, until=None):
    """Feed events as the screen would (holding back while a question waits); returns the
    index of the next event to feed."""
    index = 0
    while index < len(events) and not flow.blocked:
        flow.feed(events[index])
        index += 1
        if flow.take_next() or flow.queue:
            break
    return index


def run_flow(
    flow: LessonFlow, events, answers: dict[str, object], again: dict[str, object] | None = None
) -> list[str]:
    """Drive a flow over a trace with the step key's logic; answers by question id (None or
    missing: skip), ``again`` for the once-more round (default: the same answers)."""
    index = 0
    asked = []
    for _ in range(10_000):
        asking = flow.asking
        if asking is not None and asking.open:
            asked.append(asking.id)
            given = again if again is not None and asking.phase is Phase.AGAIN else answers
            response = given.get(asking.id)
            if response is None:
                flow.skip()
            else:
                flow.answer(response)  # type: ignore[arg-type]
            while index < len(events) and not flow.blocked:
                flow.feed(events[index])
                index += 1
            flow.take_next()
            continue
        move = flow.step_on()
        if move is Move.NOTHING:
            return asked
        if move is Move.RUN:
            while index < len(events):
                flow.feed(events[index])
                index += 1
                if flow.queue:
                    break
            flow.take_next()
    raise AssertionError("the flow never ended")


RIGHT = {
    "tls-after-starttls": "a",
    "predict-rcpt": "250",
    "mx-first": "a",
    "hops-in-order": ("a", "b", "c"),
    "queued-code": "250",
}


def test_the_flow_stops_at_the_narration_then_asks_at_the_same_anchor() -> None:
    events = load_trace(HELLO_TRACE)
    flow = LessonFlow(journey())
    follow(flow, events)
    assert flow.narration is not None and "upgrade the connection" in flow.narration.text
    assert flow.asking is None and flow.position == "narration-1"
    assert flow.blocked  # the question at the same event waits in the queue
    assert flow.step_on() is Move.SHOWN
    assert flow.asking is not None and flow.asking.id == "tls-after-starttls"
    assert flow.step_on() is Move.BLOCKED


def test_a_prediction_is_graded_when_the_real_reply_is_revealed() -> None:
    events = load_trace(HELLO_TRACE)
    flow = LessonFlow(journey())
    run_flow(flow, events, {**RIGHT, "predict-rcpt": "550"})
    grade = flow.engine.grades["predict-rcpt"]
    assert not grade.correct and grade.expected == "250"
    assert "The server answered: 250 2.1.5 Ok" in grade.explanation[0]


def test_answering_rightly_scores_every_question_and_asks_nothing_again() -> None:
    flow = LessonFlow(journey())
    asked = run_flow(flow, load_trace(HELLO_TRACE), RIGHT)
    assert asked == [
        "tls-after-starttls",
        "predict-rcpt",
        "mx-first",
        "hops-in-order",
        "queued-code",
    ]
    assert flow.phase is Phase.SCORED
    assert (flow.score.points, flow.score.asked, flow.score.right) == (5, 5, 5)
    kinds = [r.kind for r in flow.take_records()]
    assert kinds.count(RecordKind.ANSWER) == 5 and kinds[-1] is RecordKind.FINISH


def test_wrong_and_skipped_questions_come_back_once_and_count_by_the_first_answer() -> None:
    flow = LessonFlow(journey())
    answers = {**RIGHT, "mx-first": "b", "hops-in-order": ("b", "a", "c")}
    del answers["queued-code"]  # skipped
    asked = run_flow(flow, load_trace(HELLO_TRACE), answers)
    assert asked[5:] == ["mx-first", "hops-in-order", "queued-code"]  # once more, in order
    score = flow.score
    assert score.asked == 5 and score.right == 2
    assert round(score.points, 3) == round(2 + 2 / 3, 3)  # the skipped one never answered: 0


def test_a_question_skipped_then_answered_once_more_counts_that_answer() -> None:
    flow = LessonFlow(journey())
    answers = {k: v for k, v in RIGHT.items() if k != "tls-after-starttls"}
    asked = run_flow(flow, load_trace(HELLO_TRACE), answers, again=RIGHT)
    assert asked.count("tls-after-starttls") == 2
    assert (flow.score.asked, flow.score.right) == (5, 5)
    assert flow.again_grades == {}  # its only answer is its first


def test_a_skipped_prediction_counts_as_a_wrong_one_and_comes_back() -> None:
    flow = LessonFlow(journey())
    answers = {k: v for k, v in RIGHT.items() if k != "predict-rcpt"}
    asked = run_flow(flow, load_trace(HELLO_TRACE), answers, again=RIGHT)
    assert asked[-1] == "predict-rcpt" and asked.count("predict-rcpt") == 2
    assert not flow.engine.grades["predict-rcpt"].correct
    assert flow.again_grades["predict-rcpt"].correct


def test_continuing_passes_the_earlier_stops_and_keeps_their_scores() -> None:
    events = load_trace(HELLO_TRACE)
    flow = LessonFlow(
        journey(),
        resume_at="question-predict-rcpt",
        carried={"tls-after-starttls": 0.0},
    )
    index = 0
    while flow.catching_up:
        flow.feed(events[index])
        index += 1
    assert flow.take_next()
    assert flow.asking is not None and flow.asking.id == "predict-rcpt"
    assert flow.narration is not None  # the narration passed on the way is there to reread
    rest = run_flow(flow, events[index:], RIGHT)
    assert "tls-after-starttls" not in rest  # answered (wrongly) in the earlier sitting
    assert flow.score.carried == 1 and flow.score.asked == 5 and flow.score.points == 4


def test_continuing_at_the_end_questions_skips_the_ones_already_answered() -> None:
    earlier = {"tls-after-starttls": 1.0, "predict-rcpt": 0.0, "mx-first": 1.0}
    flow = LessonFlow(journey(), resume_at=END_POSITION, carried=earlier)
    asked = run_flow(flow, load_trace(HELLO_TRACE), RIGHT)
    assert asked == ["hops-in-order", "queued-code"]
    assert (flow.score.points, flow.score.asked, flow.score.carried) == (4, 5, 3)


def test_a_question_never_answered_before_the_position_comes_back_at_the_end() -> None:
    flow = LessonFlow(journey(), resume_at=END_POSITION, carried={"predict-rcpt": 1.0})
    asked = run_flow(flow, load_trace(HELLO_TRACE), RIGHT)
    assert asked == ["mx-first", "hops-in-order", "queued-code", "tls-after-starttls"]


def test_a_typed_number_that_is_not_one_leaves_the_question_open() -> None:
    from tutor.learn.questions import Explanation, NumberAnswer, Question
    from tutor.ui.lesson_flow import Asking

    flow = LessonFlow(journey())
    question = Question("minutes", "How many?", NumberAnswer(60, 5, "minutes"), Explanation("x"))
    flow.asking = Asking(None, question, Phase.END, 0.0)
    try:
        flow.answer("soon")
    except ResponseError:
        pass
    else:
        raise AssertionError("a word is not a number")
    assert flow.asking.open
    assert flow.answer("58 minutes").correct  # type: ignore[union-attr]


def test_positions_read_as_the_anchor_they_name() -> None:
    lesson = journey()
    assert position_words(lesson, "narration-1") == "the point where the client sends STARTTLS"
    assert position_words(lesson, "question-predict-rcpt") == (
        "the point where smtp.example.org sends RCPT"
    )
    assert position_words(lesson, END_POSITION) == "the end-of-lesson questions"
    assert position_words(lesson, "narration-99") == "the point where you stopped"


def test_feedback_marks_each_pick_with_a_glyph_and_its_misconception() -> None:
    flow = LessonFlow(journey())
    follow(flow, load_trace(HELLO_TRACE))
    flow.step_on()
    flow.answer("b")
    text = _plain(lesson_text.feedback(flow.asking))  # type: ignore[arg-type]
    assert "✗ Not right · 0/1" in text
    assert "✗ b) Send MAIL FROM at once — your pick, wrong." in text
    assert "Misconception: the session state survives the TLS upgrade" in text
    assert "! a) Send EHLO again — right, and you did not pick it" in text
    assert "See RFC 3207 §4.2." in text


def _plain(renderable) -> str:
    """What a renderable shows, as words: wrapping and padding collapsed to single spaces."""
    import io

    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return " ".join(console.export_text().split())


# ------------------------------------------------------------------ the course


def test_a_first_time_learner_is_told_to_start_with_lesson_one() -> None:
    rows = course_rows(course(), Progress())
    assert [row.state for row in rows] == [LessonState.NEW, LessonState.NEW]
    found = suggestion(rows, Progress())
    assert found is not None and found.kind is SuggestionKind.START
    assert found.words == "Start here: The journey of one email"
    assert rows[1].missing == ("The journey of one email",)  # advised, not locked
    assert rows[1].summary() == "not started · 25 min · suggested first: lesson 1"


def test_a_returning_learner_continues_where_they_stopped_then_goes_on_to_the_next() -> None:
    progress = Progress()
    progress.set_position("journey", "question-predict-rcpt")
    found = suggestion(course_rows(course(), progress), progress)
    assert found is not None and found.kind is SuggestionKind.CONTINUE
    assert found.words == (
        "Continue The journey of one email at the point where smtp.example.org sends RCPT"
    )
    progress.finish_lesson("journey", 0.8)
    progress.set_position("journey", "")
    rows = course_rows(course(), progress)
    assert rows[0].state is LessonState.DONE and rows[0].state.glyph == "✓"
    assert "best 80%" in rows[0].summary() and rows[1].missing == ()
    found = suggestion(rows, progress)
    assert found is not None and found.kind is SuggestionKind.NEXT and found.row.number == 2


# ------------------------------------------------------------------ Pilot: the start screen


async def test_the_start_screen_is_the_first_screen_and_leads_to_lesson_one(tmp_path: Path) -> None:
    app = TutorApp(lessons=course(), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        main = app.screen.query_one("#start-main", Button)
        assert str(main.label) == "▶ Start here: The journey of one email"
        assert app.focused is main
        await pilot.press("enter")
        screen = await lesson_screen(pilot, app)
        assert screen.lesson.id == "journey"


async def test_a_lesson_taken_from_the_start_screen_to_its_score_answering_rightly(
    tmp_path: Path,
) -> None:
    store = store_in(tmp_path)
    app = TutorApp(lessons=course(), progress=store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # Start here
        screen = await lesson_screen(pilot, app)
        asked = await take_the_lesson(pilot, app, screen, right=True)
        assert asked == [
            "tls-after-starttls",
            "predict-rcpt",
            "mx-first",
            "hops-in-order",
            "queued-code",
        ]
        assert screen.has_class("-scored")
        assert "Score: 5 of 5 (100%)" in _plain(screen.pane.query_one("#lesson-text").content)
        await pilot.press("w")  # back to the lessons: done, with its score
        for _ in range(50):
            if isinstance(app.screen, StartScreen):
                break
            await pilot.pause(0.02)
        start = app.screen
        assert isinstance(start, StartScreen)
        assert start.rows[0].state is LessonState.DONE and start.rows[0].best == 1.0
        assert str(start.query_one("#start-main", Button).label) == (
            "▶ Next: STARTTLS: upgrading the connection"
        )
    progress = store.load()
    record = progress.lessons["journey"]
    assert record.done and record.best_score == 1.0 and record.position == ""
    assert set(record.questions) == set(asked)
    assert all(q.best_score == 1.0 for q in record.questions.values())


async def test_wrong_answers_come_back_once_more_before_the_score(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    app = TutorApp(lessons=course(), progress=store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("c")
        screen = await lesson_screen(pilot, app)
        wrong = {"tls-after-starttls": False, "predict-rcpt": False, "hops-in-order": False}
        asked = await take_the_lesson(pilot, app, screen, right=wrong, again_right=True)
        again = asked[5:]
        assert again == ["tls-after-starttls", "predict-rcpt", "hops-in-order"]
        score = screen.flow.score
        assert (score.right, score.asked) == (2, 5)  # each counted by its first answer
        shown = _plain(screen.pane.query_one("#lesson-text").content)
        assert "✗ Not right" in shown and "then ✓ right" in shown
    record = store.load().lessons["journey"]
    assert record.questions["tls-after-starttls"].attempts.total == 2
    assert record.questions["tls-after-starttls"].best_score == 1.0
    assert record.best_score is not None and record.best_score < 1


async def test_progress_is_saved_as_the_learner_goes_and_the_next_start_continues(
    tmp_path: Path,
) -> None:
    store = store_in(tmp_path)
    app = TutorApp(lessons=course(), progress=store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        screen = await lesson_screen(pilot, app)
        await step_to_stop(pilot, app, screen)  # the STARTTLS question
        await pilot.press("h")  # one hint
        await settle(pilot, app)
        await answer(pilot, app, screen, right=False)
        await step_to_stop(pilot, app, screen)  # the prediction
        assert screen.flow.asking is not None and screen.flow.asking.id == "predict-rcpt"
        await app.progress_writer.flush()
        saved = store.load().lessons["journey"]
        assert saved.position == "question-predict-rcpt"
        assert saved.questions["tls-after-starttls"].hints_used == 1
        assert saved.questions["tls-after-starttls"].best_score == 0.0
        await pilot.press("q")
    assert store.load().lessons["journey"].seconds.total > 0

    app = TutorApp(lessons=course(), progress=store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        start = app.screen
        assert isinstance(start, StartScreen)
        label = str(start.query_one("#start-main", Button).label)
        assert label == (
            "▶ Continue The journey of one email at the point where smtp.example.org sends RCPT"
        )
        assert "stopped at the point where smtp.example.org" in start.rows[0].summary()
        await pilot.press("enter")
        screen = await lesson_screen(pilot, app)
        for _ in range(200):  # it catches up through the run, asking nothing on the way
            if not screen.flow.catching_up:
                break
            await pilot.pause(0.02)
        await settle(pilot, app)
        asking = screen.flow.asking
        assert asking is not None and asking.id == "predict-rcpt" and asking.open
        asked = await take_the_lesson(pilot, app, screen, right=True, again_right=True)
        assert "tls-after-starttls" not in asked  # answered in the first sitting
        assert screen.flow.score.carried == 1 and screen.flow.score.asked == 5


async def test_any_lesson_opens_from_the_list_and_its_prerequisites_only_advise(
    tmp_path: Path,
) -> None:
    app = TutorApp(lessons=course(), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        start = app.screen
        assert isinstance(start, StartScreen)
        about = _plain(start.query_one("#lesson-about").content)
        assert "Suggested first" not in about
        await pilot.press("down", "down")  # from the button into the list, to lesson 2
        await pilot.pause()
        about = _plain(start.query_one("#lesson-about").content)
        assert "Suggested first: The journey of one email (not done yet)" in about
        await pilot.press("enter")
        screen = await lesson_screen(pilot, app)
        assert screen.lesson.id == "starttls"


async def test_resetting_a_lesson_or_everything_asks_first(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    with store.update() as progress:
        progress.set_position("journey", "narration-1")
        progress.finish_lesson("starttls", 0.5)
    app = TutorApp(lessons=course(), progress=store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("down")  # the list, on the lesson to continue (journey)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert store.load().lessons["journey"].position == "narration-1"
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, app)
        await pilot.pause(0.05)
        assert "journey" not in store.load().lessons
        assert "starttls" in store.load().lessons
        start = app.screen
        assert isinstance(start, StartScreen)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot, app)
        await pilot.pause(0.05)
        assert store.load().lessons == {}
        assert len(list(tmp_path.glob("progress.json.reset-*"))) == 1  # the old file, kept


async def test_the_scenario_picker_opens_from_the_start_screen_and_escape_comes_back(
    tmp_path: Path,
) -> None:
    app = TutorApp(lessons=course(), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("w")
        for _ in range(50):
            if isinstance(app.screen, PickerScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")
        for _ in range(50):
            if isinstance(app.screen, StartScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, StartScreen)


# ------------------------------------------------------------------ Pilot: the lesson screen


async def test_the_palette_finds_the_lesson_screens_actions_by_typing(tmp_path: Path) -> None:
    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        screen = await lesson_screen(pilot, app)
        await step_to_stop(pilot, app, screen)
        for query, title in (("hint", "Hint"), ("review every", "Review every question")):
            await pilot.press("ctrl+p")
            await pilot.pause(0.1)
            await pilot.press(*query)
            await pilot.pause(0.3)
            palette = app.screen
            shown = [str(option.prompt) for option in palette.query("CommandList").first().options]
            assert any(title in text for text in shown), shown
            await pilot.press("escape")
            await pilot.pause(0.1)
        await pilot.press("ctrl+p")
        await pilot.pause(0.1)
        await pilot.press(*"hint")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot, app)
        assert screen.flow.asking is not None and screen.flow.asking.hints_shown == 1


async def test_a_predict_question_asks_before_the_reply_and_the_reply_grades_it(
    tmp_path: Path,
) -> None:
    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        screen = await lesson_screen(pilot, app)
        await step_to_stop(pilot, app, screen)
        await pilot.press("k")  # skip the STARTTLS question
        await settle(pilot, app)
        await step_to_stop(pilot, app, screen)
        assert screen.flow.asking is not None and screen.flow.asking.is_prediction
        session = screen.session
        assert session is not None and not str(session.selected).startswith("250")
        assert isinstance(app.focused, Input)
        await pilot.press(" ", "x", "5", "5", "0", "enter")  # only digits go in
        await settle(pilot, app)
        assert screen.flow.asking.predicted == "550"
        await pilot.press("space")  # the real reply arrives
        await settle(pilot, app)
        asking = screen.flow.asking
        assert asking.from_prediction and asking.grade is not None and not asking.grade.correct
        shown = _plain(screen.pane.query_one("#lesson-after").content)
        assert "you predicted 550, the answer is 250" in shown
        assert "The server answered: 250 2.1.5 Ok" in shown


async def test_instructor_notes_show_only_in_projector_mode_and_only_on_request(
    tmp_path: Path,
) -> None:
    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        screen = await lesson_screen(pilot, app)
        notes = screen.pane.query_one("#lesson-notes")
        assert not notes.display
        await pilot.press("i")  # not in projector mode: a hint how, no notes
        await settle(pilot, app)
        assert not notes.display
        await pilot.press("t")
        await settle(pilot, app)
        assert not notes.display  # projector mode alone does not show them
        await pilot.press("i")
        await settle(pilot, app)
        assert notes.display
        assert "Received: header" in _plain(notes.content)


async def test_show_me_asks_first_then_reviews_every_question_with_every_choice(
    tmp_path: Path,
) -> None:
    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    async with app.run_test(size=LARGE) as pilot:
        await lesson_screen(pilot, app)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        review = app.screen
        assert isinstance(review, ReviewScreen)
        text = _plain(review.query_one("#review-text").content)
        assert "✓ a) Send EHLO again — right" in text
        assert "✗ c) Send QUIT and reconnect — wrong. Misconception: STARTTLS needs a new" in text
        assert "The right order:" in text and "The answer: 250" in text
        assert "known once the run gets there" in text  # the prediction, before its reply
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen)


async def test_a_lesson_on_the_real_world_narrates_at_its_anchor(tmp_path: Path) -> None:
    app = TutorApp(lesson=journey(), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        screen = await lesson_screen(pilot, app)
        for _ in range(100):
            if screen.flow.narration is not None:
                break
            await pilot.press("space")
            await settle(pilot, app)
        session = screen.session
        assert session is not None and session.selected is not None
        assert getattr(session.selected, "text", "") == "STARTTLS"
        heading = _plain(screen.pane.query_one("#lesson-heading").content)
        assert "Narration 1 of 2 · when the client sends STARTTLS" in heading


def _signature(screen: LessonScreen) -> tuple[object, ...]:
    """What a key can change: the lesson pane, the run's cursor, the answer being typed."""
    session = screen.session
    widget = screen.pane.input
    typed = getattr(widget, "value", None), getattr(widget, "picked", None)
    order = tuple(getattr(widget, "order", ())), getattr(widget, "cursor", None)
    cursor = (session.cursor, session.revealed) if session is not None else None
    return screen.pane._shown, cursor, repr(typed), order, type(screen.app.screen).__name__


async def test_every_key_answers_within_100_ms(tmp_path: Path) -> None:
    """From each key press to the frame that shows what it did (as bench/tui_bench.py times a
    step), over a whole lesson: steps, stops, picks, typing, answers, hints, the review.

    What is held to 100 ms is the work: the CPU time of the app's thread from the key to that
    frame. The wall time is reported too, but on a machine shared with other test runs it
    measures the neighbours as much as the tutor."""
    import gc

    from textual import events
    from textual.screen import Screen

    # What earlier tests left on the heap is not this app's work: a full collection walks
    # every live object, so keep theirs out of it (and out of this measure).
    gc.collect()
    gc.freeze()
    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    painted: list[tuple[float, float, tuple[object, ...]]] = []  # (wall, cpu, what it showed)
    paint = Screen._compositor_refresh

    def probe(screen: Screen) -> None:
        paint(screen)
        lesson = app.screen_stack[-1] if app.screen_stack else None
        if isinstance(screen, LessonScreen) and lesson is not None:
            shown = _signature(screen)
        elif screen.is_current:
            shown = ("other", type(screen).__name__)
        else:
            return
        painted.append((time.perf_counter(), time.thread_time(), shown))

    timings: list[tuple[float, float, str]] = []  # (cpu ms, wall ms, which key)
    Screen._compositor_refresh = probe  # type: ignore[method-assign]
    try:
        async with app.run_test(size=SMALL) as pilot:
            screen = await lesson_screen(pilot, app)

            async def timed(*keys: str) -> None:
                for key in keys:
                    before = _signature(screen)
                    painted.clear()
                    started, cpu = time.perf_counter(), time.thread_time()
                    character = key if len(key) == 1 else (" " if key == "space" else None)
                    app.post_message(events.Key(key, character))
                    frame = None
                    while frame is None and time.perf_counter() - started < 5:
                        await asyncio.sleep(0.0005)
                        frame = next((f for f in painted if f[2] != before), None)
                    assert frame is not None, f"{key} changed nothing on screen"
                    timings.append(
                        (
                            (frame[1] - cpu) * 1000,
                            (frame[0] - started) * 1000,
                            f"{key} in {screen.flow.phase}",
                        )
                    )
                    await settle(pilot, app)

            for _ in range(400):
                flow = screen.flow
                if flow.phase is Phase.SCORED:
                    break
                asking = flow.asking
                if asking is None or not asking.open:
                    await timed("space")
                elif isinstance(screen.pane.input, ChoiceInput):
                    hint = ("h",) if asking.hints_shown < len(asking.hints) else ()
                    await timed(*hint, "b", "a", "enter")
                elif isinstance(app.focused, Input):
                    await timed("2", "5", "0", "enter")
                else:
                    await timed("down", "right_square_bracket", "enter")
            assert screen.flow.phase is Phase.SCORED
            await timed("a")  # the review
            await timed("escape")
    finally:
        Screen._compositor_refresh = paint  # type: ignore[method-assign]
        gc.unfreeze()
    worst = max(timings)
    assert len(timings) > 100
    assert worst[0] < 100, (
        f"the slowest key took {worst[0]:.0f} ms of work ({worst[1]:.0f} ms wall): {worst[2]}"
    )


def test_run_tui_opens_a_lesson_by_id_with_the_signature_the_cli_calls() -> None:
    parameters = inspect.signature(run_tui).parameters
    assert parameters["lesson"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["lesson"].default is None


def test_the_recorded_hello_trace_ends_as_the_lesson_expects() -> None:
    events = load_trace(HELLO_TRACE)
    assert isinstance(events[-1], ScenarioFinished)
    assert events[-1].outcomes == {"bob@example.net": "delivered"}
    flow = LessonFlow(journey())
    kinds = []
    for event in events:
        kinds += [stop.kind for stop in flow.engine.feed(event)]
    assert kinds.count(StopKind.NARRATION) == 2 and StopKind.PREDICTION in kinds


async def test_an_enter_typed_right_after_the_review_key_does_not_say_show_me(
    tmp_path: Path,
) -> None:
    from textual import events

    app = TutorApp(lesson=journey(), replay=load_trace(HELLO_TRACE), progress=store_in(tmp_path))
    async with app.run_test(size=SMALL) as pilot:
        await lesson_screen(pilot, app)
        app.post_message(events.Key("a", "a"))
        app.post_message(events.Key("enter", "\r"))  # before the dialog has drawn a frame
        for _ in range(40):  # a loaded machine may take a while to draw and close the dialog
            await pilot.pause(0.05)
            if isinstance(app.screen, LessonScreen):
                break
        # Whether the Enter closed the dialog (No has the focus) or came before it could take
        # keys, it must never have said "show me".
        lesson = next(s for s in app.screen_stack if isinstance(s, LessonScreen))
        assert not lesson.flow.answers_shown


async def test_the_progress_writer_keeps_order_and_tells_of_a_corrupt_file_once(
    tmp_path: Path,
) -> None:
    from tutor.ui.progress_writer import ProgressWriter

    store = store_in(tmp_path)
    store.path.write_text("{not json", encoding="utf-8")
    told: list[str] = []
    writer = ProgressWriter(store, told.append)
    writer.save(lambda p: p.set_position("journey", "narration-1"))
    writer.save(lambda p: p.set_position("journey", "question-predict-rcpt"))
    await writer.flush()
    assert len(told) == 1 and "could not be read" in told[0] and "moved to" in told[0]
    assert store.load().lessons["journey"].position == "question-predict-rcpt"
    backups = list(tmp_path.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "{not json"
