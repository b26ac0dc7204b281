"""A lesson as the TUI takes it: the engine's stops one at a time, the rounds after the run.

No Textual here, so it is tested on its own (as ``session.py`` is for stepping). The lesson
screen feeds every revealed event in, asks ``step_on`` what the step key should do, and shows
``current``; the flow keeps what a learner did (answers, hints, where they are) as ``Record``s
the screen hands to the progress store. The rounds:

* RUN — the scenario runs; a narration stop shows its text, a question stop asks (the run
  cannot go on until it is answered or skipped); a predict question is answered before the
  reply, and the real reply brings the verdict;
* END — the end-of-lesson questions, resolved against the whole run;
* AGAIN — every question answered wrongly (or skipped) the first time, once more;
* SCORED — the score (each question counted by its first answer) and the key points.

Continuing where a learner stopped replays the run to their position without stopping: the
stops before it pass unseen, and the questions they answered then keep the score they got.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tutor.learn.engine import LessonEngine, Stop, StopKind
from tutor.learn.lesson import Family, Lesson, Narration, QuestionSpec
from tutor.learn.questions import Grade, Question, Response
from tutor.trace import Event, ScenarioFinished

END_POSITION = "end"  # the position once the run is over: the end-of-lesson questions


class Phase(StrEnum):
    RUN = "run"
    END = "end"
    AGAIN = "again"
    SCORED = "scored"


class Move(StrEnum):
    """What the step key did."""

    BLOCKED = "blocked"  # a question waits for its answer (or a skip)
    SHOWN = "shown"  # the next stop, question or the score is now current
    RUN = "run"  # nothing to show: the run takes its next step
    NOTHING = "nothing"  # the lesson is over


@dataclass
class Asking:
    """A question on screen: asked, then answered (``grade``), predicted or skipped."""

    spec: QuestionSpec | None
    question: Question | None  # None: a prediction, graded when the real reply arrives
    phase: Phase
    started: float
    hints_shown: int = 0
    grade: Grade | None = None
    predicted: str | None = None
    skipped: bool = False
    from_prediction: bool = False  # graded by the real reply to a prediction
    seconds: float = 0.0  # how long the learner took to answer (or predict)

    @property
    def id(self) -> str:
        return self.question.id if self.question is not None else self.spec.id  # type: ignore[union-attr]

    @property
    def prompt(self) -> str:
        return self.question.prompt if self.question is not None else self.spec.prompt  # type: ignore[union-attr]

    @property
    def hints(self) -> tuple[str, ...]:
        if self.question is not None and self.question.hints:
            return self.question.hints
        return self.spec.hints if self.spec is not None else ()

    @property
    def is_prediction(self) -> bool:
        return self.question is None

    @property
    def open(self) -> bool:
        """Still waiting for the learner."""
        return self.grade is None and self.predicted is None and not self.skipped


class RecordKind(StrEnum):
    ANSWER = "answer"
    HINT = "hint"
    POSITION = "position"
    FINISH = "finish"


@dataclass(frozen=True)
class Record:
    """Something to write to the learner's progress (the screen writes it, off the loop)."""

    kind: RecordKind
    question_id: str = ""
    score: float = 0.0
    seconds: float = 0.0
    hints: int = 0
    position: str = ""


@dataclass(frozen=True)
class LessonScore:
    points: float
    asked: int
    right: int
    carried: int  # answered in an earlier sitting, counted with the score they got then

    @property
    def fraction(self) -> float:
        return self.points / self.asked if self.asked else 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.fraction)


@dataclass(frozen=True)
class ReviewItem:
    """One question of the lesson for the review: the question (if it can be known) and how
    the learner's first answer went (if answered)."""

    spec: QuestionSpec
    question: Question | None
    grade: Grade | None
    note: str = ""  # why there is no question to show


def position_key(lesson: Lesson, stop: Stop) -> str:
    """The stable name of a stop, stored as the learner's position."""
    if stop.kind is StopKind.NARRATION and stop.narration is not None:
        return f"narration-{lesson.narration.index(stop.narration) + 1}"
    assert stop.spec is not None
    return f"question-{stop.spec.id}"


def position_words(lesson: Lesson, position: str) -> str:
    """The position in words, to follow "at" ("the point where the client sends STARTTLS")."""
    if position == END_POSITION:
        return "the end-of-lesson questions"
    anchor = None
    if position.startswith("narration-"):
        number = position.removeprefix("narration-")
        if number.isdigit() and 0 < int(number) <= len(lesson.narration):
            anchor = lesson.narration[int(number) - 1].anchor
    elif position.startswith("question-"):
        qid = position.removeprefix("question-")
        anchor = next((q.anchor for q in lesson.questions if q.id == qid), None)
    if anchor is None:
        return "the point where you stopped"
    return "the point where " + anchor.describe().removeprefix("when ")


@dataclass
class LessonFlow:
    """One sitting of one lesson over one run."""

    lesson: Lesson
    resume_at: str = ""  # a position_key (or END_POSITION) to catch up to without stopping
    carried: Mapping[str, float | None] = field(default_factory=dict)  # earlier best scores
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.engine = LessonEngine(self.lesson)
        self.phase = Phase.RUN
        self.queue: deque[Stop] = deque()
        self.narration: Narration | None = None  # the last narration reached
        self.narration_number = 0
        self.asking: Asking | None = None
        self.fresh = False  # the current stop has not been stepped past yet
        self.run_over = False
        self.position = ""
        self.catching_up = bool(self.resume_at)
        self.answers_shown = False  # the learner asked to see every answer before the end
        self._specs = {spec.id: spec for spec in self.lesson.questions}
        self._pending: deque[Question] = deque()
        self._skipped: list[str] = []  # skipped before the AGAIN round: asked once more
        self._passed: list[str] = []  # questions passed while catching up
        self._records: list[Record] = []
        self.again_grades: dict[str, Grade] = {}  # the second try, in the AGAIN round
        self.asked_count = {Phase.END: 0, Phase.AGAIN: 0}
        self.round_size = {Phase.END: 0, Phase.AGAIN: 0}

    # ------------------------------------------------------------------ the run

    @property
    def blocked(self) -> bool:
        """No event may be fed (nor the run step on) until the learner answers."""
        if self.asking is not None and self.asking.open:
            return True
        return any(stop.kind is StopKind.QUESTION for stop in self.queue)

    def feed(self, event: Event) -> None:
        """One revealed event, in order; its stops wait in ``queue``."""
        stops = self.engine.feed(event)
        if isinstance(event, ScenarioFinished):
            self.run_over = True
        if self.catching_up:
            stops = self._catch_up(stops)
            if self.run_over and self.catching_up:
                self.catching_up = False  # the position was not met: continue at the end
        self.queue.extend(stops)

    def _catch_up(self, stops: list[Stop]) -> list[Stop]:
        for index, stop in enumerate(stops):
            if stop.kind is StopKind.PREDICTION:
                self._drop_passed_prediction(stop)
                continue
            if position_key(self.lesson, stop) == self.resume_at:
                self.catching_up = False
                rest = stops[index:]
                return [s for s in rest if not self._drop_passed_prediction(s)]
            if stop.kind is StopKind.NARRATION:
                self.narration = stop.narration
                self.narration_number = self._narration_number(stop.narration)
            elif stop.spec is not None:
                self._pass(stop.spec)
        return []

    def _pass(self, spec: QuestionSpec) -> None:
        """A question passed on the way to the position: one answered then keeps the score it
        got; one never answered comes back after the end questions (a prediction never made
        counts as a wrong one, as when it is skipped)."""
        if self.carried.get(spec.id) is not None:
            self._passed.append(spec.id)
        elif spec.family is not Family.PREDICT:
            self._skipped.append(spec.id)

    def _drop_passed_prediction(self, stop: Stop) -> bool:
        """Forget the engine's grade of a prediction passed while catching up (the earlier
        sitting's score stands); whether the stop is one."""
        if stop.kind is not StopKind.PREDICTION or stop.spec is None:
            return False
        qid = stop.spec.id
        if qid not in self._passed:
            return stop.kind is StopKind.PREDICTION and self.catching_up
        self.engine.grades.pop(qid, None)
        if qid in self.engine.wrong:
            self.engine.wrong.remove(qid)
        return True

    def take_next(self) -> bool:
        """Make the next queued stop current if the learner has stepped past the current one."""
        if self.fresh or not self.queue or (self.asking is not None and self.asking.open):
            return False
        self._take()
        return True

    def _take(self) -> None:
        stop = self.queue.popleft()
        self.fresh = True
        if stop.kind is StopKind.NARRATION:
            self.asking = None
            self.narration = stop.narration
            self.narration_number = self._narration_number(stop.narration)
            self._moved_to(position_key(self.lesson, stop))
        elif stop.kind is StopKind.QUESTION:
            self.asking = Asking(stop.spec, stop.question, Phase.RUN, self.clock())
            self._moved_to(position_key(self.lesson, stop))
        else:  # PREDICTION: the real reply came; show how the prediction fared
            assert stop.spec is not None and stop.grade is not None
            earlier = self.asking if self.asking and self.asking.id == stop.spec.id else None
            asking = Asking(stop.spec, stop.question, Phase.RUN, self.clock())
            asking.grade = stop.grade
            asking.from_prediction = True
            asking.predicted = earlier.predicted if earlier else None
            asking.skipped = earlier.skipped if earlier else False
            asking.hints_shown = earlier.hints_shown if earlier else 0
            asking.seconds = earlier.seconds if earlier else 0.0
            self.asking = asking
            self._records.append(
                Record(
                    RecordKind.ANSWER, stop.spec.id, score=stop.grade.score, seconds=asking.seconds
                )
            )

    def _narration_number(self, narration: Narration | None) -> int:
        return self.lesson.narration.index(narration) + 1 if narration is not None else 0

    def _moved_to(self, position: str) -> None:
        if position != self.position:
            self.position = position
            self._records.append(Record(RecordKind.POSITION, position=position))

    def step_on(self) -> Move:
        """What the step key does now."""
        if self.asking is not None and self.asking.open:
            return Move.BLOCKED
        if self.queue:
            self._take()
            return Move.SHOWN
        if self.phase is Phase.RUN and not self.run_over:
            self.fresh = False
            if self.asking is not None and self.asking.question is not None:
                self.asking = None  # its feedback has been read: the narration shows again
            return Move.RUN
        if self.phase is Phase.SCORED:
            return Move.NOTHING
        if self.phase is Phase.RUN:
            self._begin_end()
        return self._next_question()

    # ------------------------------------------------------------------ after the run

    def _begin_end(self) -> None:
        self.phase = Phase.END
        questions = self.engine.end_questions()
        if self.resume_at == END_POSITION:  # continuing in the end questions: skip the answered
            for question in [q for q in questions if self.carried.get(q.id) is not None]:
                questions.remove(question)
                self._passed.append(question.id)
        self._pending = deque(questions)
        self.round_size[Phase.END] = len(self._pending)
        self._moved_to(END_POSITION)

    def _next_question(self) -> Move:
        self.fresh = True
        if not self._pending and self.phase is Phase.END:
            self.phase = Phase.AGAIN
            again = self.engine.again()
            again_ids = {q.id for q in again}
            for qid in self._skipped:
                question = self.engine.asked.get(qid)
                if question is not None and qid not in again_ids and qid not in self.engine.grades:
                    again.append(question)
            self._pending = deque(again)
            self.round_size[Phase.AGAIN] = len(self._pending)
        if not self._pending:
            self._finish()
            return Move.SHOWN
        question = self._pending.popleft()
        self.asked_count[self.phase] += 1
        self.asking = Asking(self._specs.get(question.id), question, self.phase, self.clock())
        return Move.SHOWN

    def _finish(self) -> None:
        self.phase = Phase.SCORED
        self.asking = None
        self.position = ""
        self._records.append(Record(RecordKind.FINISH, score=self.score.fraction))

    @property
    def end_questions_left(self) -> int:
        """How many end-of-lesson questions come once the run is over (for the pane's words)."""
        return sum(1 for spec in self.lesson.questions if spec.anchor is None)

    # ------------------------------------------------------------------ the learner's answers

    def answer(self, response: Response) -> Grade | None:
        """Grade the current question (None for a prediction: the reply grades it later).

        Raises ``ResponseError`` (a sentence for the learner) for a response that cannot be
        graded, e.g. text for a number; the question stays open.
        """
        asking = self.asking
        assert asking is not None and asking.open
        if asking.is_prediction:
            assert asking.spec is not None
            asking.predicted = str(response).strip()
            asking.seconds = max(0.0, self.clock() - asking.started)
            self.engine.predict(asking.spec.id, asking.predicted)
            return None
        assert asking.question is not None
        answered_before = asking.id in self.engine.grades
        result = self.engine.answer(asking.question, response)
        asking.grade = result
        if answered_before and asking.phase is Phase.AGAIN:
            self.again_grades[asking.id] = result
        asking.seconds = max(0.0, self.clock() - asking.started)
        self._records.append(
            Record(RecordKind.ANSWER, asking.id, score=result.score, seconds=asking.seconds)
        )
        return result

    def hint(self) -> str | None:
        """Reveal the next hint of the current question (None when there is no more)."""
        asking = self.asking
        if asking is None or not asking.open or asking.hints_shown >= len(asking.hints):
            return None
        text = asking.hints[asking.hints_shown]
        asking.hints_shown += 1
        self._records.append(Record(RecordKind.HINT, asking.id, hints=asking.hints_shown))
        return text

    def skip(self) -> None:
        """Leave the current question unanswered: it comes back after the end questions (a
        skipped prediction counts as a wrong one; a question skipped in the last round is
        left unanswered and scores nothing)."""
        asking = self.asking
        assert asking is not None and asking.open
        asking.skipped = True
        if asking.phase is not Phase.AGAIN and not asking.is_prediction:
            self._skipped.append(asking.id)

    def take_records(self) -> list[Record]:
        records, self._records = self._records, []
        return records

    # ------------------------------------------------------------------ the score and review

    @property
    def score(self) -> LessonScore:
        """Each question by its first answer; skipped-and-never-answered ones score 0; ones
        answered in an earlier sitting (passed while catching up) with the score they got."""
        grades = self.engine.grades
        points = sum(g.score for g in grades.values())
        asked = len(grades)
        right = sum(1 for g in grades.values() if g.correct)
        unanswered = {qid for qid in self._skipped if qid not in grades}
        asked += len(unanswered)
        carried = 0
        for qid in dict.fromkeys(self._passed):
            if qid in grades:
                continue
            best = self.carried.get(qid)
            carried += 1
            asked += 1
            points += best or 0.0
            right += int(best == 1)
        return LessonScore(points, asked, right, carried)

    def review(self) -> list[ReviewItem]:
        """Every question of the lesson, in the lesson's order, with every choice to explain."""
        items = []
        for spec in self.lesson.questions:
            grade = self.engine.grades.get(spec.id)
            question = self.engine.asked.get(spec.id)
            note = ""
            if question is None and spec.family is Family.WRITTEN:
                question = spec.question
            elif question is None and spec.family is Family.GENERATED:
                question = self.engine.prepare(spec)
                if question is None:
                    note = "Computed from the run: the run so far gives it nothing to ask about."
            elif question is None:
                note = "The answer is the real server's reply, known once the run gets there."
            items.append(ReviewItem(spec, question, grade, note))
        return items


__all__ = [
    "END_POSITION",
    "Asking",
    "LessonFlow",
    "LessonScore",
    "Move",
    "Phase",
    "Record",
    "RecordKind",
    "ReviewItem",
    "position_key",
    "position_words",
]
