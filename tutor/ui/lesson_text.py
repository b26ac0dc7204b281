"""The words of the lesson screen as Rich text: narration, feedback, the score, the review.

Pure functions of the lesson flow's state, so the widgets stay thin and the wording is tested
without a screen. Meaning is carried by a glyph and a word, never by colour alone:
✓ right, ✗ wrong, ◐ partly right, ! a right choice missed, ↷ skipped, ▶ the line or choice
under the cursor. Only bold and italic set text apart (no colour, no dim: dimmed text falls
below a readable contrast on the light and projector themes).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tutor.learn.lesson import Lesson
from tutor.learn.questions import (
    Grade,
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    Question,
    QuestionKind,
    SingleChoice,
    TypeAnswer,
    Verdict,
)
from tutor.ui.lesson_flow import Asking, LessonFlow, Phase, ReviewItem

RIGHT, WRONG, PARTLY, SKIPPED = "✓", "✗", "◐", "↷"

# The letters that pick choices; h and k are the question's hint and skip keys.
_LETTERS = "abcdefgijlmnopqrstuvwxyz"


def choice_letters(count: int) -> list[str]:
    """The key letter of each choice, in order."""
    if count <= len(_LETTERS):
        return list(_LETTERS[:count])
    return [str(i + 1) for i in range(count)]


KIND_WORDS = {
    QuestionKind.SINGLE: "one choice",
    QuestionKind.MULTIPLE: "one or more choices",
    QuestionKind.ORDER: "put in order",
    QuestionKind.TEXT: "type the answer",
    QuestionKind.NUMBER: "a number",
}


def verdict_of(grade: Grade) -> tuple[str, str]:
    """(glyph, words) for a graded answer."""
    if grade.correct:
        return RIGHT, "Right"
    if grade.fraction > 0:
        return PARTLY, "Partly right"
    return WRONG, "Not right"


# ------------------------------------------------------------------ headings


def heading(flow: LessonFlow) -> Text:
    """One line above the pane: what the pane shows now."""
    asking = flow.asking
    text = Text()
    if flow.phase is Phase.SCORED:
        return text.append("■ Lesson finished", style="bold")
    if asking is not None:
        count, size = flow.asked_count, flow.round_size
        where = {
            Phase.RUN: "Question in the run",
            Phase.END: f"End question {count[Phase.END]} of {size[Phase.END]}",
            Phase.AGAIN: f"Once more {count[Phase.AGAIN]} of {size[Phase.AGAIN]}",
        }[asking.phase]
        if asking.is_prediction or asking.from_prediction or asking.question is None:
            kind = "predict the reply"
        else:
            kind = KIND_WORDS[asking.question.kind]
        text.append("? ", style="bold")
        text.append(where, style="bold")
        text.append(f" · {kind}")
        if asking.hints:
            text.append(f" · hints {asking.hints_shown}/{len(asking.hints)}")
        return text
    if flow.narration is not None:
        text.append("» ", style="bold")
        text.append(
            f"Narration {flow.narration_number} of {len(flow.lesson.narration)}", style="bold"
        )
        text.append(f" · {flow.narration.anchor.describe()}")
        return text
    return text.append(f"» {flow.lesson.title}", style="bold")


# ------------------------------------------------------------------ the pane's body


def intro(lesson: Lesson) -> Text:
    """Before the first stop: what the lesson is, how to go on, then what it teaches (the
    way on comes before the list, so a short pane still shows it)."""
    text = Text()
    if lesson.summary:
        text.append(" ".join(lesson.summary.split()) + "\n")
    text.append("space", style="bold").append(
        " steps through the real run; the tutor stops where there is something to say."
    )
    if lesson.objectives:
        text.append("\nYou will:", style="bold")
        for objective in lesson.objectives:
            text.append(f"\n  • {' '.join(objective.split())}")
    return text


def objectives_line(lesson: Lesson) -> str:
    """The objectives in one sentence: "You will: a; b; c." """
    return "You will: " + "; ".join(o.strip().rstrip(".") for o in lesson.objectives) + "."


def narration_text(flow: LessonFlow) -> Text:
    assert flow.narration is not None
    text = Text(" ".join(flow.narration.text.split()) + "\n")
    if flow.run_over and not flow.queue:
        text.append("\n")
        text.append_text(run_over_text(flow))
    else:
        text.append("space", style="bold").append(" steps on.", style="italic")
    return text


def run_over_text(flow: LessonFlow) -> Text:
    text = Text()
    text.append("■ The run is over. ", style="bold")
    count = flow.end_questions_left
    if count:
        plural = "s" if count > 1 else ""
        text.append("space", style="bold").append(f": the end-of-lesson question{plural}.")
    else:
        text.append("space", style="bold").append(": your score.")
    return text


def prompt_text(asking: Asking) -> Text:
    text = Text()
    if asking.phase is Phase.AGAIN:
        text.append("You missed this one the first time. ", style="italic")
    text.append(" ".join(asking.prompt.split()), style="bold")
    for number, hint in enumerate(asking.hints[: asking.hints_shown], start=1):
        text.append(f"\nHint {number}: ", style="bold").append(hint)
    return text


def rule_text(asking: Asking) -> Text:
    if asking.is_prediction:
        return Text("Type the three-digit reply code you expect, then Enter.", style="italic")
    assert asking.question is not None
    return Text(asking.question.rule(), style="italic")


# Kinds whose marks do not already show the right answer.
_SAY_THE_ANSWER = (QuestionKind.TEXT, QuestionKind.NUMBER, QuestionKind.ORDER)


def letters_of(question: Question | None) -> dict[str, str]:
    """Choice key -> the letter the learner picked it by."""
    if question is None or not isinstance(question.answer, SingleChoice | MultipleChoice):
        return {}
    choices = question.answer.choices
    return {c.key: letter for c, letter in zip(choices, choice_letters(len(choices)), strict=True)}


def feedback(asking: Asking) -> RenderableType:
    """What the learner reads after answering (or predicting, or skipping)."""
    text = Text()
    step_on = Text.assemble(("space", "bold"), (" steps on.", "italic"))
    if asking.skipped and asking.grade is None:
        text.append(f"{SKIPPED} Skipped", style="bold")
        if asking.phase is Phase.AGAIN:
            text.append(": left unanswered (it scores nothing).")
        else:
            text.append(": it comes back after the end-of-lesson questions.")
        return Group(text, step_on)
    if asking.grade is None:  # a prediction, waiting for the real reply
        text.append("Your prediction: ", style="bold").append(asking.predicted or "")
        text.append("\n").append("space", style="bold")
        return text.append(" steps on: the real reply comes from the real server.")
    grade = asking.grade
    glyph, words = verdict_of(grade)
    text.append(f"{glyph} {words}", style="bold")
    text.append(f" · {points(grade)}")
    if asking.from_prediction:
        predicted = asking.predicted if asking.predicted is not None else "(none: skipped)"
        text.append(f" · you predicted {predicted}, the answer is {grade.expected}")
    parts: list[RenderableType] = [text]
    marks = _marks(asking.question, grade, letters_of(asking.question))
    if marks is not None:
        parts.append(marks)
    after = Text()
    if not grade.correct and not asking.from_prediction and grade.kind in _SAY_THE_ANSWER:
        after.append("The answer: ", style="bold").append(grade.expected + "\n")
    if grade.kind in (QuestionKind.MULTIPLE, QuestionKind.ORDER):
        after.append(grade.summary + "\n", style="italic")
    for line in grade.explanation:
        after.append(line + "\n")
    after.append_text(step_on)
    parts.append(after)
    return Group(*parts)


def points(grade: Grade) -> str:
    """The score of one answer as a fraction: "1/1", "0/1", "2/3"."""
    return f"{grade.fraction.numerator}/{grade.fraction.denominator}"


def _grid() -> Table:
    """Two columns: a glyph and a label that never wrap, then text that wraps under itself."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    return table


def _marks(question: Question | None, grade: Grade, letters: dict[str, str]) -> Table | None:
    """A line per picked choice (its misconception or why) and per missed right choice; for
    an ordering, each item where the learner put it."""
    if question is None or not grade.marks:
        return None
    table = _grid()
    if isinstance(question.answer, PutInOrder):
        for mark in grade.marks:
            if mark.verdict is Verdict.IN_PLACE:
                table.add_row(f"  {RIGHT} {mark.position}.", Text(mark.text))
            else:
                line = Text.assemble((mark.text, "bold"), f" — belongs at {mark.expected_position}")
                table.add_row(Text(f"  {WRONG} {mark.position}.", style="bold"), line)
        return table
    for mark in grade.marks:
        letter = letters.get(mark.key, mark.key)
        line = Text(mark.text, style="bold")
        if mark.verdict is Verdict.PICKED_RIGHT:
            line.append(" — your pick, right" + (f": {mark.note}" if mark.note else ""), "not bold")
            table.add_row(Text(f"  {RIGHT} {letter})", style="bold"), line)
        elif mark.verdict is Verdict.PICKED_WRONG:
            line.append(" — your pick, wrong." + _misconception(mark.note), "not bold")
            table.add_row(Text(f"  {WRONG} {letter})", style="bold"), line)
        elif mark.verdict is Verdict.MISSED:
            line.append(" — right, and you did not pick it", "not bold")
            table.add_row(Text(f"  ! {letter})", style="bold"), line)
    return table


def _misconception(note: str) -> str:
    return f" Misconception: {note}" if note else ""


# ------------------------------------------------------------------ the score


def score_renderable(flow: LessonFlow) -> RenderableType:
    """The score, each question's first answer (and its second try), the key points."""
    score = flow.score
    head = Text()
    head.append(f"Score: {round(score.points, 2):g} of {score.asked}", style="bold")
    head.append(f" ({score.percent}%) · {score.right} right at the first try")
    if score.carried:
        head.append(f" · {score.carried} from your earlier sitting")
    seconds = bool(flow.again_grades)  # a column for the second tries, if there were any
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True, width=len("  ◐ Partly right"))
    table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    if seconds:
        table.add_column(no_wrap=True, width=len("then ◐ partly right"))
    for spec in flow.lesson.questions:
        grade = flow.engine.grades.get(spec.id)
        if grade is None:
            continue
        glyph, words = verdict_of(grade)
        asked = flow.engine.asked.get(spec.id)
        prompt = " ".join(asked.prompt.split()) if asked is not None else spec.id
        row = [Text(f"  {glyph} {words}", style="bold"), Text(prompt)]
        if seconds:
            second = flow.again_grades.get(spec.id)
            again = ""
            if second is not None:
                again_glyph, again_words = verdict_of(second)
                again = f"then {again_glyph} {again_words.lower()}"
            row.append(Text(again))
        table.add_row(*row)
    tail = Text("\nKey points\n", style="bold")
    for point in flow.lesson.key_points:
        tail.append(f"  • {point}\n", style="not bold")
    if flow.lesson.rfcs:
        tail.append("Read: " + ", ".join(str(r) for r in flow.lesson.rfcs) + "\n", style="not bold")
    if flow.lesson.what_if is not None:
        tail.append("Try next: ", style="bold").append(
            f"{flow.lesson.what_if.text} (what-if {flow.lesson.what_if.key})\n", style="not bold"
        )
    tail.append("a", style="bold").append(": review every question · ", style="not bold")
    tail.append("w", style="bold").append(": back to the lessons", style="not bold")
    return Group(head, table, tail)


# ------------------------------------------------------------------ the review


def review_renderable(items: list[ReviewItem], *, finished: bool) -> RenderableType:
    parts: list[RenderableType] = []
    title = Text("Review: every question, every choice explained\n", style="bold")
    if not finished:
        title.append("Shown before the end of the lesson, as you asked.\n", style="italic")
    parts.append(title)
    for number, item in enumerate(items, start=1):
        parts.append(review_item(number, item))
    return Group(*parts)


def review_item(number: int, item: ReviewItem) -> RenderableType:
    question = item.question
    prompt = question.prompt if question is not None else item.spec.prompt or item.spec.id
    head = _grid()
    status = Text()
    if item.grade is not None:
        glyph, words = verdict_of(item.grade)
        status.append(f"your first answer: {glyph} {words} ({points(item.grade)})")
    else:
        status.append("not answered yet", style="italic")
    head.add_row(Text(f"{number}.", style="bold"), Text(" ".join(prompt.split()), style="bold"))
    head.add_row("", status)
    parts: list[RenderableType] = [head]
    body = _grid()
    if question is None:
        body.add_row("", Text(item.note, style="italic"))
        if item.spec.explanation is not None:
            for line in item.spec.explanation.lines():
                body.add_row("", Text(line))
        return Group(*parts, body, Text(""))
    answer = question.answer
    picked = _picked(item.grade)
    if isinstance(answer, SingleChoice | MultipleChoice):
        letters = choice_letters(len(answer.choices))
        for letter, choice in zip(letters, answer.choices, strict=True):
            glyph, words = (RIGHT, "right") if choice.correct else (WRONG, "wrong")
            line = Text(choice.text, style="bold")
            mine = ", your pick" if choice.key in picked else ""
            if choice.correct:
                why = f": {choice.why}" if choice.why else ""
                line.append(f" — {words}{mine}{why}", "not bold")
            else:
                line.append(f" — {words}{mine}." + _misconception(choice.misconception), "not bold")
            body.add_row(Text(f"   {glyph} {letter})", style="bold"), line)
    elif isinstance(answer, PutInOrder):
        body.add_row("", Text("The right order:", style="bold"))
        for position, order_item in enumerate(answer.items, start=1):
            body.add_row(f"   {position}.", Text(order_item.text))
    elif isinstance(answer, TypeAnswer | NumberAnswer):
        body.add_row("", Text.assemble(("The answer: ", "bold"), answer.expected()))
    body.add_row("", Text(question.rule(), style="italic"))
    for line in question.explanation.lines():
        body.add_row("", Text(line))
    return Group(*parts, body, Text(""))


def _picked(grade: Grade | None) -> set[str]:
    if grade is None:
        return set()
    return {m.key for m in grade.marks if m.verdict in (Verdict.PICKED_RIGHT, Verdict.PICKED_WRONG)}


def instructor_notes(lesson: Lesson) -> Text:
    text = Text("Instructor notes: ", style="bold")
    return text.append(" ".join(lesson.instructor_notes.split()) or "(this lesson has none)")
