"""Checking lesson files as `smtp-tutor lessons check` does: the loader, then the lesson's real run.

A lesson can be well-formed TOML and still be wrong: its scenario may not exist, a what-if may
be misspelt, an anchor may wait for an event the run never produces, a template may find nothing
to ask. The loader (tutor.learn.lesson) catches what the file alone shows; this module runs the
lesson's scenario (through tutor.run, on the fast-forward clock) and checks every anchor, every
generated question and every predict question against the events that really happened, so a
teacher learns of a lesson that would stall or skip before a learner does.

Every problem is a ``Problem`` naming file and line; ``check_lessons`` returns one report per
file, with all the problems found in it (the loader stops at the first one in the file itself).
Runs are shared between lessons on the same scenario and what-ifs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tutor import tomlfile
from tutor.errors import UserError
from tutor.learn.anchors import Anchor, matches_in
from tutor.learn.engine import reply_after
from tutor.learn.lesson import (
    Family,
    Lesson,
    LessonError,
    QuestionSpec,
    load_lesson,
    shipped_lessons,
)
from tutor.learn.templates import TEMPLATES, generate
from tutor.scenario import WHAT_IFS, load_scenario
from tutor.trace import Event


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lesson file, at a line of it (0: the file as a whole)."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else f"{self.path}: {self.message}"
        )


@dataclass
class LessonReport:
    """What checking one lesson file found."""

    path: Path
    lesson: Lesson | None = None
    problems: list[Problem] = field(default_factory=list)
    ran: str = ""  # the run the lesson was checked against: "hello" or "hello + greylist"

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """The one line printed for a lesson without problems."""
        if self.lesson is None:
            return f"{self.path}: not a lesson"
        lesson = self.lesson
        return (
            f"OK {self.path}: lesson {lesson.id!r}, {len(lesson.narration)} narration, "
            f"{len(lesson.questions)} questions, every anchor met in a real run of {self.ran}"
        )


@dataclass(frozen=True)
class _RunKey:
    scenario: str
    what_ifs: frozenset[str]

    def label(self) -> str:
        return " + ".join([self.scenario, *sorted(self.what_ifs)])


class _Runs:
    """One real run per scenario and what-ifs, shared by every lesson that needs it."""

    def __init__(self) -> None:
        self._done: dict[_RunKey, list[Event] | str] = {}

    async def events(self, key: _RunKey) -> list[Event] | str:
        """The run's events, or why it could not be run."""
        if key not in self._done:
            self._done[key] = await _run(key)
        return self._done[key]


async def _run(key: _RunKey) -> list[Event] | str:
    from tutor.run import open_run

    run = open_run(key.scenario, what_ifs=key.what_ifs)
    try:
        async with run:
            await run.finish()
    except UserError as exc:
        return str(exc)
    except Exception as exc:  # a broken world is reported against the lesson, not as a traceback
        return f"{type(exc).__name__}: {exc}"
    return list(run.trace.events)


async def check_lessons(paths: Sequence[Path] | None = None) -> list[LessonReport]:
    """Check every file in ``paths`` (default: every shipped lesson), in the order given.

    A file named twice is checked once; its problems come in the order of their lines.
    """
    files = list(paths) if paths is not None else shipped_lessons()
    unique = list({path.resolve(): path for path in reversed(files)}.values())[::-1]
    reports = [_load(path) for path in unique]
    _check_ids_across_files(reports)
    runs = _Runs()
    known_ids = _shipped_ids() | {r.lesson.id for r in reports if r.lesson is not None}
    for report in reports:
        if report.lesson is not None:
            await _check_lesson(report, report.lesson, runs, known_ids)
        report.problems.sort(key=lambda problem: problem.line)
    return reports


_AT_LINE = re.compile(r"^(?P<path>.*?):(?P<line>\d+): (?P<message>.*)$", re.S)


def _load(path: Path) -> LessonReport:
    report = LessonReport(path)
    try:
        report.lesson = load_lesson(path)
    except LessonError as exc:
        report.problems.append(_problem_from_error(path, str(exc)))
    return report


def _problem_from_error(path: Path, text: str) -> Problem:
    """A loader message (``FILE:LINE: ...`` or ``FILE: ...``) as a Problem."""
    match = _AT_LINE.match(text)
    if match and match["path"] == str(path):
        return Problem(path, int(match["line"]), match["message"])
    prefix = f"{path}: "
    return Problem(path, 0, text.removeprefix(prefix))


def _check_ids_across_files(reports: Sequence[LessonReport]) -> None:
    first: dict[str, LessonReport] = {}
    for report in reports:
        lesson = report.lesson
        if lesson is None:
            continue
        if lesson.id in first:
            line = _locate(report.path, "lesson.id")
            report.problems.append(
                Problem(
                    report.path,
                    line,
                    f"lesson.id: {lesson.id!r} is already the id of {first[lesson.id].path}; "
                    "progress is kept by id, so every lesson needs its own",
                )
            )
        else:
            first[lesson.id] = report


def _shipped_ids() -> set[str]:
    ids = set()
    for path in shipped_lessons():
        try:
            ids.add(load_lesson(path).id)
        except LessonError:
            ids.add(path.stem)
    return ids


def _locate(path: Path, where: str) -> int:
    try:
        return tomlfile.load(path, error=LessonError).locate(where)
    except LessonError:
        return 0


async def _check_lesson(
    report: LessonReport, lesson: Lesson, runs: _Runs, known_ids: set[str]
) -> None:
    path = report.path

    def problem(where: str, message: str, line: int = 0) -> None:
        report.problems.append(Problem(path, line or _locate(path, where), message))

    known = {w.key for w in WHAT_IFS}
    what_ifs_ok = True
    for key in lesson.what_ifs:
        if key not in known:
            what_ifs_ok = False
            hint = tomlfile.suggestion(key, sorted(known))
            problem("lesson.what_ifs", f"lesson.what_ifs: unknown what-if {key!r}{hint}")
    if lesson.what_if is not None and lesson.what_if.key not in known:
        hint = tomlfile.suggestion(lesson.what_if.key, sorted(known))
        problem(
            "lesson.what_if.key",
            f"lesson.what_if.key: unknown what-if {lesson.what_if.key!r}{hint}",
        )
    _check_prerequisites(report, lesson, known_ids)
    for spec in lesson.questions:
        if spec.family is Family.GENERATED and spec.template not in TEMPLATES:
            hint = tomlfile.suggestion(spec.template, sorted(TEMPLATES))
            problem(
                "",
                f"question {spec.id!r}: unknown template {spec.template!r}{hint}; "
                f"one of {', '.join(sorted(TEMPLATES))}",
                spec.line,
            )
    try:
        load_scenario(lesson.scenario)
    except UserError as exc:
        problem("lesson.scenario", f"lesson.scenario: {exc}")
        return
    if not what_ifs_ok:
        return
    key = _RunKey(lesson.scenario, frozenset(lesson.what_ifs))
    report.ran = key.label()
    events = await runs.events(key)
    if isinstance(events, str):
        problem("lesson.scenario", f"lesson.scenario: the run of {key.label()} failed: {events}")
        return
    _check_against_run(report, lesson, events, key.label())


def _check_prerequisites(report: LessonReport, lesson: Lesson, known: set[str]) -> None:
    """Prerequisites only advise, but one that names no lesson is a typo to fix."""
    for prerequisite in lesson.prerequisites:
        if prerequisite not in known:
            hint = tomlfile.suggestion(prerequisite, sorted(known))
            report.problems.append(
                Problem(
                    report.path,
                    _locate(report.path, "lesson.prerequisites"),
                    f"lesson.prerequisites: no lesson {prerequisite!r}{hint}",
                )
            )


def _check_against_run(report: LessonReport, lesson: Lesson, events: list[Event], ran: str) -> None:
    path = report.path
    anchors: list[Anchor] = lesson.anchors()
    found = matches_in(anchors, events)
    narrated = len(lesson.narration)
    for narration, event in zip(lesson.narration, found[:narrated], strict=True):
        if event is None:
            report.problems.append(
                Problem(
                    path,
                    narration.line,
                    f"narration never speaks: no event {narration.anchor.describe()} in the real "
                    f"run of {ran}",
                )
            )
    in_run = [q for q in lesson.questions if q.anchor is not None]
    at_anchor = dict(zip((q.id for q in in_run), found[narrated:], strict=True))
    for spec in lesson.questions:
        if spec.anchor is not None and at_anchor[spec.id] is None:
            report.problems.append(
                Problem(
                    path,
                    spec.line,
                    f"question {spec.id!r} is never asked: no event {spec.anchor.describe()} in "
                    f"the real run of {ran}",
                )
            )
            continue
        anchor_event = at_anchor.get(spec.id)
        message = _question_problem(spec, events, anchor_event, ran)
        if message:
            report.problems.append(Problem(path, spec.line, message))


def _question_problem(
    spec: QuestionSpec, events: list[Event], anchor_event: Event | None, ran: str
) -> str:
    """What is wrong with asking ``spec`` on this run ('' if nothing)."""
    where = "" if spec.anchor is None else f" {spec.anchor.describe()}"
    if spec.family is Family.GENERATED and spec.template in TEMPLATES:
        # Asked at its anchor, a generated question sees the run so far; at the end, all of it.
        seen = events if anchor_event is None else events[: _index(events, anchor_event) + 1]
        if generate(spec.template, seen, spec.id, spec.explanation, spec.hints) is None:
            return (
                f"question {spec.id!r}: template {spec.template!r} "
                f"({TEMPLATES[spec.template].title}) finds nothing to ask"
                f"{' ' + where.strip() if where else ''} on the real run of {ran}, so it "
                "would always be skipped"
            )
    if (
        spec.family is Family.PREDICT
        and anchor_event is not None
        and not reply_after(events, anchor_event)
    ):
        return (
            f"question {spec.id!r}: no server reply follows{where} in the real run of {ran}, "
            "so there is nothing to predict"
        )
    return ""


def _index(events: Sequence[Event], event: Event) -> int:
    return next(i for i, candidate in enumerate(events) if candidate is event)


__all__ = ["LessonReport", "Problem", "check_lessons"]
