"""Moodle XML: one <quiz>, a <question type="category"> per lesson, then that lesson's questions.

The mapping, question kind by question kind (lessons/README.md says the same for teachers):

* single choice -> ``multichoice`` with ``single=true``: the right choice 100 %, the others 0;
* multiple choice -> ``multichoice`` with ``single=false``: each right choice +100/n %, each
  wrong one -100/n % (n right choices). Moodle adds the picked fractions and never goes below
  0, which is the tutor's partial-credit rule exactly;
* put in order -> ``ordering`` (qtype_ordering: part of Moodle from 4.4, a plugin to install
  before) graded by its "longest ordered subset", the tutor's rule too — except that Moodle
  gives a longest run of one item 0 where the tutor gives 1/n;
* type the answer -> ``shortanswer``, case-insensitive, one 100 % answer per accepted answer
  (``*`` escaped: Moodle reads it as a wildcard); a pattern cannot be written in it, so only
  the accepted answers (or the answer shown, for a pattern alone) go, with a note;
* a number -> ``numerical`` with its tolerance, and its unit as an optional unit.

Every question carries the misconception of each distractor (and the why of each right
choice) as that answer's <feedback>, the explanation with its RFC references as
<generalfeedback>, and the hints as <hint>. Moodle checks each fraction against its list of
grades on import; 100/n is on it for n up to 10, and a note says when a question goes past.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction

from tutor.learn.lms.bank import Bank, ExportedQuestion, LessonQuestions
from tutor.learn.lms.richtext import html_fragment
from tutor.learn.questions import (
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    SingleChoice,
    TypeAnswer,
)

CATEGORY_ROOT = "$course$/top/smtp-tutor"

# Moodle's own grade list (question_bank::fraction_options_full): an imported fraction must be
# one of these (within 0.00001) unless the teacher imports with "nearest grade if not listed".
MOODLE_FRACTIONS = (
    tuple(Fraction(1, n) for n in range(1, 11))
    + tuple(Fraction(n, 10) for n in (9, 8, 7, 6, 4, 3))
    + (Fraction(3, 4), Fraction(2, 3), Fraction(5, 6), Fraction(1, 20))
)


def moodle_xml(bank: Bank) -> tuple[bytes, list[str]]:
    """The bank as a Moodle XML document, and the notes on what it could not hold."""
    notes: list[str] = []
    quiz = ET.Element("quiz")
    for lesson in bank.lessons:
        quiz.append(_category(lesson))
        for exported in lesson.questions:
            quiz.append(_question(exported, notes))
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n", notes


# --------------------------------------------------------------------------- building blocks


def _text(parent: ET.Element, tag: str, value: str, format_: str | None = None) -> ET.Element:
    """``<tag format=...><text>value</text></tag>``, Moodle's shape for every piece of text."""
    element = ET.SubElement(parent, tag, {"format": format_} if format_ else {})
    ET.SubElement(element, "text").text = value
    return element


def _html(parent: ET.Element, tag: str, texts: Sequence[str]) -> ET.Element:
    return _text(parent, tag, html_fragment(texts) if texts else "", "html")


def _value(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _category_path(lesson: LessonQuestions) -> str:
    # In a Moodle category path "/" separates categories and "//" is a "/" in a name.
    title = lesson.lesson.title.replace("/", "//")
    return f"{CATEGORY_ROOT}/{title}"


def _category(lesson: LessonQuestions) -> ET.Element:
    question = ET.Element("question", {"type": "category"})
    _text(question, "category", _category_path(lesson))
    info = [lesson.lesson.summary] if lesson.lesson.summary else []
    if lesson.origin is not None:
        info.append(f"Questions made from a run: {lesson.origin.label()}")
    _html(question, "info", info)
    _value(question, "idnumber", lesson.lesson.id)
    return question


def _question(exported: ExportedQuestion, notes: list[str]) -> ET.Element:
    question = exported.question
    answer = question.answer
    qtype = {
        SingleChoice: "multichoice",
        MultipleChoice: "multichoice",
        PutInOrder: "ordering",
        TypeAnswer: "shortanswer",
        NumberAnswer: "numerical",
    }[type(answer)]
    element = ET.Element("question", {"type": qtype})
    _text(element, "name", exported.name)
    text = [exported.origin.label()] if exported.origin is not None else []
    text.append(question.prompt)
    if isinstance(answer, MultipleChoice):
        text.append(answer.rule())
    _html(element, "questiontext", text)
    _html(element, "generalfeedback", question.explanation.lines())
    _value(element, "defaultgrade", "1")
    _value(element, "penalty", "0.3333333")
    _value(element, "hidden", "0")
    if isinstance(answer, SingleChoice | MultipleChoice):
        _multichoice(element, exported, answer, notes)
    elif isinstance(answer, PutInOrder):
        _ordering(element, answer)
    elif isinstance(answer, TypeAnswer):
        _shortanswer(element, exported, answer, notes)
    else:
        _numerical(element, answer)
    for hint in question.hints:
        _html(element, "hint", [hint])
    _tags(element, exported)
    return element


def _tags(element: ET.Element, exported: ExportedQuestion) -> None:
    tags = ET.SubElement(element, "tags")
    for name in ("smtp-tutor", exported.lesson_id, str(exported.family)):
        _text(tags, "tag", name)


def _combined_feedback(element: ET.Element) -> None:
    for tag in ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback"):
        _html(element, tag, [])


def percent(fraction: Fraction) -> str:
    """A fraction as Moodle writes a percentage: "100", "33.3333333", "-50"."""
    value = fraction * 100
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.7f}"


def choice_fractions(answer: SingleChoice | MultipleChoice) -> list[Fraction]:
    """Each choice's fraction of the mark, in choice order, by the tutor's grading rule."""
    if isinstance(answer, SingleChoice):
        return [Fraction(int(c.correct)) for c in answer.choices]
    step = Fraction(1, len(answer.right))
    return [step if c.correct else -step for c in answer.choices]


def _multichoice(
    element: ET.Element,
    exported: ExportedQuestion,
    answer: SingleChoice | MultipleChoice,
    notes: list[str],
) -> None:
    single = isinstance(answer, SingleChoice)
    _value(element, "single", "true" if single else "false")
    _value(element, "shuffleanswers", "false")  # the keys a, b, c stay as the tutor shows them
    _value(element, "answernumbering", "abc")
    _value(element, "showstandardinstruction", "0")
    _combined_feedback(element)
    if not single:
        ET.SubElement(element, "shownumcorrect")
    fractions = choice_fractions(answer)
    off_list = {f for f in fractions if abs(f) not in MOODLE_FRACTIONS and f != 0}
    if off_list:
        notes.append(
            f"{exported.name}: {len(answer.choices)} choices with a fraction of "
            f"{percent(abs(next(iter(off_list))))} %, which is not on Moodle's list of grades; "
            'import with "Nearest grade if not listed"'
        )
    for choice, fraction in zip(answer.choices, fractions, strict=True):
        node = _text(element, "answer", choice.text, "plain_text")
        node.set("fraction", percent(fraction))
        feedback = choice.why if choice.correct else choice.misconception
        _html(node, "feedback", [feedback] if feedback else [])


def ordering_texts(answer: PutInOrder) -> list[str]:
    """The items' texts, with a repeated text told apart: Moodle keys an item by its text."""
    total = {t: sum(i.text == t for i in answer.items) for t in {i.text for i in answer.items}}
    seen: dict[str, int] = {}
    texts = []
    for item in answer.items:
        if total[item.text] == 1:
            texts.append(item.text)
            continue
        seen[item.text] = seen.get(item.text, 0) + 1
        texts.append(f"{item.text} ({_ordinal(seen[item.text])})")
    return texts


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ordering(element: ET.Element, answer: PutInOrder) -> None:
    _value(element, "layouttype", "VERTICAL")
    _value(element, "selecttype", "ALL")
    _value(element, "selectcount", str(len(answer.items)))
    _value(element, "gradingtype", "LONGEST_ORDERED_SUBSET")
    _value(element, "showgrading", "SHOW")
    _value(element, "numberingstyle", "none")
    _combined_feedback(element)
    ET.SubElement(element, "shownumcorrect")
    # The answers are written in the right order; "fraction" is each one's place in it.
    for place, text in enumerate(ordering_texts(answer), start=1):
        _text(element, "answer", text, "plain_text").set("fraction", str(place))


def shortanswer_answers(answer: TypeAnswer) -> list[str]:
    """The answers Moodle accepts: the accepted list (or the answer shown, for a pattern alone)."""
    return list(answer.accepted) if answer.accepted else [answer.expected()]


def _shortanswer(
    element: ET.Element, exported: ExportedQuestion, answer: TypeAnswer, notes: list[str]
) -> None:
    _value(element, "usecase", "0")  # the tutor ignores case too
    if answer.pattern:
        notes.append(
            f'{exported.name}: the pattern "{answer.pattern}" cannot be written in a Moodle '
            f"short answer; only {', '.join(repr(a) for a in shortanswer_answers(answer))} "
            "will be accepted"
        )
    for accepted in shortanswer_answers(answer):
        node = _text(element, "answer", accepted.replace("*", r"\*"), "moodle_auto_format")
        node.set("fraction", "100")
        _html(node, "feedback", [])


def number(value: float) -> str:
    """A number as an answer or tolerance: whole numbers without ".0", others exactly."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _numerical(element: ET.Element, answer: NumberAnswer) -> None:
    node = _text(element, "answer", number(answer.value), "moodle_auto_format")
    node.set("fraction", "100")
    _value(node, "tolerance", number(answer.tolerance))
    _html(node, "feedback", [])
    if answer.unit:
        units = ET.SubElement(element, "units")
        unit = ET.SubElement(units, "unit")
        _value(unit, "multiplier", "1")
        _value(unit, "unit_name", answer.unit)
    _value(element, "unitgradingtype", "0")  # the unit may be typed, and is not graded
    _value(element, "unitpenalty", "0.1000000")
    _value(element, "showunits", "0" if answer.unit else "3")  # 0: optional text, 3: no units
    _value(element, "unitsleft", "0")


__all__ = [
    "CATEGORY_ROOT",
    "MOODLE_FRACTIONS",
    "choice_fractions",
    "moodle_xml",
    "number",
    "ordering_texts",
    "percent",
    "shortanswer_answers",
]
