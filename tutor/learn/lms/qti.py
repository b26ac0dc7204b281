"""QTI 2.1: an IMS content package (a zip) of assessment items, one per question, a test per lesson.

The package holds ``imsmanifest.xml`` (IMS CP 1.1, as QTI 2.1 packages use), one
``items/LESSON/QUESTION.xml`` per question and one ``LESSON.xml`` assessment test whose
section lists that lesson's items in order. The mapping, question kind by question kind:

* single choice -> ``choiceInteraction`` (maxChoices 1), response ``single``/identifier;
  SCORE is 1 when the response matches the correct one;
* multiple choice -> ``choiceInteraction`` (maxChoices 0), response ``multiple``; its
  ``mapping`` gives each right choice +1/n and each wrong one -1/n, bounded to 0..1, and
  SCORE is ``mapResponse`` — the tutor's partial-credit rule;
* put in order -> ``orderInteraction``, response ``ordered``; SCORE is 1 for the right order
  (and, for items that read the same, any order that swaps only them). QTI 2.1 has no
  operator for the longest rightly ordered run, so an order is all or nothing here;
* type the answer -> ``textEntryInteraction``, response ``single``/string; a ``mapping`` with
  one case-insensitive entry per accepted answer, SCORE ``mapResponse``. A pattern is left out
  (a QTI ``patternMatch`` is an XML Schema regular expression, not the tutor's, and has no
  "ignore case"), with a note;
* a number -> ``textEntryInteraction`` bound to a ``float`` response; SCORE is 1 when
  ``<equal toleranceMode="absolute" tolerance="t t">`` holds between the response and the
  correct value (``exact`` when there is no tolerance): QTI's own operator for a tolerance.

Response processing is written out in each item (no template), because it also sets FEEDBACK:
``modalFeedback`` shows the explanation with its RFC references after every answer, and the
misconception of each distractor picked (or the why of each right choice). Hints have no
place in a non-adaptive QTI 2.1 item and are left out.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from itertools import permutations, product

from tutor.learn.lms.bank import Bank, ExportedQuestion, LessonQuestions
from tutor.learn.lms.richtext import add_paragraphs, fill
from tutor.learn.questions import (
    Choice,
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    SingleChoice,
    TypeAnswer,
)

QTI = "http://www.imsglobal.org/xsd/imsqti_v2p1"
QTI_XSD = "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
CP = "http://www.imsglobal.org/xsd/imscp_v1p1"
CP_XSD = "http://www.imsglobal.org/xsd/imscp_v1p1.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

ITEM_TYPE = "imsqti_item_xmlv2p1"
TEST_TYPE = "imsqti_test_xmlv2p1"
EXPLANATION = "EXPLANATION"  # the modalFeedback shown after every answer
# Items that read the same may swap places; past this many such orders only the written one counts.
MAX_EQUIVALENT_ORDERS = 24

# A fixed time for every member, so the same lessons export to the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

ET.register_namespace("xsi", XSI)


def qti_package(bank: Bank) -> tuple[bytes, list[str]]:
    """The bank as a zipped IMS content package of QTI 2.1 items, and the notes on what it lost."""
    notes: list[str] = []
    members: dict[str, bytes] = {}
    resources: list[ET.Element] = []
    for lesson in bank.lessons:
        refs: list[tuple[str, str]] = []
        for exported in lesson.questions:
            identifier = item_identifier(exported)
            href = f"items/{lesson.lesson.id}/{exported.question.id}.xml"
            members[href] = _document(assessment_item(exported, notes), QTI)
            resources.append(_resource(f"res-{identifier}", ITEM_TYPE, href))
            refs.append((identifier, href))
        href = f"{lesson.lesson.id}.xml"
        members[href] = _document(assessment_test(lesson, refs), QTI)
        test = _resource(f"res-{test_identifier(lesson)}", TEST_TYPE, href)
        for identifier, _ in refs:
            ET.SubElement(test, _cp("dependency"), {"identifierref": f"res-{identifier}"})
        resources.append(test)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, "imsmanifest.xml", _document(manifest(resources), CP))
        for name, data in members.items():
            _write(archive, name, data)
    return buffer.getvalue(), notes


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _document(root: ET.Element, namespace: str) -> bytes:
    # The tree is built with local names; declaring the format's namespace as the default on
    # the root puts every element in it (ElementTree's default_namespace also wants the
    # attributes qualified, which QTI's are not).
    root.set("xmlns", namespace)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# --------------------------------------------------------------------------- identifiers

_NOT_NCNAME = re.compile(r"[^A-Za-z0-9_.-]")


def ncname(text: str) -> str:
    """``text`` as an XML NCName (what QTI identifiers are): a letter or "_" first, no ":"."""
    name = _NOT_NCNAME.sub("_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def item_identifier(exported: ExportedQuestion) -> str:
    return ncname(f"{exported.lesson_id}.{exported.question.id}")


def test_identifier(lesson: LessonQuestions) -> str:
    return ncname(f"{lesson.lesson.id}.test")


def choice_identifier(choice: Choice) -> str:
    return ncname(f"choice_{choice.key}")


def item_key_identifier(key: str) -> str:
    return ncname(f"item_{key}")


# --------------------------------------------------------------------------- the manifest


def _cp(tag: str) -> str:
    return tag  # in the manifest's default namespace (see _document)


def _resource(identifier: str, type_: str, href: str) -> ET.Element:
    resource = ET.Element(
        _cp("resource"), {"identifier": ncname(identifier), "type": type_, "href": href}
    )
    ET.SubElement(resource, _cp("file"), {"href": href})
    return resource


def manifest(resources: Sequence[ET.Element]) -> ET.Element:
    root = ET.Element(
        _cp("manifest"),
        {"identifier": "smtp-tutor-questions", f"{{{XSI}}}schemaLocation": f"{CP} {CP_XSD}"},
    )
    metadata = ET.SubElement(root, _cp("metadata"))
    ET.SubElement(metadata, _cp("schema")).text = "QTIv2.1 Package"
    ET.SubElement(metadata, _cp("schemaversion")).text = "1.0.0"
    ET.SubElement(root, _cp("organizations"))
    listed = ET.SubElement(root, _cp("resources"))
    listed.extend(resources)
    return root


# --------------------------------------------------------------------------- QTI elements


def _q(tag: str) -> str:
    return tag  # in the item's default namespace (see _document)


def _make(tag: str) -> ET.Element:
    return ET.Element(_q(tag))


def _sub(parent: ET.Element, tag: str, attrs: dict[str, str] | None = None) -> ET.Element:
    return ET.SubElement(parent, _q(tag), attrs or {})


def _base(parent: ET.Element, base_type: str, value: str) -> ET.Element:
    node = _sub(parent, "baseValue", {"baseType": base_type})
    node.text = value
    return node


def _var(parent: ET.Element, identifier: str) -> ET.Element:
    return _sub(parent, "variable", {"identifier": identifier})


def _set(parent: ET.Element, identifier: str) -> ET.Element:
    return _sub(parent, "setOutcomeValue", {"identifier": identifier})


def _score(parent: ET.Element, value: str) -> None:
    _base(_set(parent, "SCORE"), "float", value)


def float_text(value: float | Fraction) -> str:
    """A float as QTI writes one: "1", "0.5", "-0.3333333333333333"."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def assessment_test(lesson: LessonQuestions, refs: Sequence[tuple[str, str]]) -> ET.Element:
    """One lesson's items, in its order, as a linear test of one section."""
    test = ET.Element(
        _q("assessmentTest"),
        {
            "identifier": test_identifier(lesson),
            "title": lesson.lesson.title,
            "toolName": "smtp-tutor",
            f"{{{XSI}}}schemaLocation": f"{QTI} {QTI_XSD}",
        },
    )
    part = _sub(
        test,
        "testPart",
        {"identifier": "part", "navigationMode": "nonlinear", "submissionMode": "individual"},
    )
    section = _sub(
        part,
        "assessmentSection",
        {"identifier": "section", "title": lesson.lesson.title, "visible": "true"},
    )
    for identifier, href in refs:
        _sub(section, "assessmentItemRef", {"identifier": identifier, "href": href})
    return test


def assessment_item(exported: ExportedQuestion, notes: list[str]) -> ET.Element:
    """One question as a QTI 2.1 assessmentItem."""
    question = exported.question
    answer = question.answer
    item = ET.Element(
        _q("assessmentItem"),
        {
            "identifier": item_identifier(exported),
            "title": exported.name,
            "adaptive": "false",
            "timeDependent": "false",
            "toolName": "smtp-tutor",
            f"{{{XSI}}}schemaLocation": f"{QTI} {QTI_XSD}",
        },
    )
    response = _sub(item, "responseDeclaration", {"identifier": "RESPONSE"})
    score = _sub(
        item,
        "outcomeDeclaration",
        {"identifier": "SCORE", "cardinality": "single", "baseType": "float", "normalMaximum": "1"},
    )
    _sub(_sub(score, "defaultValue"), "value").text = "0"
    _sub(
        item,
        "outcomeDeclaration",
        {"identifier": "FEEDBACK", "cardinality": "multiple", "baseType": "identifier"},
    )
    body = _sub(item, "itemBody")
    if exported.origin is not None:
        add_paragraphs(body, [exported.origin.label()], _make)
    processing = ET.Element(_q("responseProcessing"))
    feedback: list[tuple[str, str]] = []  # (identifier, text) of per-response feedback
    if isinstance(answer, SingleChoice | MultipleChoice):
        feedback = _choice(response, body, processing, question.prompt, answer)
    elif isinstance(answer, PutInOrder):
        _order(response, body, processing, question.prompt, answer)
    elif isinstance(answer, TypeAnswer):
        _text_entry(response, body, processing, question.prompt, answer, exported, notes)
    else:
        _number(response, body, processing, question.prompt, answer)
    _feedback_rule(processing, with_response=bool(feedback))
    item.append(processing)
    for identifier, text in feedback:
        node = _sub(
            item,
            "modalFeedback",
            {"outcomeIdentifier": "FEEDBACK", "identifier": identifier, "showHide": "show"},
        )
        add_paragraphs(node, [text], _make)
    explanation = _sub(
        item,
        "modalFeedback",
        {
            "outcomeIdentifier": "FEEDBACK",
            "identifier": EXPLANATION,
            "showHide": "show",
            "title": "Explanation",
        },
    )
    add_paragraphs(explanation, question.explanation.lines(), _make)
    return item


def _feedback_rule(processing: ET.Element, *, with_response: bool) -> None:
    """FEEDBACK = the explanation, plus the picked choices' identifiers (their own feedback)."""
    collected = _sub(_set(processing, "FEEDBACK"), "multiple")
    if with_response:
        _var(collected, "RESPONSE")  # a NULL (nothing picked) is left out by <multiple>
    _base(collected, "identifier", EXPLANATION)


def _prompt(parent: ET.Element, text: str) -> None:
    prompt = _sub(parent, "prompt")
    fill(prompt, " ".join(text.split()), _make)


def _choice(
    response: ET.Element,
    body: ET.Element,
    processing: ET.Element,
    prompt: str,
    answer: SingleChoice | MultipleChoice,
) -> list[tuple[str, str]]:
    single = isinstance(answer, SingleChoice)
    response.set("cardinality", "single" if single else "multiple")
    response.set("baseType", "identifier")
    correct = _sub(response, "correctResponse")
    right = [answer.right] if isinstance(answer, SingleChoice) else list(answer.right)
    for choice in right:
        _sub(correct, "value").text = choice_identifier(choice)
    if single:
        _match_correct(processing)
    else:
        step = Fraction(1, len(right))
        mapping = _sub(
            response, "mapping", {"lowerBound": "0", "upperBound": "1", "defaultValue": "0"}
        )
        for choice in answer.choices:
            _sub(
                mapping,
                "mapEntry",
                {
                    "mapKey": choice_identifier(choice),
                    "mappedValue": float_text(step if choice.correct else -step),
                },
            )
        _map_response(processing)
    if not single:
        add_paragraphs(body, [answer.rule()], _make)
    interaction = _sub(
        body,
        "choiceInteraction",
        {
            "responseIdentifier": "RESPONSE",
            "shuffle": "false",  # the keys a, b, c stay as the tutor shows them
            "maxChoices": "1" if single else "0",
        },
    )
    _prompt(interaction, prompt)
    feedback = []
    for choice in answer.choices:
        node = _sub(interaction, "simpleChoice", {"identifier": choice_identifier(choice)})
        fill(node, choice.text, _make)
        note = choice.why if choice.correct else choice.misconception
        if note:
            feedback.append((choice_identifier(choice), f"{choice.text}: {note}"))
    return feedback


def _match_correct(processing: ET.Element) -> None:
    """SCORE = 1 if RESPONSE matches the correct response, else 0 (QTI's match_correct)."""
    condition = _sub(processing, "responseCondition")
    when = _sub(condition, "responseIf")
    match = _sub(when, "match")
    _var(match, "RESPONSE")
    _sub(match, "correct", {"identifier": "RESPONSE"})
    _score(when, "1")
    _score(_sub(condition, "responseElse"), "0")


def _map_response(processing: ET.Element) -> None:
    """SCORE = the mapped RESPONSE, 0 when there is none (QTI's map_response)."""
    condition = _sub(processing, "responseCondition")
    when = _sub(condition, "responseIf")
    _var(_sub(when, "isNull"), "RESPONSE")
    _score(when, "0")
    otherwise = _set(_sub(condition, "responseElse"), "SCORE")
    _sub(otherwise, "mapResponse", {"identifier": "RESPONSE"})


def equivalent_orders(answer: PutInOrder) -> list[tuple[str, ...]]:
    """Every order of the keys the tutor takes as right: items that read the same may swap."""
    slots: dict[str, list[int]] = {}
    for position, item in enumerate(answer.items):
        slots.setdefault(item.text, []).append(position)
    groups = [positions for positions in slots.values() if len(positions) > 1]
    orders = []
    for arrangement in product(*(permutations(g) for g in groups)):
        keys = [item.key for item in answer.items]
        for group, shuffled in zip(groups, arrangement, strict=True):
            for place, source in zip(group, shuffled, strict=True):
                keys[place] = answer.items[source].key
        orders.append(tuple(keys))
    return orders


def _order(
    response: ET.Element, body: ET.Element, processing: ET.Element, prompt: str, answer: PutInOrder
) -> None:
    response.set("cardinality", "ordered")
    response.set("baseType", "identifier")
    correct = _sub(response, "correctResponse")
    for item in answer.items:
        _sub(correct, "value").text = item_key_identifier(item.key)
    interaction = _sub(
        body, "orderInteraction", {"responseIdentifier": "RESPONSE", "shuffle": "true"}
    )
    _prompt(interaction, prompt)
    for item in answer.items:
        fill(
            _sub(interaction, "simpleChoice", {"identifier": item_key_identifier(item.key)}),
            item.text,
            _make,
        )
    orders = equivalent_orders(answer)
    if len(orders) == 1 or len(orders) > MAX_EQUIVALENT_ORDERS:
        _match_correct(processing)
        return
    condition = _sub(processing, "responseCondition")
    when = _sub(condition, "responseIf")
    either = _sub(when, "or")
    for order in orders:
        match = _sub(either, "match")
        _var(match, "RESPONSE")
        listed = _sub(match, "ordered")
        for key in order:
            _base(listed, "identifier", item_key_identifier(key))
    _score(when, "1")
    _score(_sub(condition, "responseElse"), "0")


def qti_accepted(answer: TypeAnswer) -> list[str]:
    """The strings the mapping takes: the accepted answers, or the answer shown for a pattern."""
    return list(answer.accepted) if answer.accepted else [answer.expected()]


def _text_entry(
    response: ET.Element,
    body: ET.Element,
    processing: ET.Element,
    prompt: str,
    answer: TypeAnswer,
    exported: ExportedQuestion,
    notes: list[str],
) -> None:
    response.set("cardinality", "single")
    response.set("baseType", "string")
    accepted = qti_accepted(answer)
    _sub(_sub(response, "correctResponse"), "value").text = answer.expected()
    mapping = _sub(response, "mapping", {"lowerBound": "0", "upperBound": "1", "defaultValue": "0"})
    seen: set[str] = set()
    for text in accepted:
        if text.casefold() in seen:  # a map key may appear once
            continue
        seen.add(text.casefold())
        _sub(mapping, "mapEntry", {"mapKey": text, "mappedValue": "1", "caseSensitive": "false"})
    if answer.pattern:
        notes.append(
            f'{exported.name}: the pattern "{answer.pattern}" is not exported to QTI; only '
            f"{', '.join(repr(a) for a in accepted)} will be accepted"
        )
    add_paragraphs(body, [prompt], _make)
    line = _sub(body, "p")
    _sub(
        line,
        "textEntryInteraction",
        {
            "responseIdentifier": "RESPONSE",
            "expectedLength": str(max(8, *(len(a) for a in accepted))),
        },
    )
    _map_response(processing)


def _number(
    response: ET.Element,
    body: ET.Element,
    processing: ET.Element,
    prompt: str,
    answer: NumberAnswer,
) -> None:
    response.set("cardinality", "single")
    response.set("baseType", "float")
    _sub(_sub(response, "correctResponse"), "value").text = float_text(answer.value)
    add_paragraphs(body, [prompt], _make)
    line = _sub(body, "p")
    entry = _sub(
        line, "textEntryInteraction", {"responseIdentifier": "RESPONSE", "expectedLength": "8"}
    )
    if answer.unit:
        entry.tail = f" {answer.unit}"
    condition = _sub(processing, "responseCondition")
    when = _sub(condition, "responseIf")
    if answer.tolerance:
        tolerance = float_text(answer.tolerance)
        attrs = {"toleranceMode": "absolute", "tolerance": f"{tolerance} {tolerance}"}
    else:
        attrs = {"toleranceMode": "exact"}
    equal = _sub(when, "equal", attrs)
    _var(equal, "RESPONSE")
    _sub(equal, "correct", {"identifier": "RESPONSE"})
    _score(when, "1")
    _score(_sub(condition, "responseElse"), "0")


__all__ = [
    "CP",
    "EXPLANATION",
    "QTI",
    "assessment_item",
    "assessment_test",
    "choice_identifier",
    "equivalent_orders",
    "float_text",
    "item_identifier",
    "item_key_identifier",
    "manifest",
    "ncname",
    "qti_accepted",
    "qti_package",
]
