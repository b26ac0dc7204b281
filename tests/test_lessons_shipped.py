"""Every shipped lesson holds against the real run of its scenario: what `lessons check` checks.

Each lesson's scenario is run once, for real, on loopback; then every narration anchor must
find its event, every generated question must be askable on that run, every predict question
must be answered by a server in its session, and playing the lesson through the engine with
every answer right must end with full marks (no question skipped, none to ask again). The
complete example lesson in lessons/README.md is held to the same checks, so the teachers'
documentation cannot drift from what the format and the world really do.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tutor import tomlfile
from tutor.learn.anchors import matches_in
from tutor.learn.engine import LessonEngine, StopKind, reply_after
from tutor.learn.lesson import (
    Family,
    Lesson,
    LessonError,
    lessons_root,
    load_lesson,
    load_lessons,
    parse_lesson,
    shipped_lessons,
)
from tutor.learn.questions import (
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    Question,
    Response,
    SingleChoice,
    TypeAnswer,
)
from tutor.learn.templates import TEMPLATES, generate
from tutor.run import open_run
from tutor.scenario import WHAT_IFS, load_scenario
from tutor.trace import Event

LESSON_FILES = shipped_lessons()
README = lessons_root() / "README.md"
EXAMPLE_MARKER = "<!-- example lesson: checked by tests/test_lessons_shipped.py -->"
THE_THREE = ("journey", "starttls", "retry")

# One real run per scenario (and what-ifs) for the whole module: worlds are slow next to checks.
_RUNS: dict[tuple[str, tuple[str, ...]], list[Event]] = {}


async def run_of(lesson: Lesson) -> list[Event]:
    """The events of the lesson's scenario, run for real (once per module)."""
    key = (lesson.scenario, tuple(sorted(lesson.what_ifs)))
    if key not in _RUNS:
        async with open_run(lesson.scenario, what_ifs=lesson.what_ifs) as run:
            await run.finish()
            _RUNS[key] = list(run.trace.events)
    return _RUNS[key]


def lesson_params() -> list[object]:
    return [pytest.param(path, id=path.stem) for path in LESSON_FILES]


def example_lesson_text() -> str:
    """The ```toml block that follows the marker in lessons/README.md."""
    after = README.read_text(encoding="utf-8").split(EXAMPLE_MARKER, 1)[1]
    block = after.split("```toml\n", 1)[1]
    return block.split("\n```", 1)[0] + "\n"


@pytest.fixture(params=[*lesson_params(), pytest.param(None, id="readme-example")])
def lesson(request: pytest.FixtureRequest, tmp_path: Path) -> Lesson:
    """Each shipped lesson, and the README's example written to a file of its own."""
    path = request.param
    if path is None:
        path = tmp_path / "example-envelope.toml"
        path.write_text(example_lesson_text(), encoding="utf-8")
    return load_lesson(path)


def right_answer(question: Question) -> Response:
    """The response that earns full marks."""
    answer = question.answer
    if isinstance(answer, SingleChoice):
        return answer.right.key
    if isinstance(answer, MultipleChoice):
        return [choice.key for choice in answer.right]
    if isinstance(answer, PutInOrder):
        return [item.key for item in answer.items]
    if isinstance(answer, TypeAnswer):
        return answer.accepted[0] if answer.accepted else answer.shown
    assert isinstance(answer, NumberAnswer)
    return answer.value


def describe_missing(lesson: Lesson, found: Sequence[Event | None]) -> list[str]:
    anchors = lesson.anchors()
    return [anchors[i].describe() for i, event in enumerate(found) if event is None]


# --------------------------------------------------------------------------- the course


def test_the_three_proving_lessons_ship_in_course_order() -> None:
    lessons = load_lessons()
    assert [lesson.id for lesson in lessons][:3] == list(THE_THREE)
    assert [lesson.order for lesson in lessons][:3] == [1, 2, 3]
    assert lessons[1].scenario == lessons[0].scenario == "hello"
    assert lessons[2].scenario == "greylist"


def test_lesson_ids_and_question_ids_are_unique_across_the_course() -> None:
    lessons = load_lessons()
    ids = [lesson.id for lesson in lessons]
    assert len(ids) == len(set(ids))
    qualified = [f"{lesson.id}/{q.id}" for lesson in lessons for q in lesson.questions]
    assert len(qualified) == len(set(qualified))


# Every RFC section the lessons (and the README) cite, and where its text was read: a lesson
# may only cite what someone has read, never a section number from memory. The list is data,
# one file per lesson or author in lessons/citations/, so a reader can audit every citation.
CITATIONS = lessons_root() / "citations"


def sections_read() -> dict[str, str]:
    read: dict[str, str] = {}
    for path in sorted(CITATIONS.glob("*.toml")):
        for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("read", []):
            read[entry["cite"]] = entry["read_in"]
    return read


READ = sections_read()
_CITATION = re.compile(r"RFC\s*(\d+)((?:(?:\s*|,\s*|\s+and\s+)(?:§|section)\s*[0-9.]*[0-9])*)")


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def citations(text: str) -> set[str]:
    """ "RFC 3207 §4, §4.3" -> {"RFC 3207 §4", "RFC 3207 §4.3"}; "RFC 8461" -> {"RFC 8461"}."""
    found = set()
    for match in _CITATION.finditer(text):
        sections = re.findall(r"(?:§|section)\s*([0-9.]*[0-9])", match.group(2))
        found |= {f"RFC {match.group(1)} §{s}" for s in sections} or {f"RFC {match.group(1)}"}
    return found


def test_every_rfc_section_cited_is_one_that_was_read() -> None:
    cited: set[str] = set()
    for path in LESSON_FILES:
        for text in strings_in(tomllib.loads(path.read_text(encoding="utf-8"))):
            cited |= citations(text)
    cited |= citations(" ".join(README.read_text(encoding="utf-8").split()))
    assert sorted(cited - set(READ)) == []


# --------------------------------------------------------------------------- each lesson, as data


def test_lesson_names_a_real_scenario_what_if_and_prerequisites(lesson: Lesson) -> None:
    load_scenario(lesson.scenario)  # raises a ScenarioError for a missing one
    known_what_ifs = {what_if.key for what_if in WHAT_IFS}
    assert set(lesson.what_ifs) <= known_what_ifs
    assert lesson.what_if is not None, "every lesson offers a what-if to try"
    assert lesson.what_if.key in known_what_ifs
    course = {other.id for other in load_lessons()}
    assert set(lesson.prerequisites) <= course - {lesson.id}


def test_the_readme_example_uses_every_kind_of_question() -> None:
    text = example_lesson_text()
    example = parse_lesson(tomlfile.parse(text, README, error=LessonError))
    kinds = {spec.question.kind if spec.question else spec.family for spec in example.questions}
    assert kinds == {"single", "multiple", "order", "text", "number", "predict", "generated"}


@pytest.mark.parametrize("path", lesson_params())
def test_lesson_is_complete_as_a_lesson(path: Path) -> None:
    lesson = load_lesson(path)
    families = [q.family for q in lesson.questions]
    assert len(lesson.narration) >= 5
    assert len(lesson.questions) >= 6
    assert families.count(Family.GENERATED) >= 2
    assert families.count(Family.PREDICT) >= 1
    assert lesson.objectives and lesson.key_points and lesson.rfcs
    assert lesson.instructor_notes and lesson.minutes_teaching and lesson.minutes_exercises
    for spec in lesson.questions:
        if spec.family is Family.GENERATED:
            assert spec.template in TEMPLATES, f"{spec.id}: no template {spec.template!r}"


# --------------------------------------------------------------------------- against the real run


async def test_every_anchor_matches_an_event_of_the_real_run(lesson: Lesson) -> None:
    events = await run_of(lesson)
    found = matches_in(lesson.anchors(), events)
    assert describe_missing(lesson, found) == []


async def test_every_generated_question_is_asked_on_the_real_run(lesson: Lesson) -> None:
    events = await run_of(lesson)
    for spec in lesson.questions:
        if spec.family is Family.GENERATED:
            question = generate(spec.template, events, spec.id, spec.explanation, spec.hints)
            assert question is not None, f"{spec.id}: {spec.template} cannot be asked on this run"


async def test_every_predict_question_is_answered_by_a_server(lesson: Lesson) -> None:
    events = await run_of(lesson)
    specs = [q for q in lesson.questions if q.family is Family.PREDICT]
    found = matches_in([spec.anchor for spec in specs if spec.anchor is not None], events)
    for spec, event in zip(specs, found, strict=True):
        assert event is not None, f"{spec.id}: its command is never sent"
        reply = reply_after(events, event)
        assert reply[:3].isdigit(), f"{spec.id}: no server reply follows {event}"


async def test_playing_every_answer_right_scores_full_marks(lesson: Lesson) -> None:
    events = await run_of(lesson)
    engine = LessonEngine(lesson)
    narrated = 0
    for event in events:
        for stop in engine.feed(event):
            if stop.kind is StopKind.NARRATION:
                narrated += 1
            elif stop.kind is StopKind.QUESTION and stop.question is None:
                assert stop.spec is not None and stop.event is not None
                engine.predict(stop.spec.id, reply_after(events, stop.event)[:3])
            elif stop.kind is StopKind.QUESTION:
                assert stop.question is not None
                assert engine.answer(stop.question, right_answer(stop.question)).correct
            else:
                assert stop.grade is not None and stop.grade.correct, stop.grade
    for question in engine.end_questions():
        assert engine.answer(question, right_answer(question)).correct
    assert narrated == len(lesson.narration)
    assert engine.skipped == []
    assert engine.again() == []
    assert engine.score.asked == len(lesson.questions)
    assert engine.score.fraction == 1.0
