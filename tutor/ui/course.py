"""The course as the start screen shows it: every lesson with the learner's progress, and the
one lesson to suggest (start here, continue where you stopped, or the next one).

No Textual here; the start screen only lays these out. Prerequisites only advise: a lesson
whose prerequisites are not done says so, and opens all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tutor.learn.lesson import Lesson, LessonError, load_lesson, shipped_lessons
from tutor.learn.progress import LessonProgress, Progress
from tutor.ui.lesson_flow import position_words


def load_course(paths: Sequence[Path] | None = None) -> tuple[list[Lesson], list[str]]:
    """Every lesson that loads, in course order, and one line for each that does not."""
    lessons: list[Lesson] = []
    problems: list[str] = []
    for path in paths if paths is not None else shipped_lessons():
        try:
            lessons.append(load_lesson(path))
        except LessonError as error:
            problems.append(str(error))
    lessons.sort(key=lambda lesson: (lesson.order, lesson.id))
    return lessons, problems


class LessonState(StrEnum):
    NEW = "not started"
    STARTED = "in progress"
    DONE = "done"

    @property
    def glyph(self) -> str:
        return {LessonState.NEW: "·", LessonState.STARTED: "◐", LessonState.DONE: "✓"}[self]


@dataclass(frozen=True)
class LessonRow:
    number: int  # 1-based, in course order
    lesson: Lesson
    state: LessonState
    best: float | None  # best finished score, 0..1
    position: str  # where the learner stopped ("" at the start)
    missing: tuple[str, ...]  # titles of prerequisites not done yet
    missing_numbers: tuple[str, ...] = ()  # the same, as their numbers in the course

    @property
    def position_words(self) -> str:
        return position_words(self.lesson, self.position) if self.position else ""

    def summary(self) -> str:
        """The second line of the row: state, best score, minutes, advice."""
        parts = [self.state.value]
        if self.state is LessonState.STARTED and self.position:
            parts[0] = f"stopped at {self.position_words}"
        if self.best is not None:
            parts.append(f"best {round(100 * self.best)}%")
        parts.append(f"{self.lesson.minutes} min")
        if self.missing_numbers:
            plural = "s" if len(self.missing_numbers) > 1 else ""
            parts.append(f"suggested first: lesson{plural} " + ", ".join(self.missing_numbers))
        return " · ".join(parts)


def course_rows(lessons: Sequence[Lesson], progress: Progress) -> list[LessonRow]:
    titles = {lesson.id: lesson.title for lesson in lessons}
    numbers = {lesson.id: str(number) for number, lesson in enumerate(lessons, start=1)}
    done = {lid for lid, record in progress.lessons.items() if record.done}
    rows = []
    for number, lesson in enumerate(lessons, start=1):
        record = progress.lessons.get(lesson.id)
        wanted = [p for p in lesson.prerequisites if p not in done]
        missing = tuple(titles.get(p, p) for p in wanted)
        rows.append(
            LessonRow(
                number=number,
                lesson=lesson,
                state=_state(record),
                best=record.best_score if record else None,
                position=record.position if record else "",
                missing=missing,
                missing_numbers=tuple(numbers.get(p, p) for p in wanted),
            )
        )
    return rows


def _state(record: LessonProgress | None) -> LessonState:
    if record is None:
        return LessonState.NEW
    if record.done:
        return LessonState.DONE
    if record.position or record.questions:
        return LessonState.STARTED
    return LessonState.NEW


class SuggestionKind(StrEnum):
    START = "start"  # nothing done yet: lesson 1
    CONTINUE = "continue"  # a lesson stopped midway
    NEXT = "next"  # the first lesson not done yet
    AGAIN = "again"  # every lesson done


@dataclass(frozen=True)
class Suggestion:
    kind: SuggestionKind
    row: LessonRow

    @property
    def words(self) -> str:
        title = self.row.lesson.title
        if self.kind is SuggestionKind.START:
            return f"Start here: {title}"
        if self.kind is SuggestionKind.CONTINUE:
            return f"Continue {title} at {self.row.position_words}"
        if self.kind is SuggestionKind.NEXT:
            return f"Next: {title}"
        return f"Every lesson done. Again: {title}"


def suggestion(rows: Sequence[LessonRow], progress: Progress) -> Suggestion | None:
    """The default action of the start screen."""
    if not rows:
        return None
    stopped = [row for row in rows if row.position]
    if stopped:
        latest = max(stopped, key=lambda row: _when(progress, row.lesson.id))
        return Suggestion(SuggestionKind.CONTINUE, latest)
    if all(row.state is LessonState.NEW for row in rows):
        return Suggestion(SuggestionKind.START, rows[0])
    for row in rows:
        if row.state is not LessonState.DONE:
            return Suggestion(SuggestionKind.NEXT, row)
    return Suggestion(SuggestionKind.AGAIN, rows[0])


def _when(progress: Progress, lesson_id: str) -> float:
    record = progress.lessons.get(lesson_id)
    moment = record.position_at if record else None
    return moment.timestamp() if moment else 0.0


def carried_scores(progress: Progress, lesson_id: str) -> dict[str, float | None]:
    """Each question's best score so far, for a lesson continued where it stopped."""
    record = progress.lessons.get(lesson_id)
    if record is None:
        return {}
    return {qid: q.best_score for qid, q in record.questions.items()}
