"""`lessons export`: every shipped lesson as Moodle XML and as a QTI 2.1 package, read back.

The exports are parsed back with ElementTree (the QTI package unzipped: the manifest and every
item and test in it) and compared with the questions the tutor itself would ask: prompts,
right answers, each choice's fraction or mapped value (scored back over every possible pick
against the tutor's own grading), feedback, hints and counts. A generated question exported
from a recorded run names that run, as a replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from tests.lessoncli import smtp_tutor
from tutor.learn.lesson import Family, load_lesson, load_lessons
from tutor.learn.lms.bank import (
    Bank,
    ExportedQuestion,
    ExportError,
    LessonQuestions,
    RunOrigin,
    gather,
    recorded_run,
)
from tutor.learn.lms.moodle import MOODLE_FRACTIONS, moodle_xml, ordering_texts
from tutor.learn.lms.qti import CP, QTI, qti_package
from tutor.learn.questions import (
    Choice,
    Explanation,
    MultipleChoice,
    NumberAnswer,
    OrderItem,
    PutInOrder,
    Question,
    RfcRef,
    SingleChoice,
    TypeAnswer,
    grade,
)

Q = f"{{{QTI}}}"
NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shipped() -> Bank:
    """Every shipped lesson, its run-made questions asked on a fresh run of its scenario."""
    return asyncio.run(gather(load_lessons()))


@pytest.fixture(scope="module")
def moodle(shipped: Bank) -> ET.Element:
    data, _ = moodle_xml(shipped)
    return ET.fromstring(data)


@pytest.fixture(scope="module")
def package(shipped: Bank) -> dict[str, ET.Element]:
    """The QTI zip, every member parsed: name -> root element."""
    data, _ = qti_package(shipped)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: ET.fromstring(archive.read(name)) for name in archive.namelist()}


# --------------------------------------------------------------------------- reading back


def words(text: str) -> str:
    """Text as it reads: whitespace collapsed, the backticks of code spans gone."""
    return " ".join(text.replace("`", "").split())


def element_words(element: ET.Element) -> str:
    return words("".join(element.itertext()))


def html_paragraphs(fragment: str) -> list[str]:
    """The paragraphs of an HTML fragment Moodle stores as text (it must parse as XML too)."""
    if not fragment:
        return []
    return [element_words(p) for p in ET.fromstring(fragment).iter("p")]


def moodle_questions(quiz: ET.Element) -> dict[str, ET.Element]:
    found = {
        q.findtext("name/text"): q for q in quiz.findall("question") if q.get("type") != "category"
    }
    assert all(name for name in found)
    return {name: q for name, q in found.items() if name is not None}


def moodle_text(question: ET.Element, tag: str) -> list[str]:
    return html_paragraphs(question.findtext(f"{tag}/text") or "")


def moodle_score(fractions: dict[str, float], picked: tuple[str, ...]) -> float:
    """What Moodle gives a pick of a multichoice: the fractions added, kept within 0..1."""
    return min(1.0, max(0.0, sum(fractions[k] for k in picked) / 100))


def qti_item(package: dict[str, ET.Element], exported: ExportedQuestion) -> ET.Element:
    return package[f"items/{exported.lesson_id}/{exported.question.id}.xml"]


def modal_feedback(item: ET.Element) -> dict[str, list[str]]:
    return {
        fb.attrib["identifier"]: [element_words(p) for p in fb.iter(f"{Q}p")]
        for fb in item.iter(f"{Q}modalFeedback")
    }


def qti_mapping(item: ET.Element) -> tuple[dict[str, float], float, float]:
    mapping = item.find(f"{Q}responseDeclaration/{Q}mapping")
    assert mapping is not None
    entries = {e.attrib["mapKey"]: float(e.attrib["mappedValue"]) for e in mapping}
    return entries, float(mapping.attrib["lowerBound"]), float(mapping.attrib["upperBound"])


def correct_values(item: ET.Element) -> list[str]:
    return [
        v.text or "" for v in item.iterfind(f"{Q}responseDeclaration/{Q}correctResponse/{Q}value")
    ]


def every_pick(keys: list[str]) -> list[tuple[str, ...]]:
    return [pick for n in range(len(keys) + 1) for pick in itertools.combinations(keys, n)]


# --------------------------------------------------------------------------- what is exported


def test_every_shipped_lesson_exports_its_written_questions_and_its_run_made_ones(
    shipped: Bank,
) -> None:
    lessons = load_lessons()
    assert [entry.lesson.id for entry in shipped.lessons] == [lesson.id for lesson in lessons]
    for lesson, entry in zip(lessons, shipped.lessons, strict=True):
        exported = {q.question.id: q for q in entry.questions}
        # check.py (and test_lessons_check) prove every shipped question can be asked on its
        # scenario's run, so all of them are here, in the file's order.
        assert list(exported) == [spec.id for spec in lesson.questions]
        for spec in lesson.questions:
            question = exported[spec.id]
            assert question.family is spec.family
            if spec.family is Family.WRITTEN:
                assert question.question == spec.question and question.origin is None
            else:
                assert question.origin is not None
                assert question.origin.scenario == lesson.scenario and not question.origin.replay
    assert not shipped.notes


def test_moodle_xml_holds_one_category_per_lesson_then_its_questions(
    shipped: Bank, moodle: ET.Element
) -> None:
    assert moodle.tag == "quiz"
    children = moodle.findall("question")
    categories = [q for q in children if q.attrib["type"] == "category"]
    assert len(categories) == len(shipped.lessons)
    assert len(children) - len(categories) == len(shipped.questions())
    at = 0
    for entry in shipped.lessons:
        category = children[at]
        assert category.attrib["type"] == "category"
        assert category.findtext("category/text") == f"$course$/top/smtp-tutor/{entry.lesson.title}"
        assert category.findtext("idnumber") == entry.lesson.id
        names = [q.findtext("name/text") for q in children[at + 1 : at + 1 + len(entry.questions)]]
        assert names == [q.name for q in entry.questions]
        at += 1 + len(entry.questions)


def test_moodle_questions_read_back_with_their_answers_feedback_and_hints(
    shipped: Bank, moodle: ET.Element
) -> None:
    found = moodle_questions(moodle)
    kinds = {
        SingleChoice: "multichoice",
        MultipleChoice: "multichoice",
        PutInOrder: "ordering",
        TypeAnswer: "shortanswer",
        NumberAnswer: "numerical",
    }
    for exported in shipped.questions():
        question = exported.question
        element = found[exported.name]
        answer = question.answer
        assert element.attrib["type"] == kinds[type(answer)]
        text = moodle_text(element, "questiontext")
        label = [exported.origin.label()] if exported.origin is not None else []
        assert text[: len(label) + 1] == [*label, words(question.prompt)]
        assert moodle_text(element, "generalfeedback") == [
            words(line) for line in question.explanation.lines()
        ]
        assert [html_paragraphs(h.findtext("text") or "") for h in element.findall("hint")] == [
            [words(h)] for h in question.hints
        ]
        answers = element.findall("answer")
        if isinstance(answer, SingleChoice | MultipleChoice):
            assert element.findtext("single") == str(isinstance(answer, SingleChoice)).lower()
            assert [a.findtext("text") for a in answers] == [c.text for c in answer.choices]
            for node, choice in zip(answers, answer.choices, strict=True):
                note = choice.why if choice.correct else choice.misconception
                assert moodle_text(node, "feedback") == ([words(note)] if note else [])
        elif isinstance(answer, PutInOrder):
            # a repeated item text is told apart ("EHLO (1st)"): Moodle keys items by text
            assert [a.findtext("text") for a in answers] == ordering_texts(answer)
            assert [a.attrib["fraction"] for a in answers] == [
                str(n) for n in range(1, len(answer.items) + 1)
            ]
            assert element.findtext("gradingtype") == "LONGEST_ORDERED_SUBSET"
            assert element.findtext("selecttype") == "ALL"
        elif isinstance(answer, TypeAnswer):
            assert element.findtext("usecase") == "0"
            typed = [(a.findtext("text") or "").replace(r"\*", "*") for a in answers]
            assert typed == list(answer.accepted)
            assert {a.attrib["fraction"] for a in answers} == {"100"}
            assert all(grade(question, t).correct for t in typed)
        else:
            (node,) = answers
            assert float(node.findtext("text") or "nan") == answer.value
            assert float(node.findtext("tolerance") or "nan") == answer.tolerance
            assert node.attrib["fraction"] == "100"
            unit = element.findtext("units/unit/unit_name")
            assert unit == (answer.unit or None)


def test_moodle_fractions_are_on_its_grade_list_and_score_every_pick_as_the_tutor_does(
    shipped: Bank, moodle: ET.Element
) -> None:
    found = moodle_questions(moodle)
    allowed = [float(f) for f in MOODLE_FRACTIONS]
    checked = 0
    for exported in shipped.questions():
        answer = exported.question.answer
        if not isinstance(answer, SingleChoice | MultipleChoice):
            continue
        answers = found[exported.name].findall("answer")
        fractions = {
            c.key: float(a.attrib["fraction"]) for c, a in zip(answer.choices, answers, strict=True)
        }
        for value in fractions.values():
            assert value == 0 or any(abs(abs(value) / 100 - f) < 0.00001 for f in allowed)
        if isinstance(answer, MultipleChoice):
            # Moodle refuses a multiple-answer question whose positive grades do not add to 100.
            assert round(sum(v for v in fractions.values() if v > 0) / 100, 2) == 1
            picks = every_pick([c.key for c in answer.choices])
        else:
            assert max(fractions.values()) == 100
            picks = [(c.key,) for c in answer.choices]
        for pick in picks:
            response = set(pick) if isinstance(answer, MultipleChoice) else pick[0]
            tutor = grade(exported.question, response).score
            assert moodle_score(fractions, pick) == pytest.approx(tutor, abs=1e-6), pick
        checked += 1
    assert checked >= 10


def test_run_made_questions_are_labelled_with_the_fresh_run_they_were_asked_on(
    shipped: Bank, moodle: ET.Element, package: dict[str, ET.Element]
) -> None:
    found = moodle_questions(moodle)
    made = [q for q in shipped.questions() if q.family is not Family.WRITTEN]
    assert {q.family for q in made} == {Family.GENERATED, Family.PREDICT}
    for exported in made:
        assert exported.origin is not None
        scenario = exported.origin.scenario
        assert exported.name.endswith(f"(run of {scenario})")
        first = moodle_text(found[exported.name], "questiontext")[0]
        assert re.fullmatch(
            rf"As asked on a fresh run of the {scenario} scenario, made on "
            r"20\d\d-\d\d-\d\d \d\d:\d\d UTC\.",
            first,
        )
        body = qti_item(package, exported).find(f"{Q}itemBody")
        assert body is not None and element_words(body[0]) == first


# --------------------------------------------------------------------------- QTI


def test_the_qti_manifest_lists_every_item_and_one_test_per_lesson(
    shipped: Bank, package: dict[str, ET.Element]
) -> None:
    manifest = package["imsmanifest.xml"]
    assert manifest.tag == f"{{{CP}}}manifest"
    assert manifest.findtext(f"{{{CP}}}metadata/{{{CP}}}schema") == "QTIv2.1 Package"
    resources = manifest.findall(f"{{{CP}}}resources/{{{CP}}}resource")
    by_type: dict[str, list[ET.Element]] = {}
    for resource in resources:
        by_type.setdefault(resource.attrib["type"], []).append(resource)
        files = [f.attrib["href"] for f in resource.iter(f"{{{CP}}}file")]
        assert files == [resource.attrib["href"]] and files[0] in package
        assert NCNAME.fullmatch(resource.attrib["identifier"])
    assert len(by_type["imsqti_item_xmlv2p1"]) == len(shipped.questions())
    assert len(by_type["imsqti_test_xmlv2p1"]) == len(shipped.lessons)
    assert len({r.attrib["identifier"] for r in resources}) == len(resources)
    assert set(package) == {"imsmanifest.xml", *(r.attrib["href"] for r in resources)}
    for entry, test in zip(shipped.lessons, by_type["imsqti_test_xmlv2p1"], strict=True):
        root = package[test.attrib["href"]]
        assert root.tag == f"{Q}assessmentTest" and root.attrib["title"] == entry.lesson.title
        refs = [r.attrib["href"] for r in root.iter(f"{Q}assessmentItemRef")]
        assert refs == [f"items/{entry.lesson.id}/{q.question.id}.xml" for q in entry.questions]
        assert len([d for d in test if d.tag == f"{{{CP}}}dependency"]) == len(refs)


def test_qti_items_read_back_with_their_interactions_answers_and_feedback(
    shipped: Bank, package: dict[str, ET.Element]
) -> None:
    identifiers = set()
    for exported in shipped.questions():
        question = exported.question
        answer = question.answer
        item = qti_item(package, exported)
        assert item.tag == f"{Q}assessmentItem"
        assert NCNAME.fullmatch(item.attrib["identifier"])
        identifiers.add(item.attrib["identifier"])
        assert item.attrib["title"] == exported.name
        declaration = item.find(f"{Q}responseDeclaration")
        assert declaration is not None
        feedback = modal_feedback(item)
        assert feedback["EXPLANATION"] == [words(line) for line in question.explanation.lines()]
        body = item.find(f"{Q}itemBody")
        assert body is not None
        assert words(question.prompt) in element_words(body)
        if isinstance(answer, SingleChoice | MultipleChoice):
            interaction = body.find(f"{Q}choiceInteraction")
            assert interaction is not None
            assert interaction.attrib["maxChoices"] == (
                "1" if isinstance(answer, SingleChoice) else "0"
            )
            choices = interaction.findall(f"{Q}simpleChoice")
            assert [element_words(c) for c in choices] == [words(c.text) for c in answer.choices]
            ids = [c.attrib["identifier"] for c in choices]
            right = [i for i, c in zip(ids, answer.choices, strict=True) if c.correct]
            assert correct_values(item) == right
            for identifier, choice in zip(ids, answer.choices, strict=True):
                note = choice.why if choice.correct else choice.misconception
                if note:
                    assert feedback[identifier] == [words(f"{choice.text}: {note}")]
        elif isinstance(answer, PutInOrder):
            assert declaration.attrib["cardinality"] == "ordered"
            interaction = body.find(f"{Q}orderInteraction")
            assert interaction is not None
            choices = interaction.findall(f"{Q}simpleChoice")
            assert [element_words(c) for c in choices] == [i.text for i in answer.items]
            assert correct_values(item) == [c.attrib["identifier"] for c in choices]
        elif isinstance(answer, TypeAnswer):
            assert declaration.attrib["baseType"] == "string"
            assert body.find(f".//{Q}textEntryInteraction") is not None
            entries, low, high = qti_mapping(item)
            assert (low, high) == (0, 1) and set(entries.values()) == {1}
            assert list(entries) == list(dict.fromkeys(answer.accepted))
            mapping = item.find(f"{Q}responseDeclaration/{Q}mapping")
            assert mapping is not None
            assert {e.attrib["caseSensitive"] for e in mapping} == {"false"}
            assert all(grade(question, key).correct for key in entries)
        else:
            assert declaration.attrib["baseType"] == "float"
            assert body.find(f".//{Q}textEntryInteraction") is not None
            assert [float(v) for v in correct_values(item)] == [answer.value]
            equal = item.find(f".//{Q}responseProcessing//{Q}equal")
            assert equal is not None
            if answer.tolerance:
                assert equal.attrib["toleranceMode"] == "absolute"
                assert [float(t) for t in equal.attrib["tolerance"].split()] == [
                    answer.tolerance
                ] * 2
            else:
                assert equal.attrib["toleranceMode"] == "exact"
    assert len(identifiers) == len(shipped.questions())


def test_qti_mappings_score_every_pick_of_a_multiple_choice_as_the_tutor_does(
    shipped: Bank, package: dict[str, ET.Element]
) -> None:
    checked = 0
    for exported in shipped.questions():
        answer = exported.question.answer
        if not isinstance(answer, MultipleChoice):
            continue
        item = qti_item(package, exported)
        entries, low, high = qti_mapping(item)
        ids = [f"choice_{c.key}" for c in answer.choices]
        assert list(entries) == ids
        assert sum(v for v in entries.values() if v > 0) == pytest.approx(1)
        for pick in every_pick([c.key for c in answer.choices]):
            mapped = min(high, max(low, sum(entries[f"choice_{k}"] for k in pick)))
            assert mapped == pytest.approx(grade(exported.question, set(pick)).score)
        checked += 1
    assert checked >= 3


def test_a_qti_schema_copy_given_offline_validates_every_document(
    package: dict[str, ET.Element],
) -> None:
    """Only where a copy of the IMS schemas is at hand (they are not ours to ship).

    SMTP_TUTOR_QTI_SCHEMAS names a folder holding qtiv2p1/imsqti_v2p1.xsd and
    imscp_v1p1.xsd with what they import (w3/xml.xsd, ...), and xmlschema must be installed.
    """
    folder = os.environ.get("SMTP_TUTOR_QTI_SCHEMAS")
    if not folder:
        pytest.skip("set SMTP_TUTOR_QTI_SCHEMAS to a folder of the QTI 2.1 and IMS CP schemas")
    xmlschema = pytest.importorskip("xmlschema")
    qti = xmlschema.XMLSchema(str(Path(folder) / "qtiv2p1" / "imsqti_v2p1.xsd"))
    cp = xmlschema.XMLSchema(str(Path(folder) / "imscp_v1p1.xsd"))
    for name, root in package.items():
        (cp if name == "imsmanifest.xml" else qti).validate(ET.tostring(root, encoding="unicode"))


# --------------------------------------------------------------------------- a recorded run


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of hello recorded as `smtp-tutor run hello --plain --record FILE` records one."""
    from tutor.run import open_run

    path = tmp_path_factory.mktemp("runs") / "hello-run.jsonl"

    async def record() -> None:
        async with open_run("hello", record=path) as run:
            await run.finish()

    asyncio.run(record())
    return path


def test_a_generated_question_exported_from_a_recorded_run_names_that_run_as_a_replay(
    recording: Path,
) -> None:
    replay = recorded_run(recording)
    bank = asyncio.run(gather([load_lesson("journey")], recordings=[replay]))
    (entry,) = bank.lessons
    generated = next(q for q in entry.questions if q.question.id == "mx-tried-first")
    assert generated.origin == replay.origin and generated.origin.replay
    assert generated.name == "journey/mx-tried-first (replay of hello)"
    label = generated.origin.label()
    recorded = datetime.fromtimestamp(recording.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
    assert label == (
        "As asked on a replay of a run of the hello scenario, recorded in hello-run.jsonl on "
        f"{recorded} UTC."
    )
    # The answer is the recorded run's: the MX it connected to first.
    answer = generated.question.answer
    assert isinstance(answer, SingleChoice) and answer.right.text == "mx1.example.net"

    quiz = ET.fromstring(moodle_xml(bank)[0])
    element = moodle_questions(quiz)[generated.name]
    assert moodle_text(element, "questiontext")[0] == label
    data, _ = qti_package(bank)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        item = ET.fromstring(archive.read("items/journey/mx-tried-first.xml"))
    assert item.attrib["title"] == generated.name
    assert label in element_words(item)


def test_a_recorded_run_of_another_scenario_is_a_clear_error(recording: Path) -> None:
    with pytest.raises(ExportError, match=r"'retry' runs the greylist scenario.*of hello"):
        asyncio.run(gather([load_lesson("retry")], recordings=[recorded_run(recording)]))


def test_the_command_exports_a_qti_package_from_a_recorded_run(
    recording: Path, tmp_path: Path
) -> None:
    result = smtp_tutor(
        "lessons", "export", "--format", "qti", "journey", "--run", str(recording),
        "-o", str(tmp_path), data=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lesson = load_lesson("journey")
    made = sum(spec.family is not Family.WRITTEN for spec in lesson.questions)
    assert result.stdout.startswith(
        f"Wrote {len(lesson.questions)} questions from 1 lesson ({made} of them as asked on a run)"
    )
    with zipfile.ZipFile(tmp_path / "smtp-tutor-questions-qti.zip") as archive:
        names = archive.namelist()
    assert "imsmanifest.xml" in names and "items/journey/mx-tried-first.xml" in names


def test_the_command_refuses_a_recording_of_the_wrong_scenario_in_one_line(
    recording: Path, tmp_path: Path
) -> None:
    result = smtp_tutor(
        "lessons", "export", "--format", "moodle", "retry", "--run", str(recording),
        "-o", str(tmp_path / "x.xml"), data=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "greylist" in result.stderr and "hello" in result.stderr
    assert not (tmp_path / "x.xml").exists()


def test_the_command_writes_moodle_xml_to_standard_output_with_a_dash(tmp_path: Path) -> None:
    result = smtp_tutor(
        "lessons", "export", "--format", "moodle", "retry", "--written-only", "-o", "-",
        data=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    quiz = ET.fromstring(result.stdout)
    written = [s for s in load_lesson("retry").questions if s.family is Family.WRITTEN]
    assert len(quiz.findall("question")) == 1 + len(written)
    assert "Wrote" in result.stderr


def test_the_output_is_a_file_a_folder_or_standard_output(tmp_path: Path) -> None:
    from tutor.commands.lessons import _export_target
    from tutor.errors import UserError

    assert _export_target(str(tmp_path), "qti") == tmp_path / "smtp-tutor-questions-qti.zip"
    assert _export_target(str(tmp_path / "a.xml"), "moodle") == tmp_path / "a.xml"
    assert _export_target("-", "moodle") is None
    with pytest.raises(UserError, match="no such folder"):
        _export_target(str(tmp_path / "missing") + "/", "qti")
    with pytest.raises(UserError, match="no such folder"):
        _export_target(str(tmp_path / "missing" / "a.xml"), "moodle")


# --------------------------------------------------------------------------- what does not fit


def _explanation() -> Explanation:
    return Explanation('Because `250` & <this> "quoted".', (RfcRef(5321, "4.2.1"),))


def _bank(*questions: Question, lesson_id: str = "2nd-lesson", title: str = "A/B & <C>") -> Bank:
    lesson = dataclasses.replace(load_lesson("journey"), id=lesson_id, title=title)
    exported = tuple(ExportedQuestion(lesson_id, q, Family.WRITTEN) for q in questions)
    return Bank([LessonQuestions(lesson, exported)])


def test_a_pattern_is_said_not_to_translate_and_the_shown_answer_stands_in_for_it() -> None:
    both = Question(
        "both", "Which TLS version?", TypeAnswer(("TLSv1.3",), r"(TLS)?1\.3"), _explanation()
    )
    alone = Question("alone", "Any 4xx?", TypeAnswer(pattern=r"4\d\d", shown="451"), _explanation())
    star = Question("star", "Glob?", TypeAnswer(("*.example.net",)), _explanation())
    bank = _bank(both, alone, star)
    data, notes = moodle_xml(bank)
    found = moodle_questions(ET.fromstring(data))
    assert [a.findtext("text") for a in found["2nd-lesson/both"].findall("answer")] == ["TLSv1.3"]
    assert [a.findtext("text") for a in found["2nd-lesson/alone"].findall("answer")] == ["451"]
    assert [a.findtext("text") for a in found["2nd-lesson/star"].findall("answer")] == [
        r"\*.example.net"  # Moodle reads a bare * as "anything"
    ]
    assert len(notes) == 2 and all("pattern" in note for note in notes)
    data, notes = qti_package(bank)
    assert len(notes) == 2 and all("pattern" in note for note in notes)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        item = ET.fromstring(archive.read("items/2nd-lesson/alone.xml"))
    assert list(qti_mapping(item)[0]) == ["451"]


def test_items_that_read_the_same_stay_interchangeable_in_qti_and_are_told_apart_in_moodle() -> (
    None
):
    items = tuple(
        OrderItem(k, t) for k, t in zip("abcd", ["EHLO", "STARTTLS", "EHLO", "MAIL"], strict=True)
    )
    order = Question("twice", "Order them.", PutInOrder(items), _explanation())
    found = moodle_questions(ET.fromstring(moodle_xml(_bank(order))[0]))
    texts = [a.findtext("text") for a in found["2nd-lesson/twice"].findall("answer")]
    assert texts == ["EHLO (1st)", "STARTTLS", "EHLO (2nd)", "MAIL"]
    with zipfile.ZipFile(io.BytesIO(qti_package(_bank(order))[0])) as archive:
        item = ET.fromstring(archive.read("items/2nd-lesson/twice.xml"))
    accepted = [
        [b.text for b in match.iter(f"{Q}baseValue")]
        for match in item.iterfind(f".//{Q}responseIf/{Q}or/{Q}match")
    ]
    assert accepted == [
        ["item_a", "item_b", "item_c", "item_d"],
        ["item_c", "item_b", "item_a", "item_d"],
    ]
    assert all(grade(order, [k.removeprefix("item_") for k in keys]).correct for keys in accepted)


def test_every_character_is_escaped_and_code_spans_become_code() -> None:
    tricky = Question(
        "tricky",
        'Is `<CRLF>.<CRLF>` the end & "the" answer?',
        SingleChoice((
            Choice("a", "Yes: <CRLF>.<CRLF> & nothing else", correct=True, why="It ends DATA."),
            Choice("b", "No, ]]> ends it", misconception="CDATA ends data <here>."),
        )),
        _explanation(),
        hints=("Look at `.` & friends",),
    )  # fmt: skip
    bank = _bank(tricky)
    quiz = ET.fromstring(moodle_xml(bank)[0])
    assert quiz[0].findtext("category/text") == "$course$/top/smtp-tutor/A//B & <C>"
    element = moodle_questions(quiz)["2nd-lesson/tricky"]
    fragment = element.findtext("questiontext/text") or ""
    assert [c.text for c in ET.fromstring(fragment).iter("code")] == ["<CRLF>.<CRLF>"]
    assert moodle_text(element, "questiontext") == ['Is <CRLF>.<CRLF> the end & "the" answer?']
    assert [a.findtext("text") for a in element.findall("answer")] == [
        "Yes: <CRLF>.<CRLF> & nothing else",
        "No, ]]> ends it",
    ]
    assert moodle_text(element.findall("answer")[1], "feedback") == ["CDATA ends data <here>."]
    assert moodle_text(element, "hint") == ["Look at . & friends"]
    with zipfile.ZipFile(io.BytesIO(qti_package(bank)[0])) as archive:
        item = ET.fromstring(archive.read("items/2nd-lesson/tricky.xml"))
    prompt = item.find(f".//{Q}prompt")
    assert prompt is not None and [c.text for c in prompt.iter(f"{Q}code")] == ["<CRLF>.<CRLF>"]
    assert modal_feedback(item)["EXPLANATION"] == [
        'Because 250 & <this> "quoted".',
        "See RFC 5321 §4.2.1.",
    ]
    # An id that starts with a digit is not an XML name: QTI identifiers get a leading "_".
    assert item.attrib["identifier"] == "_2nd-lesson.tricky"


def test_more_right_choices_than_moodle_grades_for_is_a_note() -> None:
    choices = tuple(
        Choice(f"c{n}", f"choice {n}", correct=n < 11, misconception="no") for n in range(12)
    )
    many = Question("many", "Pick eleven.", MultipleChoice(choices), _explanation())
    data, notes = moodle_xml(_bank(many))
    assert len(notes) == 1 and "Nearest grade if not listed" in notes[0]
    fractions = [float(a.attrib["fraction"]) for a in ET.fromstring(data).iter("answer")]
    assert sum(f for f in fractions if f > 0) == pytest.approx(100, abs=1e-4)
    assert Fraction(1, 11) not in MOODLE_FRACTIONS


def test_a_fresh_run_label_and_a_replay_label_say_which_they_are() -> None:
    fresh = RunOrigin("hello", "2025-01-02 03:04 UTC", ("mx-down",))
    replay = RunOrigin("hello", "2025-01-02 03:04 UTC", recording=Path("/x/hello.jsonl"))
    assert fresh.label() == (
        "As asked on a fresh run of the hello + mx-down scenario, made on 2025-01-02 03:04 UTC."
    )
    assert replay.label() == (
        "As asked on a replay of a run of the hello scenario, recorded in hello.jsonl on "
        "2025-01-02 03:04 UTC."
    )
    assert (fresh.tag(), replay.tag()) == ("run of hello + mx-down", "replay of hello")
