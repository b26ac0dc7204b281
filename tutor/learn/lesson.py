"""Lessons are data: one TOML file each in lessons/, read here into a checked ``Lesson``.

A lesson names the scenario it runs (and what-ifs), what a learner should take away, the
narration pinned to anchors in the real run, and its questions. Adding a lesson never needs a
code change; a malformed one is one line naming file, line and problem (``LessonError``, a
UserError: exit 2 at the edge). lessons/README.md documents the format for teachers.

Questions come in three families, all graded by tutor.learn.questions:

* written — the whole question is in the file (single, multiple, order, text, number);
* predict — the run pauses at a client command; the learner predicts the server's reply code
  and the real reply, when it arrives, is the answer (``resolve_predict``);
* generated — a template (tutor.learn.templates) computes prompt, answer and distractors from
  the run just watched; one that cannot be asked on this run is skipped, never asked wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor import tomlfile
from tutor.errors import UserError
from tutor.learn.anchors import ANCHOR_KEYS, Anchor, AnchorEvent
from tutor.learn.questions import (
    Answer,
    Choice,
    Explanation,
    MultipleChoice,
    NumberAnswer,
    OrderItem,
    PutInOrder,
    Question,
    QuestionError,
    RfcRef,
    SingleChoice,
    TypeAnswer,
)

LESSON_SUFFIX = ".toml"


class LessonError(UserError):
    """A lesson file that cannot be used; the message names file, line and problem."""


class Family(StrEnum):
    """Where a question's answer comes from."""

    WRITTEN = "written"  # the file
    PREDICT = "predict"  # the reply the real server gives at the anchor
    GENERATED = "generated"  # a template over the run's trace


WRITTEN_KINDS = ("single", "multiple", "order", "text", "number")
QUESTION_KINDS = (*WRITTEN_KINDS, "predict", "generated")


@dataclass(frozen=True)
class Narration:
    """What the tutor says when the run reaches ``anchor``."""

    anchor: Anchor
    text: str
    line: int = 0  # where it is written, for ``lessons check``


@dataclass(frozen=True)
class QuestionSpec:
    """A question as the lesson file gives it: asked at ``anchor`` in the run, or at the end."""

    id: str
    family: Family
    anchor: Anchor | None
    question: Question | None = None  # written questions: complete as loaded
    template: str = ""  # generated: the template's id
    prompt: str = ""  # predict: the question asked before the reply comes
    explanation: Explanation | None = None  # predict/generated: shown after answering
    hints: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class WhatIfInvitation:
    """An offer to run the lesson's scenario again with a fault, and see the difference."""

    key: str
    text: str


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    scenario: str
    what_ifs: tuple[str, ...]
    summary: str
    objectives: tuple[str, ...]
    key_points: tuple[str, ...]
    minutes_teaching: int
    minutes_exercises: int
    prerequisites: tuple[str, ...]
    rfcs: tuple[RfcRef, ...]
    instructor_notes: str
    narration: tuple[Narration, ...]
    questions: tuple[QuestionSpec, ...]
    what_if: WhatIfInvitation | None
    order: int = 0  # position in the course (lessons list sorts by it)
    path: Path | None = None

    @property
    def minutes(self) -> int:
        return self.minutes_teaching + self.minutes_exercises

    def anchors(self) -> list[Anchor]:
        """Every anchor the lesson uses, narration first (``lessons check`` runs them all)."""
        found = [n.anchor for n in self.narration]
        found += [q.anchor for q in self.questions if q.anchor is not None]
        return found


# --------------------------------------------------------------------------- where lessons live


def lessons_root() -> Path:
    """The lessons/ folder: inside the installed wheel, or at the top of a source checkout."""
    from tutor.scenario import shipped_root

    return shipped_root()


def shipped_lessons() -> list[Path]:
    return sorted(lessons_root().glob(f"*{LESSON_SUFFIX}"))


def find_lesson(id_or_path: str) -> Path:
    """A shipped lesson's id, or a path to a lesson file."""
    candidate = Path(id_or_path)
    if candidate.suffix == LESSON_SUFFIX or "/" in id_or_path:
        if not candidate.is_file():
            raise LessonError(f"{id_or_path}: no such lesson file")
        return candidate
    for path in shipped_lessons():
        if path.stem == id_or_path or _lesson_id(path) == id_or_path:
            return path
    known = [_lesson_id(p) for p in shipped_lessons()]
    hint = tomlfile.suggestion(id_or_path, known)
    raise LessonError(f"no lesson {id_or_path!r}{hint}; `smtp-tutor lessons list` shows them all")


def _lesson_id(path: Path) -> str:
    try:
        data = tomlfile.load(path, error=LessonError).data
    except LessonError:
        return path.stem
    lesson = data.get("lesson", {})
    return str(lesson.get("id", path.stem)) if isinstance(lesson, dict) else path.stem


def load_lessons() -> list[Lesson]:
    """Every shipped lesson, in course order."""
    lessons = [load_lesson(path) for path in shipped_lessons()]
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.id))


def load_lesson(id_or_path: str | Path) -> Lesson:
    path = id_or_path if isinstance(id_or_path, Path) else find_lesson(id_or_path)
    return parse_lesson(tomlfile.load(path, error=LessonError))


# --------------------------------------------------------------------------- reading one file

_TOP = ("lesson", "narration", "question")
_LESSON_KEYS = (
    "id",
    "title",
    "order",
    "scenario",
    "what_ifs",
    "summary",
    "objectives",
    "key_points",
    "minutes",
    "prerequisites",
    "rfcs",
    "instructor_notes",
    "what_if",
)
_QUESTION_KEYS = (
    "id",
    "kind",
    "at",
    "prompt",
    "choices",
    "items",
    "accepted",
    "pattern",
    "shown",
    "value",
    "tolerance",
    "unit",
    "template",
    "explanation",
    "refs",
    "hints",
)


def parse_lesson(doc: tomlfile.TomlFile) -> Lesson:
    doc.check_keys("", doc.data, _TOP)
    meta = doc.table("", doc.data, "lesson", required=True)
    doc.check_keys("lesson", meta, _LESSON_KEYS)
    lesson_id = doc.string("lesson", meta, "id")
    _check_id(doc, "lesson.id", lesson_id)
    minutes = doc.table("lesson", meta, "minutes")
    doc.check_keys("lesson.minutes", minutes, ("teaching", "exercises"))
    narration = tuple(
        _narration(doc, f"narration[{i}]", table)
        for i, table in enumerate(doc.tables("", doc.data, "narration"))
    )
    questions = tuple(
        _question(doc, f"question[{i}]", table)
        for i, table in enumerate(doc.tables("", doc.data, "question"))
    )
    seen: set[str] = set()
    for index, spec in enumerate(questions):
        if spec.id in seen:
            raise doc.fail(f"question[{index}].id", f"{spec.id!r} is used twice in this lesson")
        seen.add(spec.id)
    return Lesson(
        id=lesson_id,
        title=doc.string("lesson", meta, "title"),
        scenario=doc.string("lesson", meta, "scenario"),
        what_ifs=doc.strings("lesson", meta, "what_ifs"),
        summary=doc.string("lesson", meta, "summary", ""),
        objectives=_required_list(doc, "lesson", meta, "objectives"),
        key_points=_required_list(doc, "lesson", meta, "key_points"),
        minutes_teaching=doc.integer("lesson.minutes", minutes, "teaching", 0, minimum=0),
        minutes_exercises=doc.integer("lesson.minutes", minutes, "exercises", 0, minimum=0),
        prerequisites=doc.strings("lesson", meta, "prerequisites"),
        rfcs=tuple(_ref(doc, "lesson.rfcs", text) for text in doc.strings("lesson", meta, "rfcs")),
        instructor_notes=doc.string("lesson", meta, "instructor_notes", ""),
        narration=narration,
        questions=questions,
        what_if=_invitation(doc, meta),
        order=doc.integer("lesson", meta, "order", 0, minimum=0),
        path=doc.path,
    )


def _required_list(
    doc: tomlfile.TomlFile, where: str, table: dict[str, Any], key: str
) -> tuple[str, ...]:
    values = doc.strings(where, table, key)
    if not values:
        raise doc.fail(f"{where}.{key}", "needs at least one entry")
    return values


def _check_id(doc: tomlfile.TomlFile, where: str, value: str) -> None:
    if not value or not all(c.isalnum() or c in "-_" for c in value):
        raise doc.fail(where, f"{value!r} is not an id (letters, digits, '-' and '_' only)")


def _ref(doc: tomlfile.TomlFile, where: str, text: str) -> RfcRef:
    try:
        return RfcRef.parse(text)
    except ValueError as exc:
        raise doc.fail(where, str(exc)) from None


def _invitation(doc: tomlfile.TomlFile, meta: dict[str, Any]) -> WhatIfInvitation | None:
    table = doc.table("lesson", meta, "what_if")
    if not table:
        return None
    doc.check_keys("lesson.what_if", table, ("key", "text"))
    return WhatIfInvitation(
        key=doc.string("lesson.what_if", table, "key"),
        text=doc.string("lesson.what_if", table, "text"),
    )


def _anchor(doc: tomlfile.TomlFile, where: str, table: dict[str, Any]) -> Anchor:
    doc.check_keys(where, table, ANCHOR_KEYS)
    event = doc.string(where, table, "event", "")
    if event:
        try:
            kind: AnchorEvent | None = AnchorEvent(event)
        except ValueError:
            hint = tomlfile.suggestion(event, [str(e) for e in AnchorEvent])
            raise doc.fail(f"{where}.event", f"unknown event {event!r}{hint}") from None
    else:
        kind = None
    anchor = Anchor(
        event=kind,
        sends=doc.string(where, table, "sends", ""),
        answers=doc.string(where, table, "answers", ""),
        reply=doc.string(where, table, "reply", ""),
        rcpt=doc.string(where, table, "rcpt", ""),
        host=doc.string(where, table, "host", ""),
        qtype=doc.string(where, table, "qtype", ""),
        state=doc.string(where, table, "state", ""),
        check=doc.string(where, table, "check", ""),
        nth=doc.integer(where, table, "nth", 1, minimum=1),
    )
    if anchor == Anchor(nth=anchor.nth):
        raise doc.fail(where, "an anchor needs at least one of " + ", ".join(ANCHOR_KEYS[:-1]))
    if anchor.reply and not anchor.reply.isdigit():
        raise doc.fail(f"{where}.reply", f"{anchor.reply!r} is not a reply code or its start")
    return anchor


def _narration(doc: tomlfile.TomlFile, where: str, table: dict[str, Any]) -> Narration:
    doc.check_keys(where, table, ("at", "text"))
    at = doc.table(where, table, "at", required=True)
    text = doc.string(where, table, "text").strip()
    if not text:
        raise doc.fail(f"{where}.text", "must not be empty")
    return Narration(_anchor(doc, f"{where}.at", at), text, doc.locate(where))


def _question(doc: tomlfile.TomlFile, where: str, table: dict[str, Any]) -> QuestionSpec:
    doc.check_keys(where, table, _QUESTION_KEYS)
    qid = doc.string(where, table, "id")
    _check_id(doc, f"{where}.id", qid)
    kind = doc.string(where, table, "kind")
    if kind not in QUESTION_KINDS:
        hint = tomlfile.suggestion(kind, QUESTION_KINDS)
        raise doc.fail(
            f"{where}.kind", f"unknown kind {kind!r}{hint}; one of {', '.join(QUESTION_KINDS)}"
        )
    at = doc.table(where, table, "at")
    anchor = _anchor(doc, f"{where}.at", at) if at else None
    hints = doc.strings(where, table, "hints")
    refs = tuple(_ref(doc, f"{where}.refs", text) for text in doc.strings(where, table, "refs"))
    explanation_text = doc.string(where, table, "explanation", "").strip()
    line = doc.locate(where)
    if kind == "generated":
        return QuestionSpec(
            id=qid,
            family=Family.GENERATED,
            anchor=anchor,
            template=doc.string(where, table, "template"),
            explanation=Explanation(explanation_text, refs) if explanation_text else None,
            hints=hints,
            line=line,
        )
    if not explanation_text:
        raise doc.fail(f"{where}.explanation", "every question explains its answer")
    explanation = Explanation(explanation_text, refs)
    prompt = doc.string(where, table, "prompt").strip()
    if kind == "predict":
        if anchor is None or not anchor.sends:
            raise doc.fail(
                f"{where}.at", "a predict question pauses at a client command: at = { sends = ... }"
            )
        return QuestionSpec(
            id=qid,
            family=Family.PREDICT,
            anchor=anchor,
            prompt=prompt,
            explanation=explanation,
            hints=hints,
            line=line,
        )
    try:
        answer = _written_answer(doc, where, table, kind)
        question = Question(qid, prompt, answer, explanation, hints)
    except QuestionError as exc:
        raise doc.fail(f"{where}.{exc.field}" if exc.field else where, exc.message) from None
    return QuestionSpec(qid, Family.WRITTEN, anchor, question=question, hints=hints, line=line)


def _written_answer(doc: tomlfile.TomlFile, where: str, table: dict[str, Any], kind: str) -> Answer:
    if kind in ("single", "multiple"):
        choices = tuple(
            _choice(doc, f"{where}.choices[{i}]", choice)
            for i, choice in enumerate(doc.tables(where, table, "choices"))
        )
        return SingleChoice(choices) if kind == "single" else MultipleChoice(choices)
    if kind == "order":
        items = table.get("items", [])
        if not isinstance(items, list) or not items:
            raise doc.fail(f"{where}.items", "needs the items, written in the right order")
        return PutInOrder(
            tuple(_order_item(doc, f"{where}.items[{i}]", item, i) for i, item in enumerate(items))
        )
    if kind == "text":
        return TypeAnswer(
            accepted=doc.strings(where, table, "accepted"),
            pattern=doc.string(where, table, "pattern", ""),
            shown=doc.string(where, table, "shown", ""),
        )
    value = table.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise doc.fail(f"{where}.value", "a number question needs value = <number>")
    tolerance = table.get("tolerance", 0)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
        raise doc.fail(f"{where}.tolerance", "must be a number, 0 or more")
    return NumberAnswer(float(value), float(tolerance), doc.string(where, table, "unit", ""))


def _choice(doc: tomlfile.TomlFile, where: str, table: dict[str, Any]) -> Choice:
    doc.check_keys(where, table, ("key", "text", "correct", "misconception", "why"))
    return Choice(
        key=doc.string(where, table, "key"),
        text=doc.string(where, table, "text"),
        correct=doc.boolean(where, table, "correct", False),
        misconception=doc.string(where, table, "misconception", ""),
        why=doc.string(where, table, "why", ""),
    )


def _order_item(doc: tomlfile.TomlFile, where: str, item: Any, index: int) -> OrderItem:
    if isinstance(item, str):
        return OrderItem(key=chr(ord("a") + index) if index < 26 else str(index), text=item)
    if isinstance(item, dict):
        doc.check_keys(where, item, ("key", "text"))
        return OrderItem(key=doc.string(where, item, "key"), text=doc.string(where, item, "text"))
    raise doc.fail(where, "an item is a string or a table { key, text }")


def questions_at_end(lesson: Lesson) -> list[QuestionSpec]:
    return [q for q in lesson.questions if q.anchor is None]


def questions_in_run(lesson: Lesson) -> list[QuestionSpec]:
    return [q for q in lesson.questions if q.anchor is not None]


def lesson_ids(lessons: Sequence[Lesson]) -> list[str]:
    return [lesson.id for lesson in lessons]


__all__ = [
    "Family",
    "Lesson",
    "LessonError",
    "Narration",
    "QuestionSpec",
    "WhatIfInvitation",
    "find_lesson",
    "load_lesson",
    "load_lessons",
    "parse_lesson",
    "shipped_lessons",
]
