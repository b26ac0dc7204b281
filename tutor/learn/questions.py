"""Questions and their grading: plain data in, a Grade out, whoever wrote the question.

A question is the same frozen object whether a teacher wrote it in a lesson's TOML or a template
computed it from the trace of the run just watched, so one ``grade`` serves both, and the views
(TUI, plain prompt, review) only ever show a ``Grade``. Nothing here knows about files, screens
or the world.

Each kind of answer carries its own grading rule and can state that rule in words, because a
learner who is given partial credit deserves to see how it was worked out:

- single choice: the one right choice scores 1, anything else 0;
- multiple choice: each right choice picked +1/n, each wrong choice picked -1/n (n = the number
  of right choices), floored at 0;
- put in order: the longest subsequence of the learner's order that is in the right relative
  order (not necessarily adjacent), over n; items in it are marked in place;
- type the answer: any accepted answer, or a full match of a pattern, ignoring case and extra
  whitespace;
- a number: within an absolute tolerance of the value.

Constructing a malformed question raises ``QuestionError`` naming the offending field, so a
lesson loader can point at the file and line; a response of the wrong shape (an unknown choice,
an item twice) raises ``ResponseError`` with a sentence a learner can be shown.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import ClassVar

# Stable ids survive edits to a question's wording, so progress keeps pointing at it; they are
# also joined with "/" in progress exports, hence no "/" and no whitespace.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_RFC_REF = re.compile(r"\s*RFC\s*(\d+)\s*(?:(?:§|section|sec\.?)\s*([0-9A-Za-z.]+))?\s*", re.I)


class QuestionKind(StrEnum):
    """The closed set of question kinds (the value is what a lesson file writes)."""

    SINGLE = "single"
    MULTIPLE = "multiple"
    ORDER = "order"
    TEXT = "text"
    NUMBER = "number"


class Verdict(StrEnum):
    """What one choice or item of a graded response turned out to be.

    Views show meaning by words or symbols chosen from this, never by colour alone.
    """

    PICKED_RIGHT = "picked-right"  # a right choice the learner picked
    PICKED_WRONG = "picked-wrong"  # a distractor the learner picked: its misconception is shown
    MISSED = "missed"  # a right choice the learner did not pick
    LEFT_OUT = "left-out"  # a distractor the learner rightly left alone
    IN_PLACE = "in-place"  # an ordered item within the longest rightly ordered subsequence
    OUT_OF_PLACE = "out-of-place"  # an ordered item outside it

    @property
    def good(self) -> bool:
        """Whether this mark counts for the learner (picked right, left out, in place)."""
        return self in (Verdict.PICKED_RIGHT, Verdict.LEFT_OUT, Verdict.IN_PLACE)


class QuestionError(ValueError):
    """A question that cannot be asked as written; ``field`` names where (e.g. ``choices[2]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ResponseError(ValueError):
    """A response that cannot be graded; the message is a sentence to show the learner."""


# --------------------------------------------------------------------------- explanations


@dataclass(frozen=True)
class RfcRef:
    """A reference into an RFC, kept as data so views can link, list or cite it their way."""

    rfc: int
    section: str = ""

    def __post_init__(self) -> None:
        if self.rfc <= 0:
            raise QuestionError("rfc", f"RFC number must be positive, not {self.rfc}")

    @classmethod
    def parse(cls, text: str) -> RfcRef:
        """Read the house form ``"RFC 5321 §4.2.1"`` (also ``section 4.2.1``, or no section)."""
        match = _RFC_REF.fullmatch(text)
        if match is None:
            raise QuestionError("rfc", f'"{text}" is not a reference like "RFC 5321 §4.2.1"')
        return cls(int(match.group(1)), match.group(2) or "")

    def __str__(self) -> str:
        return f"RFC {self.rfc} §{self.section}" if self.section else f"RFC {self.rfc}"


@dataclass(frozen=True)
class Explanation:
    """What a learner reads after answering, and where in the standards it is written."""

    text: str
    refs: tuple[RfcRef, ...] = ()

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise QuestionError("explanation", "a question needs an explanation to show")

    def lines(self) -> tuple[str, ...]:
        """The paragraphs of the text, then one line citing the references."""
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", self.text.strip())]
        cite = ("See " + ", ".join(str(r) for r in self.refs) + ".",) if self.refs else ()
        return (*paragraphs, *cite)


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Choice:
    """One choice of a choice question.

    A distractor (``correct=False``) must say which misconception it catches: that is what the
    learner who picks it is shown. ``why`` optionally explains a right choice, for the review.
    """

    key: str
    text: str
    correct: bool = False
    misconception: str = ""
    why: str = ""

    def __post_init__(self) -> None:
        _check_id(self.key, "key")
        if not self.text.strip():
            raise QuestionError("text", f"choice {self.key!r} has no text")
        if not self.correct and not self.misconception.strip():
            raise QuestionError(
                "misconception", f"distractor {self.key!r} must say which misconception it catches"
            )


def _check_id(value: str, where: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise QuestionError(
            where,
            f"{value!r} is not a stable id (letters, digits, '.', '_', '-'; no spaces or '/')",
        )


def _check_choices(choices: tuple[Choice, ...]) -> None:
    if len(choices) < 2:
        raise QuestionError("choices", "a choice question needs at least two choices")
    seen: set[str] = set()
    for index, choice in enumerate(choices):
        if choice.key in seen:
            raise QuestionError(f"choices[{index}]", f"the key {choice.key!r} is used twice")
        seen.add(choice.key)


def _choice_marks(
    choices: tuple[Choice, ...], picked: set[str], gain: Fraction, cost: Fraction
) -> tuple[Mark, ...]:
    marks = []
    for choice in choices:
        chosen = choice.key in picked
        if choice.correct:
            verdict = Verdict.PICKED_RIGHT if chosen else Verdict.MISSED
            points = gain if chosen else Fraction(0)
            note = choice.why if chosen else ""
        else:
            verdict = Verdict.PICKED_WRONG if chosen else Verdict.LEFT_OUT
            points = -cost if chosen else Fraction(0)
            note = choice.misconception if chosen else ""
        marks.append(Mark(choice.key, choice.text, verdict, points, note))
    return tuple(marks)


def _picked_keys(choices: tuple[Choice, ...], response: Collection[str]) -> set[str]:
    if isinstance(response, str):
        raise TypeError("a multiple-choice response is a collection of choice keys, not a str")
    picked = set(response)
    known = {c.key for c in choices}
    unknown = sorted(picked - known)
    if unknown:
        raise ResponseError(f"There is no choice {', '.join(unknown)}.")
    return picked


@dataclass(frozen=True)
class SingleChoice:
    """Exactly one choice is right; the response is its key."""

    choices: tuple[Choice, ...]
    kind: ClassVar[QuestionKind] = QuestionKind.SINGLE

    def __post_init__(self) -> None:
        _check_choices(self.choices)
        right = [c for c in self.choices if c.correct]
        if len(right) != 1:
            raise QuestionError(
                "choices",
                f"a single-choice question needs exactly one right choice, not {len(right)}",
            )

    @property
    def right(self) -> Choice:
        """The right choice."""
        return next(c for c in self.choices if c.correct)

    def rule(self) -> str:
        """The grading rule, in words the UI shows."""
        return "One choice is right: it scores full marks, any other scores nothing."

    def grade(self, response: str) -> _Scored:
        """Score a picked key."""
        if not isinstance(response, str):
            raise TypeError("a single-choice response is one choice key")
        picked = _picked_keys(self.choices, [response])
        score = Fraction(int(response == self.right.key))
        marks = _choice_marks(self.choices, picked, Fraction(1), Fraction(0))
        summary = "Correct." if score == 1 else f"Not this one: the answer is {self.right.key}."
        return _Scored(score, marks, summary)

    def expected(self) -> str:
        """The right answer as the learner is told it."""
        return f"{self.right.key}. {self.right.text}"


@dataclass(frozen=True)
class MultipleChoice:
    """One or more choices are right; the response is the set of picked keys.

    Partial credit per choice: each right pick +1/n, each wrong pick -1/n, n the number of right
    choices, floored at 0; so full marks need every right choice and no wrong one.
    """

    choices: tuple[Choice, ...]
    kind: ClassVar[QuestionKind] = QuestionKind.MULTIPLE

    def __post_init__(self) -> None:
        _check_choices(self.choices)
        if not any(c.correct for c in self.choices):
            raise QuestionError("choices", "a multiple-choice question needs a right choice")

    @property
    def right(self) -> tuple[Choice, ...]:
        """The right choices, in the order written."""
        return tuple(c for c in self.choices if c.correct)

    def rule(self) -> str:
        """The grading rule, in words the UI shows."""
        n = len(self.right)
        step = _frac(Fraction(1, n))
        return (
            f"{n} of the choices are right. Each right choice you pick earns {step}, each wrong "
            f"choice you pick costs {step}; the score never goes below 0."
            if n > 1
            else f"1 of the choices is right. Picking it earns {step}, each wrong choice you pick "
            f"costs {step}; the score never goes below 0."
        )

    def grade(self, response: Collection[str]) -> _Scored:
        """Score a set of picked keys."""
        picked = _picked_keys(self.choices, response)
        value = Fraction(1, len(self.right))
        marks = _choice_marks(self.choices, picked, value, value)
        raw = sum((m.points for m in marks), Fraction(0))
        score = max(Fraction(0), raw)
        hits = sum(m.verdict == Verdict.PICKED_RIGHT for m in marks)
        wrong = sum(m.verdict == Verdict.PICKED_WRONG for m in marks)
        parts = [f"{hits} of {len(self.right)} right choices picked (+{_frac(hits * value)})"]
        if wrong:
            parts.append(
                f"{wrong} wrong choice{'s' if wrong > 1 else ''} picked (-{_frac(wrong * value)})"
            )
        floor = " (not below 0)" if raw < 0 else ""
        return _Scored(score, marks, f"{', '.join(parts)}: score {_frac(score)}{floor}.")

    def expected(self) -> str:
        """The right answer as the learner is told it."""
        return ", ".join(c.key for c in self.right)


@dataclass(frozen=True)
class OrderItem:
    """One item of a put-in-order question."""

    key: str
    text: str

    def __post_init__(self) -> None:
        _check_id(self.key, "key")
        if not self.text.strip():
            raise QuestionError("text", f"item {self.key!r} has no text")


@dataclass(frozen=True)
class PutInOrder:
    """Items written in their right order; the response is every key once, in the learner's order.

    Items with the same text (the EHLO before and after STARTTLS) cannot be told apart by the
    learner, so either may stand in either place.
    """

    items: tuple[OrderItem, ...]
    kind: ClassVar[QuestionKind] = QuestionKind.ORDER

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise QuestionError("items", "a put-in-order question needs at least two items")
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.key in seen:
                raise QuestionError(f"items[{index}]", f"the key {item.key!r} is used twice")
            seen.add(item.key)

    def rule(self) -> str:
        """The grading rule, in words the UI shows."""
        return (
            "You score the longest run of items that are in the right order relative to each "
            f"other (they need not be next to each other), out of {len(self.items)}."
        )

    def scrambled(self, rng: random.Random) -> tuple[str, ...]:
        """The keys in an order to present them in: shuffled, never already right."""
        keys = [item.key for item in self.items]
        texts = [item.text for item in self.items]
        if len(set(texts)) == 1:
            return tuple(keys)  # every order is right; nothing to scramble
        order = keys[:]
        by_key = {item.key: item.text for item in self.items}
        while [by_key[k] for k in order] == texts:
            rng.shuffle(order)
        return tuple(order)

    def grade(self, response: Sequence[str]) -> _Scored:
        """Score an ordering by its longest rightly ordered subsequence."""
        if isinstance(response, str):
            raise TypeError("a put-in-order response is a sequence of item keys, not a str")
        order = list(response)
        keys = [item.key for item in self.items]
        missing = [k for k in keys if k not in order]
        unknown = [k for k in order if k not in keys]
        if unknown:
            raise ResponseError(f"There is no item {', '.join(unknown)}.")
        if missing or len(order) != len(keys):
            raise ResponseError("Put every item in the order exactly once.")
        targets = self._targets(order)
        kept = set(_longest_increasing(targets))
        marks = tuple(
            Mark(
                key,
                self.items[keys.index(key)].text,
                Verdict.IN_PLACE if at in kept else Verdict.OUT_OF_PLACE,
                Fraction(1, len(keys)) if at in kept else Fraction(0),
                position=at + 1,
                expected_position=targets[at] + 1,
            )
            for at, key in enumerate(order)
        )
        score = Fraction(len(kept), len(keys))
        summary = (
            f"{len(kept)} of {len(keys)} items in the right order relative to each other: "
            f"score {_frac(score)}."
        )
        return _Scored(score, marks, summary)

    def _targets(self, order: list[str]) -> list[int]:
        # The right position of each item in the learner's order. Items with equal text are
        # interchangeable: hand their right positions out in ascending order as they appear,
        # which never shortens the longest increasing run.
        slots: dict[str, list[int]] = defaultdict(list)
        for position, item in enumerate(self.items):
            slots[item.text].append(position)
        text_of = {item.key: item.text for item in self.items}
        taken: dict[str, int] = defaultdict(int)
        targets = []
        for key in order:
            text = text_of[key]
            targets.append(slots[text][taken[text]])
            taken[text] += 1
        return targets

    def expected(self) -> str:
        """The right answer as the learner is told it."""
        return " -> ".join(item.text for item in self.items)


def _longest_increasing(values: list[int]) -> list[int]:
    """Indices of a longest strictly increasing subsequence of ``values``.

    Of all the longest ones, the one that keeps the learner's earliest items, so the marks are
    deterministic and read naturally ("you started right, then moved this one").
    """
    n = len(values)
    # run[i]: the length of the longest increasing subsequence that starts at i.
    run = [1] * n
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            if values[j] > values[i]:
                run[i] = max(run[i], run[j] + 1)
    best = max(run, default=0)
    picked: list[int] = []
    need = best
    for i in range(n):
        if run[i] == need and (not picked or values[i] > values[picked[-1]]):
            picked.append(i)
            need -= 1
    return picked


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def normalise_text(text: str) -> str:
    """The form typed answers are compared in: NFKC, whitespace collapsed, case folded."""
    return _collapse(text).casefold()


@dataclass(frozen=True)
class TypeAnswer:
    """The learner types the answer: a reply code, a record name, a header field.

    ``accepted`` lists the answers taken (case and extra whitespace ignored); ``pattern`` is a
    regular expression the whole answer may match instead (case-insensitive). ``shown`` is what
    the learner is told the answer was; it defaults to the first accepted answer and must be
    given when there is only a pattern.
    """

    accepted: tuple[str, ...] = ()
    pattern: str = ""
    shown: str = ""
    kind: ClassVar[QuestionKind] = QuestionKind.TEXT

    def __post_init__(self) -> None:
        if not self.accepted and not self.pattern:
            raise QuestionError("accepted", "give at least one accepted answer or a pattern")
        for index, answer in enumerate(self.accepted):
            if not normalise_text(answer):
                raise QuestionError(f"accepted[{index}]", "an accepted answer is empty")
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise QuestionError("pattern", f"not a valid regular expression: {error}") from None
        if not self.accepted and not self.shown.strip():
            raise QuestionError("shown", "with only a pattern, say what answer to show")

    def rule(self) -> str:
        """The grading rule, in words the UI shows."""
        return "Type the answer; case and extra spaces do not matter."

    def grade(self, response: str) -> _Scored:
        """Score a typed answer."""
        if not isinstance(response, str):
            raise TypeError("a typed response is a str")
        typed = normalise_text(response)
        if not typed:
            raise ResponseError("Type an answer first.")
        right = typed in {normalise_text(a) for a in self.accepted} or bool(
            self.pattern and re.fullmatch(self.pattern, _collapse(response), re.IGNORECASE)
        )
        summary = "Correct." if right else f"Not accepted: the answer is {self.expected()}."
        return _Scored(Fraction(int(right)), (), summary)

    def expected(self) -> str:
        """The right answer as the learner is told it."""
        return self.shown or self.accepted[0]


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class NumberAnswer:
    """The learner gives a number ("how many minutes until the retry?"), right within a tolerance.

    ``unit`` is shown with the answer and may follow the typed number ("60 minutes").
    """

    value: float
    tolerance: float = 0.0
    unit: str = ""
    kind: ClassVar[QuestionKind] = QuestionKind.NUMBER

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise QuestionError("value", "the answer must be a finite number")
        if not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise QuestionError("tolerance", "the tolerance must be a finite number, 0 or more")

    def rule(self) -> str:
        """The grading rule, in words the UI shows."""
        if self.tolerance:
            return f"Give a number; within {_num(self.tolerance)} of the answer counts as right."
        return "Give a number; only the exact value counts as right."

    def parse(self, response: str) -> float:
        """A typed number, with this answer's unit allowed after it."""
        text = " ".join(response.split())
        if self.unit and text.casefold().endswith(self.unit.casefold()):
            text = text[: -len(self.unit)].strip()
        if not _NUMBER.fullmatch(text):
            raise ResponseError(f'"{response.strip()}" is not a number.')
        return float(text)

    def grade(self, response: float | str) -> _Scored:
        """Score a number (or its typed form)."""
        if isinstance(response, bool) or not isinstance(response, int | float | str):
            raise TypeError("a number response is a float, an int or its typed str")
        given = self.parse(response) if isinstance(response, str) else float(response)
        if not math.isfinite(given):
            raise ResponseError("Give a finite number.")
        # The slack absorbs binary rounding (0.1 + 0.2), never a real difference.
        slack = 1e-9 * max(1.0, abs(self.value))
        right = abs(given - self.value) <= self.tolerance + slack
        if right:
            summary = "Correct."
        elif self.tolerance:
            summary = f"Not within {_num(self.tolerance)} of the answer, {self.expected()}."
        else:
            summary = f"Not right: the answer is {self.expected()}."
        return _Scored(Fraction(int(right)), (), summary)

    def expected(self) -> str:
        """The right answer as the learner is told it."""
        tol = f" (±{_num(self.tolerance)})" if self.tolerance else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{_num(self.value)}{unit}{tol}"


Answer = SingleChoice | MultipleChoice | PutInOrder | TypeAnswer | NumberAnswer
"""The answer part of a question: what is right and how a response is scored."""

Response = str | float | Collection[str]
"""A learner's response: a key (single), keys (multiple), keys in order (order), text, number."""


def _frac(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _num(value: float) -> str:
    # Whole numbers in full (a SIZE of 10240000 bytes, not 1.024e+07); others as short as exact.
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------- question, grade


@dataclass(frozen=True)
class Question:
    """A question as asked: the same object whether written in a lesson or generated from a run.

    ``id`` is stable across edits so progress keeps pointing at it; ``hints`` are revealed one
    at a time, in order.
    """

    id: str
    prompt: str
    answer: Answer
    explanation: Explanation
    hints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.id, "id")
        if not self.prompt.strip():
            raise QuestionError("prompt", "a question needs a prompt")
        for index, hint in enumerate(self.hints):
            if not hint.strip():
                raise QuestionError(f"hints[{index}]", "a hint is empty")

    @property
    def kind(self) -> QuestionKind:
        """Which kind of question this is (from its answer)."""
        return self.answer.kind

    def rule(self) -> str:
        """How a response will be scored, in words."""
        return self.answer.rule()

    def next_hint(self, shown: int) -> str | None:
        """The hint to reveal after ``shown`` hints have been, or None when there is no more."""
        return self.hints[shown] if 0 <= shown < len(self.hints) else None


@dataclass(frozen=True)
class Mark:
    """The verdict on one choice or item of a response, with the points it earned.

    ``note`` is what to show now: the misconception of a picked distractor, the ``why`` of a
    picked right choice. ``position`` and ``expected_position`` (1-based) are set for ordering.
    """

    key: str
    text: str
    verdict: Verdict
    points: Fraction
    note: str = ""
    position: int | None = None
    expected_position: int | None = None


@dataclass(frozen=True)
class _Scored:
    score: Fraction
    marks: tuple[Mark, ...]
    summary: str


@dataclass(frozen=True)
class Grade:
    """Everything a view shows after an answer, and the score progress records.

    ``score`` is in 0..1 (``fraction`` is the same, exact, for showing "2/3"); ``correct`` means
    full marks; ``summary`` says how the score was worked out; ``expected`` states the right
    answer; ``explanation`` is the question's explanation as lines, references last.
    """

    question_id: str
    kind: QuestionKind
    fraction: Fraction
    correct: bool
    summary: str
    expected: str
    rule: str
    marks: tuple[Mark, ...] = ()
    explanation: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The score, 0..1."""
        return float(self.fraction)

    @property
    def misconceptions(self) -> tuple[str, ...]:
        """The misconceptions caught by the distractors the learner picked, in choice order."""
        return tuple(m.note for m in self.marks if m.verdict == Verdict.PICKED_WRONG)


def grade(question: Question, response: Response) -> Grade:
    """Grade ``response`` to ``question``.

    Raises ``ResponseError`` (a sentence for the learner) when the response cannot be graded as
    given, and ``TypeError`` when it is the wrong type for the kind (a program error).
    """
    scored = question.answer.grade(response)  # type: ignore[arg-type]
    return Grade(
        question_id=question.id,
        kind=question.kind,
        fraction=scored.score,
        correct=scored.score == 1,
        summary=scored.summary,
        expected=question.answer.expected(),
        rule=question.answer.rule(),
        marks=scored.marks,
        explanation=question.explanation.lines(),
    )
