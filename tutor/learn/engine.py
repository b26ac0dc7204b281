"""A lesson being followed: which narration and question the run has reached, and the score.

The engine sits between a run's events and a view (the TUI's lesson screen, or the plain
prompt). The view feeds it every event as it is revealed and shows the stops it returns;
the engine never touches the world or a screen. It

* pauses at each narration and in-run question when its anchor's event arrives;
* resolves a predict question when the real reply to the anchored command comes back, and a
  generated one from the events seen so far (one that cannot be asked on this run is skipped);
* grades each answer at once, brings every wrongly answered question back once at the end, and
  ends with the score and the key points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from tutor.learn.anchors import AnchorMatcher
from tutor.learn.lesson import Family, Lesson, Narration, QuestionSpec
from tutor.learn.questions import (
    Explanation,
    Grade,
    Question,
    TypeAnswer,
    grade,
)
from tutor.learn.templates import generate
from tutor.trace import Direction, Event, Side, SmtpLine


class StopKind(StrEnum):
    NARRATION = "narration"
    QUESTION = "question"  # ask now; for a predict question, before the reply arrives
    PREDICTION = "prediction"  # the real reply came: here is how the prediction fared


@dataclass(frozen=True)
class Stop:
    """Something the view shows before the run goes on."""

    kind: StopKind
    narration: Narration | None = None
    spec: QuestionSpec | None = None
    question: Question | None = None  # ready to ask (None for a pending predict question)
    grade: Grade | None = None  # PREDICTION: the prediction graded against the real reply
    event: Event | None = None  # the event that brought the stop


@dataclass
class Score:
    points: float = 0.0
    asked: int = 0

    @property
    def fraction(self) -> float:
        return self.points / self.asked if self.asked else 0.0


@dataclass
class _Prediction:
    spec: QuestionSpec
    session: str
    response: str | None = None


@dataclass
class LessonEngine:
    """Follows one lesson over one run; feed it every event in order."""

    lesson: Lesson
    events: list[Event] = field(default_factory=list)
    grades: dict[str, Grade] = field(default_factory=dict)  # question id -> first grade
    wrong: list[str] = field(default_factory=list)  # ids to ask again at the end
    skipped: list[str] = field(default_factory=list)  # generated questions this run cannot ask
    asked: dict[str, Question] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._narration = list(self.lesson.narration)
        self._in_run = [q for q in self.lesson.questions if q.anchor is not None]
        anchors = [n.anchor for n in self._narration]
        anchors += [q.anchor for q in self._in_run if q.anchor is not None]
        self._matcher = AnchorMatcher(anchors)
        self._predictions: list[_Prediction] = []

    # ------------------------------------------------------------------ the run

    def feed(self, event: Event) -> list[Stop]:
        """The stops this event brings, in the lesson's order (narration, then questions)."""
        self.events.append(event)
        stops = self._resolve_predictions(event)
        for index in self._matcher.feed(event):
            if index < len(self._narration):
                stops.append(
                    Stop(StopKind.NARRATION, narration=self._narration[index], event=event)
                )
                continue
            spec = self._in_run[index - len(self._narration)]
            stop = self._ask(spec, event)
            if stop is not None:
                stops.append(stop)
        return stops

    def _ask(self, spec: QuestionSpec, event: Event) -> Stop | None:
        if spec.family is Family.PREDICT:
            self._predictions.append(_Prediction(spec, event.session))
            return Stop(StopKind.QUESTION, spec=spec, event=event)
        question = self.prepare(spec)
        if question is None:
            return None
        return Stop(StopKind.QUESTION, spec=spec, question=question, event=event)

    def predict(self, question_id: str, response: str) -> None:
        """The learner's prediction; it is graded when the real reply arrives."""
        for prediction in self._predictions:
            if prediction.spec.id == question_id:
                prediction.response = response.strip()
                return
        raise KeyError(question_id)

    def _resolve_predictions(self, event: Event) -> list[Stop]:
        if not (
            isinstance(event, SmtpLine)
            and event.direction is Direction.SERVER_TO_CLIENT
            and event.side is Side.CLIENT
        ):
            return []
        text = event.text
        if len(text) >= 4 and text[3] == "-":
            return []  # more lines of this reply follow
        stops = []
        for prediction in [p for p in self._predictions if p.session == event.session]:
            self._predictions.remove(prediction)
            question = predicted_question(prediction.spec, text)
            self.asked[question.id] = question
            result = self._record(question, prediction.response or "(no prediction)")
            stops.append(
                Stop(
                    StopKind.PREDICTION,
                    spec=prediction.spec,
                    question=question,
                    grade=result,
                    event=event,
                )
            )
        return stops

    # ------------------------------------------------------------------ questions

    def prepare(self, spec: QuestionSpec) -> Question | None:
        """The question to ask now, from the file or computed from the run so far."""
        if spec.family is Family.WRITTEN:
            question = spec.question
        elif spec.family is Family.GENERATED:
            question = generate(spec.template, self.events, spec.id, spec.explanation, spec.hints)
        else:
            question = None  # a predict question is only known once its reply arrives
        if question is None:
            if spec.family is Family.GENERATED and spec.id not in self.skipped:
                self.skipped.append(spec.id)
            return None
        self.asked[question.id] = question
        return question

    def answer(self, question: Question, response: object) -> Grade:
        """Grade an answer at once; a first wrong answer brings the question back at the end."""
        return self._record(question, response)

    def skip(self, question: Question) -> Grade:
        """A question the learner chose not to answer: no points, and it comes back at the end."""
        result = Grade(
            question_id=question.id,
            kind=question.kind,
            fraction=Fraction(0),
            correct=False,
            summary="Skipped.",
            expected=question.answer.expected(),
            rule=question.rule(),
            explanation=question.explanation.lines(),
        )
        self._keep(result)
        return result

    def _record(self, question: Question, response: object) -> Grade:
        result = grade(question, response)
        self._keep(result)
        return result

    def _keep(self, result: Grade) -> None:
        if result.question_id not in self.grades:  # the first answer is the one that counts
            self.grades[result.question_id] = result
            if not result.correct:
                self.wrong.append(result.question_id)

    def end_questions(self) -> list[Question]:
        """The questions asked after the run, resolved against the whole run."""
        found = []
        for spec in self.lesson.questions:
            if spec.anchor is None:
                question = self.prepare(spec)
                if question is not None:
                    found.append(question)
        return found

    def again(self) -> list[Question]:
        """Every question answered wrongly the first time, asked once more at the end."""
        return [self.asked[qid] for qid in self.wrong if qid in self.asked]

    @property
    def score(self) -> Score:
        """Points over questions asked, each counted by its first answer."""
        return Score(sum(g.score for g in self.grades.values()), len(self.grades))


def predicted_question(spec: QuestionSpec, reply_line: str) -> Question:
    """The predict question with the real reply as its answer: its code, e.g. "550"."""
    code = reply_line[:3]
    explanation = spec.explanation or Explanation("")
    real = Explanation(
        f"The server answered: {reply_line}\n\n{explanation.text}".strip(), explanation.refs
    )
    return Question(
        spec.id,
        spec.prompt,
        TypeAnswer(accepted=(code,), shown=code),
        real,
        spec.hints,
    )


def reply_after(events: Sequence[Event], anchor_event: Event) -> str:
    """The final reply line the server sent next in the anchor's session ('' if none)."""
    seen = False
    for event in events:
        if event is anchor_event:
            seen = True
            continue
        if (
            seen
            and isinstance(event, SmtpLine)
            and event.session == anchor_event.session
            and event.side is Side.CLIENT
            and event.direction is Direction.SERVER_TO_CLIENT
            and (len(event.text) < 4 or event.text[3] != "-")
        ):
            return event.text
    return ""


__all__ = [
    "LessonEngine",
    "Score",
    "Stop",
    "StopKind",
    "predicted_question",
    "reply_after",
]
