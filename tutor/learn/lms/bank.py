"""What an LMS export holds: each lesson's questions, with the run a run-made question was asked on.

A written question is exported as its lesson file gives it. A predict or a generated question
only exists on a run — its answer is the reply that server really gave, its choices the hosts
that run really had — so it is exported *as asked on one run*, and says which: a recorded
trace (``--run FILE``, labelled a replay, with the scenario, the file and when it was
recorded) or a fresh run of the lesson's scenario made for the export. The questions are
worked out by the same ``LessonEngine`` a learner's lesson uses, so the export asks what the
tutor would have.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tutor.errors import UserError
from tutor.learn.engine import LessonEngine, StopKind
from tutor.learn.lesson import Family, Lesson
from tutor.learn.questions import Question
from tutor.trace import Event


class ExportError(UserError):
    """An export that cannot be made as asked (a trace of another scenario, a run that failed)."""


@dataclass(frozen=True)
class RunOrigin:
    """The run that predict and generated questions were asked on.

    ``when`` is wall-clock time, never the world's: a scenario may start its (simulated) clock
    on a fixed morning. For a replay it is when the trace file was written, for a fresh run
    when it was made.
    """

    scenario: str
    when: str  # "2025-03-03 09:41 UTC"
    what_ifs: tuple[str, ...] = ()
    recording: Path | None = None  # the trace file of a replay; None for a fresh run

    @property
    def replay(self) -> bool:
        return self.recording is not None

    @property
    def run(self) -> str:
        """The scenario and its what-ifs, as ``lessons check`` names a run: "hello + mx-down"."""
        return " + ".join([self.scenario, *self.what_ifs])

    def label(self) -> str:
        """The sentence that heads every question asked on this run."""
        if self.recording is not None:
            return (
                f"As asked on a replay of a run of the {self.run} scenario, recorded in "
                f"{self.recording.name} on {self.when}."
            )
        return f"As asked on a fresh run of the {self.run} scenario, made on {self.when}."

    def tag(self) -> str:
        """A few words for a question's name: "replay of hello", "run of hello"."""
        return f"{'replay' if self.replay else 'run'} of {self.run}"


def wall_clock(timestamp: float) -> str:
    """A moment as a label gives it: "2025-03-03 09:41 UTC"."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class ExportedQuestion:
    """One question to export, with where it came from."""

    lesson_id: str
    question: Question
    family: Family
    origin: RunOrigin | None = None  # set for predict and generated questions

    @property
    def name(self) -> str:
        """The question's name in the LMS: "journey/mx-tried-first (run of hello)"."""
        base = f"{self.lesson_id}/{self.question.id}"
        return f"{base} ({self.origin.tag()})" if self.origin is not None else base


@dataclass(frozen=True)
class LessonQuestions:
    """A lesson and the questions exported from it, in the order its file writes them."""

    lesson: Lesson
    questions: tuple[ExportedQuestion, ...]
    origin: RunOrigin | None = None


@dataclass
class Bank:
    """Everything one export writes, and what the gathering had to say about it."""

    lessons: list[LessonQuestions] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def questions(self) -> list[ExportedQuestion]:
        return [q for lesson in self.lessons for q in lesson.questions]


@dataclass(frozen=True)
class RecordedRun:
    """A run's events and where they came from."""

    origin: RunOrigin
    events: tuple[Event, ...]


def lesson_questions(lesson: Lesson, run: RecordedRun | None, notes: list[str]) -> LessonQuestions:
    """The lesson's written questions, and (given a run) its predict and generated ones as asked.

    Without a run only the written questions are exported. A question the run cannot ask (a
    template that finds nothing, an anchor never met) is left out with a note saying why.
    """
    asked = _asked_on(lesson, run.events) if run is not None else {}
    exported = []
    for spec in lesson.questions:
        if spec.family is Family.WRITTEN:
            assert spec.question is not None  # the loader completes every written question
            exported.append(ExportedQuestion(lesson.id, spec.question, spec.family))
            continue
        if run is None:
            continue
        question = asked.get(spec.id)
        if question is None:
            why = (
                f"template {spec.template!r} finds nothing to ask"
                if spec.family is Family.GENERATED
                else "no reply to predict follows its anchor"
            )
            notes.append(
                f"{lesson.id}/{spec.id}: left out, {why} on the {run.origin.tag()} "
                "(`smtp-tutor lessons check` says more)"
            )
            continue
        exported.append(ExportedQuestion(lesson.id, question, spec.family, run.origin))
    return LessonQuestions(lesson, tuple(exported), run.origin if run is not None else None)


def _asked_on(lesson: Lesson, events: Iterable[Event]) -> dict[str, Question]:
    """Every question the lesson asks on these events, by id, as the learner would see it."""
    engine = LessonEngine(lesson)
    asked: dict[str, Question] = {}
    for event in events:
        for stop in engine.feed(event):
            # A predict question is complete only at its PREDICTION stop (the real reply).
            if stop.question is not None and stop.kind in (StopKind.QUESTION, StopKind.PREDICTION):
                asked[stop.question.id] = stop.question
    for question in engine.end_questions():
        asked[question.id] = question
    return asked


def needs_run(lesson: Lesson) -> bool:
    """Whether any of the lesson's questions comes from a run."""
    return any(spec.family is not Family.WRITTEN for spec in lesson.questions)


# --------------------------------------------------------------------------- runs


def recorded_run(path: Path) -> RecordedRun:
    """A trace recorded with ``smtp-tutor run SCENARIO --record FILE``, as a replay."""
    from tutor.trace import read_trace

    header, events = read_trace(path)
    if not header.scenario:
        raise ExportError(f"{path}: the trace header names no scenario")
    # The header's "started" is the world's clock; the file's time is when it was recorded.
    when = wall_clock(path.stat().st_mtime)
    return RecordedRun(RunOrigin(header.scenario, when, recording=path), tuple(events))


def run_for(lesson: Lesson, recordings: Sequence[RecordedRun]) -> RecordedRun | None:
    """The recording of the lesson's scenario among ``recordings`` (a clear error if none is)."""
    from tutor.scenario import load_scenario

    # A lesson may name its scenario by file; a trace names it as the scenario calls itself.
    name = load_scenario(lesson.scenario).name
    matching = [r for r in recordings if r.origin.scenario == name]
    if not matching:
        given = ", ".join(f"{r.origin.recording} (of {r.origin.scenario})" for r in recordings)
        raise ExportError(
            f"lesson {lesson.id!r} runs the {lesson.scenario} scenario, but --run gave "
            f"{given}; record one with `smtp-tutor run {lesson.scenario} --plain --record "
            f"FILE.jsonl`, or export only the lessons of that scenario"
        )
    return matching[0]


async def fresh_run(scenario: str, what_ifs: tuple[str, ...]) -> RecordedRun:
    """Run the scenario for real (fast-forward clock) and keep its events."""
    from tutor.run import open_run

    run = open_run(scenario, what_ifs=what_ifs)
    try:
        async with run:
            await run.finish()
    except UserError:
        raise
    except Exception as exc:  # a broken world is one line at the edge, not a traceback
        raise ExportError(
            f"the run of {' + '.join([scenario, *what_ifs])} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return RecordedRun(
        RunOrigin(scenario, wall_clock(time.time()), what_ifs), tuple(run.trace.events)
    )


async def gather(
    lessons: Sequence[Lesson],
    *,
    recordings: Sequence[RecordedRun] = (),
    written_only: bool = False,
) -> Bank:
    """The bank for ``lessons``: runs shared between lessons of the same scenario and what-ifs.

    With ``recordings`` every lesson that needs a run uses the one of its scenario (a clear
    error if none is given); otherwise each scenario is run once, fresh. ``written_only``
    exports the written questions alone and runs nothing.
    """
    bank = Bank()
    if recordings:
        scenarios = [r.origin.scenario for r in recordings]
        twice = sorted({s for s in scenarios if scenarios.count(s) > 1})
        if twice:
            raise ExportError(
                f"--run gave more than one trace of {', '.join(twice)}; give one per scenario"
            )
    fresh: dict[tuple[str, tuple[str, ...]], RecordedRun] = {}
    for lesson in lessons:
        run: RecordedRun | None = None
        if needs_run(lesson) and not written_only:
            if recordings:
                run = run_for(lesson, recordings)
                if lesson.what_ifs:
                    bank.notes.append(
                        f"{lesson.id}: the lesson runs {lesson.scenario} with "
                        f"{', '.join(lesson.what_ifs)}; a trace names only its scenario, so "
                        f"make sure {run.origin.recording} was recorded with them"
                    )
            else:
                key = (lesson.scenario, tuple(sorted(lesson.what_ifs)))
                if key not in fresh:
                    fresh[key] = await fresh_run(*key)
                run = fresh[key]
        bank.lessons.append(lesson_questions(lesson, run, bank.notes))
    return bank


__all__ = [
    "Bank",
    "ExportError",
    "ExportedQuestion",
    "LessonQuestions",
    "RecordedRun",
    "RunOrigin",
    "fresh_run",
    "gather",
    "lesson_questions",
    "recorded_run",
]
