"""A lesson or a quiz on a plain prompt: narration, the real transcript, and questions on stdin.

For screen readers, scripts and terminals without the TUI: lines of text and nothing else (no
colour unless asked, no cursor movement), answers read a line at a time, so a script can pipe
them in. ``PlainLesson.lesson()`` runs the lesson's scenario stepped, printing the transcript
(tutor.render.transcript) with the narration where its anchors fire, and asks each in-run
question where it sits: a predict question before the reply it predicts is printed.
``PlainLesson.quiz()`` runs the scenario unshown and asks only the questions. Both bring wrong
answers back once at the end, then print the score and the key points; answers, hints, time
and the finished lesson go to the progress store as they happen.

Answers: a letter for a choice (``b``), letters for several or for an order (``a c``, ``c a
b``, ``cab``), text, a number; ``?`` shows the next hint; ``skip``, or an empty line and
``y``, skips (it comes back at the end, with no points).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import re
import string
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from tutor.learn.engine import LessonEngine, Score, Stop, StopKind
from tutor.learn.lesson import Family, Lesson, QuestionSpec
from tutor.learn.progress import Progress, ProgressCorrupt, ProgressError, ProgressStore
from tutor.learn.questions import (
    Grade,
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    Question,
    QuestionKind,
    ResponseError,
    SingleChoice,
    Verdict,
)
from tutor.trace import Event, SmtpLine

WIDTH = 80
INDENT = "    "
LETTERS = string.ascii_lowercase

_KIND_WORDS = {
    QuestionKind.SINGLE: "one choice",
    QuestionKind.MULTIPLE: "several choices",
    QuestionKind.ORDER: "put in order",
    QuestionKind.TEXT: "type the answer",
    QuestionKind.NUMBER: "a number",
}
_HOW = {
    QuestionKind.SINGLE: "Type the letter of your choice.",
    QuestionKind.MULTIPLE: "Type the letters of every choice you pick, e.g. a c.",
    QuestionKind.ORDER: "Type the letters in the right order, e.g. c a b.",
    QuestionKind.TEXT: "",
    QuestionKind.NUMBER: "",
}
_CONTROLS = "(? shows a hint, skip skips)"
_REPLY_CODE = re.compile(r"\s*([1-5]\d\d)(?:\s.*)?", re.S)


# --------------------------------------------------------------------------- reading answers


class AnswerLines:
    """The learner's lines from a stream (a terminal, or a script's pipe), read off the loop.

    A thread reads the stream because no portable asyncio API reads a console or a pipe on
    every platform (Windows has no add_reader for them), and the world must keep running on
    the loop while the learner thinks. The thread is a daemon, so Ctrl+C never waits for it.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] | None = None
        self._ended = False

    async def line(self) -> str | None:
        """The next line without its line ending; None once the input has ended."""
        if self._ended:
            return None
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._pump, args=(loop, self._queue), name="tutor-answers", daemon=True
            ).start()
        text = await self._queue.get()
        if text is None:
            self._ended = True
        return text

    def _pump(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
        try:
            for raw in iter(self._stream.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, raw.rstrip("\r\n"))
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except (RuntimeError, OSError, ValueError):
            pass  # the loop has closed (the lesson is over) or the stream has gone


# --------------------------------------------------------------------------- progress


class ProgressLog:
    """Writes answers, hints, time and the finish to the progress store as they happen.

    A lesson never stops for its progress file: a corrupt one is moved aside by the store (the
    learner is told where, once) and a fresh one started; one that cannot be written is said
    once, and the lesson goes on unsaved.
    """

    def __init__(
        self, lesson_id: str, store: ProgressStore | None, warn: Callable[[str], None]
    ) -> None:
        self.lesson_id = lesson_id
        self._store = store
        self._warn = warn

    def answer(self, question_id: str, score: float, seconds: float) -> None:
        self._update(lambda p: p.record_answer(self.lesson_id, question_id, score, seconds=seconds))

    def hint(self, question_id: str, shown: int) -> None:
        self._update(lambda p: p.record_hint(self.lesson_id, question_id, shown))

    def finish(self, score: float | None, seconds: float) -> None:
        def change(progress: Progress) -> None:
            progress.add_time(self.lesson_id, seconds)
            if score is not None:
                progress.finish_lesson(self.lesson_id, score)

        self._update(change)

    def _update(self, change: Callable[[Progress], object]) -> None:
        if self._store is None:
            return
        for _ in range(2):  # after a corrupt file was moved aside, the second try starts fresh
            try:
                with self._store.update() as progress:
                    change(progress)
                return
            except ProgressCorrupt as exc:
                self._warn(str(exc))
            except ProgressError as exc:
                self._warn(f"{exc}; this lesson goes on without saving progress")
                self._store = None
                return


# --------------------------------------------------------------------------- presenting


def presented_order(question: Question) -> tuple[str, ...]:
    """The item keys of a put-in-order question in the order shown (lettered a, b, c, ...).

    Scrambled, never already right, and the same every time for the same question, so a
    script (or a test) that pipes answers in knows which letters to send.
    """
    answer = question.answer
    assert isinstance(answer, PutInOrder)
    return answer.scrambled(random.Random(question.id))


def _options(question: Question) -> list[tuple[str, str]]:
    """(key, text) of what the learner picks from, in the order lettered a, b, c, ..."""
    answer = question.answer
    if isinstance(answer, SingleChoice | MultipleChoice):
        return [(c.key, c.text) for c in answer.choices]
    if isinstance(answer, PutInOrder):
        texts = {item.key: item.text for item in answer.items}
        return [(key, texts[key]) for key in presented_order(question)]
    return []


def parse_response(question: Question, typed: str) -> object:
    """A typed line as the response ``grade`` takes; ResponseError with a sentence if not."""
    options = _options(question)
    if not options:
        if isinstance(question.answer, NumberAnswer):
            return question.answer.parse(typed)
        return typed
    keys = [_key_of(options, letter) for letter in _letters(typed)]
    kind = question.kind
    if kind is QuestionKind.SINGLE:
        if len(keys) != 1:
            raise ResponseError("Pick one letter.")
        return keys[0]
    if kind is QuestionKind.MULTIPLE:
        return set(keys)
    return keys


def _letters(typed: str) -> list[str]:
    tokens = [t for t in re.split(r"[\s,;]+", typed.strip().lower()) if t]
    if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isalpha():
        tokens = list(tokens[0])  # "cab" is "c a b"
    return [t.rstrip(").") for t in tokens]


def _key_of(options: list[tuple[str, str]], letter: str) -> str:
    if len(letter) == 1 and letter in LETTERS[: len(options)]:
        return options[LETTERS.index(letter)][0]
    last = LETTERS[len(options) - 1]
    raise ResponseError(f"There is no {letter!r} here: type letters from a to {last}.")


def _wrap(text: str, indent: str = "", first: str | None = None, width: int = WIDTH) -> list[str]:
    """Paragraphs of ``text`` wrapped under ``indent``; ``first`` starts the first line."""
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines += textwrap.wrap(
            " ".join(paragraph.split()),
            width=width,
            initial_indent=indent if lines or first is None else first,
            subsequent_indent=indent,
            break_on_hyphens=False,
        ) or [""]
    return lines


def feedback_lines(question: Question, result: Grade) -> list[str]:
    """What the learner reads right after answering: the verdict in words, then why."""
    if result.summary == "Skipped.":
        head = f"Skipped. The answer: {_expected(question)}."
    elif result.correct:
        head = "Right."
    elif result.fraction > 0:
        head = f"Partly right: {result.summary}"
    else:
        head = "Not right."
    lines = _wrap(head, INDENT)
    letter = {key: LETTERS[i] for i, (key, _) in enumerate(_options(question))}
    if result.summary != "Skipped." and question.kind in (
        QuestionKind.SINGLE,
        QuestionKind.MULTIPLE,
    ):
        for mark in result.marks:
            label = f"{letter[mark.key]}) {mark.text}"
            if mark.verdict is Verdict.PICKED_WRONG:
                lines += _wrap(f"You picked {label}: {mark.note}", INDENT)
            elif mark.verdict is Verdict.MISSED and question.kind is QuestionKind.MULTIPLE:
                lines += _wrap(f"Not picked, but right: {label}", INDENT)
            elif mark.verdict is Verdict.PICKED_RIGHT and mark.note:
                lines += _wrap(f"{label}: {mark.note}", INDENT)
        if not result.correct and question.kind is QuestionKind.SINGLE:
            lines += _wrap(f"The answer: {_expected(question)}.", INDENT)
    elif result.summary != "Skipped." and not result.correct:
        if question.kind is QuestionKind.ORDER:
            if result.fraction == 0:
                lines += _wrap(result.summary, INDENT)
            out = [m.text for m in result.marks if m.verdict is Verdict.OUT_OF_PLACE]
            if out:
                lines += _wrap(f"Out of place: {', '.join(out)}.", INDENT)
            lines += _wrap(f"The right order: {question.answer.expected()}.", INDENT)
        else:
            lines += _wrap(result.summary, INDENT)
    for paragraph in result.explanation:
        lines += _wrap(paragraph, INDENT)
    return lines


def _expected(question: Question) -> str:
    answer = question.answer
    options = _options(question)
    if isinstance(answer, SingleChoice | MultipleChoice):
        right = {c.key for c in answer.choices if c.correct}
        return ", ".join(
            f"{LETTERS[i]}) {text}" for i, (key, text) in enumerate(options) if key in right
        )
    return answer.expected()


# --------------------------------------------------------------------------- the session


@dataclass
class PlainLesson:
    """One lesson followed on a plain prompt; ``lesson()`` or ``quiz()`` runs it to the score."""

    lesson: Lesson
    out: IO[str]
    answers: AnswerLines
    progress: ProgressLog
    interactive: bool = False  # a person at a terminal: pause at narration, no echo of answers
    colour: bool = False
    explain: bool = False
    engine: LessonEngine = field(init=False)
    _number: int = field(default=0, init=False)
    _numbers: dict[str, int] = field(default_factory=dict, init=False)
    _predict_prompts: dict[str, str] = field(default_factory=dict, init=False)
    _predicted: dict[str, str] = field(default_factory=dict, init=False)
    _quiz: bool = field(default=False, init=False)
    _out_of_input: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.engine = LessonEngine(self.lesson)

    # ------------------------------------------------------------------ the two ways

    async def run_lesson(self) -> Score:
        """The scenario's run, stepped and printed, narrated and questioned; then the end."""
        started = time.monotonic()
        self._say(f"Lesson: {self.lesson.title} [{self.lesson.id}]")
        for line in _wrap(self.lesson.summary):
            self._say(line)
        if self.lesson.objectives:
            self._say("You will learn to:")
            for objective in self.lesson.objectives:
                self._say_wrapped(objective, "  - ")
        self._say(_HELP_LINE)
        self._say("")
        await self._follow_run()
        return await self._finish(started, finish_lesson=True)

    async def run_quiz(self) -> Score:
        """Only the questions: the run happens unshown first, so every question has a trace."""
        from tutor.run import open_run

        started = time.monotonic()
        self._quiz = True
        self._say(f"Quiz: {self.lesson.title} [{self.lesson.id}]")
        run = open_run(self.lesson.scenario, what_ifs=self.lesson.what_ifs)
        async with run:
            await run.finish()
        events = list(run.trace.events)
        what_ifs = "".join(f" + {w}" for w in self.lesson.what_ifs)
        self._say(
            f"The scenario {self.lesson.scenario}{what_ifs} has run (unshown: "
            f"{len(events)} events); its questions follow. {_HELP_LINE}"
        )
        for event in events:
            for stop in self.engine.feed(event):
                await self._stop(stop)
        return await self._finish(started, finish_lesson=False)

    # ------------------------------------------------------------------ the run

    async def _follow_run(self) -> None:
        """Step the world one step at a time, printing and asking as its events arrive.

        The world only goes on once everything it has said so far has been shown and every
        question at it answered, so a pause for a question is a pause of the real run.
        """
        from tutor.render.timeline import render_timelines
        from tutor.render.transcript import TranscriptPrinter
        from tutor.run import open_run

        printer = TranscriptPrinter(self.out, color=self.colour, explain=self.explain)
        run = open_run(self.lesson.scenario, what_ifs=self.lesson.what_ifs, stepped=True)
        arrived: deque[Event] = deque()
        moved = asyncio.Event()

        def on_event(event: Event) -> None:
            arrived.append(event)
            moved.set()

        run.trace.subscribe(on_event)
        run.on_wait = lambda step: moved.set()

        async def world() -> None:
            await run.start()
            await run.finish()

        task = asyncio.get_running_loop().create_task(world(), name="lesson-world")
        try:
            while True:
                moved.clear()
                if arrived:
                    event = arrived.popleft()
                    printer(event)
                    for stop in self.engine.feed(event):
                        await self._stop(stop)
                    continue
                if task.done():
                    break
                run.release()  # False (and harmless) when the world is busy, not waiting
                await _first_of(moved, task)
            task.result()  # a world that failed says so here, after what it did was shown
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await run.stop()
        printer.close()
        for line in render_timelines(run.trace.events):
            self._say(line)

    async def _stop(self, stop: Stop) -> None:
        if stop.kind is StopKind.NARRATION:
            if self._quiz or stop.narration is None:
                return
            self._say("")
            self._say_wrapped(stop.narration.text, "[lesson]  ")
            if self.interactive and not self._out_of_input:
                self._say("(Enter to go on)")
                if await self.answers.line() is None:
                    self._out_of_input = True
            self._say("")
            return
        if stop.kind is StopKind.QUESTION and stop.spec is not None:
            if stop.spec.family is Family.PREDICT:
                await self._predict(stop.spec, stop.event)
            elif stop.question is not None:
                await self._ask(stop.question)
            return
        if stop.kind is StopKind.PREDICTION and stop.question is not None and stop.grade:
            self._show_prediction(stop)

    # ------------------------------------------------------------------ asking

    async def _ask(self, question: Question, *, again: bool = False) -> Grade:
        number = self._numbered(question.id)
        kind = _KIND_WORDS[question.kind]
        if question.id in self._predict_prompts:  # a prediction, back now that the reply is known
            question = dataclasses.replace(question, prompt=self._predict_prompts[question.id])
            kind = "the reply code"
        self._say("")
        self._say(f"[question {number}{' again' if again else ''}: {kind}]")
        self._say_wrapped(question.prompt, INDENT)
        for i, (_, text) in enumerate(_options(question)):
            self._say_wrapped(text, f"{INDENT}{LETTERS[i]}) ")
        how = " ".join(filter(None, (question.rule(), _HOW[question.kind], _CONTROLS)))
        self._say_wrapped(how, INDENT)
        started = time.monotonic()
        hints = 0
        while True:
            typed = await self._read()
            if typed is None or typed.lower() == "skip":
                result = self.engine.skip(question)
                break
            if typed == "?":
                hints = self._hint(question.id, question.hints, hints)
                continue
            if not typed:
                if await self._confirm_skip():
                    result = self.engine.skip(question)
                    break
                continue
            try:
                result = self.engine.answer(question, parse_response(question, typed))
            except ResponseError as problem:
                self._say_wrapped(str(problem), INDENT)
                continue
            self.progress.answer(question.id, result.score, time.monotonic() - started)
            break
        for line in feedback_lines(question, result):
            self._say(line)
        return result

    async def _predict(self, spec: QuestionSpec, event: Event | None) -> None:
        """Ask for the reply code before the reply is shown (in a quiz: the run is over)."""
        number = self._numbered(spec.id)
        if self._quiz and isinstance(event, SmtpLine):
            prompt = (
                f"{event.sender} sends `{event.text}` to {event.receiver}. What will the "
                "server answer to it?"
            )
        else:
            prompt = spec.prompt
        self._predict_prompts[spec.id] = prompt
        self._say("")
        self._say(f"[question {number}: predict the reply]")
        self._say_wrapped(prompt, INDENT)
        self._say_wrapped(f"Type the reply code you expect, e.g. 250. {_CONTROLS}", INDENT)
        hints = 0
        while True:
            typed = await self._read()
            if typed is None or typed.lower() == "skip":
                code = ""
                break
            if typed == "?":
                hints = self._hint(spec.id, spec.hints, hints)
                continue
            if not typed:
                if await self._confirm_skip():
                    code = ""
                    break
                continue
            match = _REPLY_CODE.fullmatch(typed)
            if match is None:
                self._say_wrapped(
                    "A reply code is three digits, from 1xx to 5xx: e.g. 250.", INDENT
                )
                continue
            code = match.group(1)
            break
        self._predicted[spec.id] = code
        self.engine.predict(spec.id, code)
        if code and not self._quiz:
            self._say(f"{INDENT}You predict {code}. The real reply:")

    def _show_prediction(self, stop: Stop) -> None:
        assert stop.question is not None and stop.grade is not None
        code = self._predicted.get(stop.question.id, "")
        result = stop.grade
        if not code:
            head = "Skipped."
        elif result.correct:
            head = f"Right: you predicted {code}."
        else:
            head = f"Not right: you predicted {code}, the server answered {result.expected}."
        self._say("")
        self._say_wrapped(head, INDENT)
        for paragraph in result.explanation:
            self._say_wrapped(paragraph, INDENT)
        if code:
            self.progress.answer(stop.question.id, result.score, 0.0)

    def _numbered(self, question_id: str) -> int:
        """The question's number, the same when it comes back at the end."""
        if question_id not in self._numbers:
            self._number += 1
            self._numbers[question_id] = self._number
        return self._numbers[question_id]

    def _hint(self, question_id: str, hints: Sequence[str], shown: int) -> int:
        if shown >= len(hints):
            self._say(
                f"{INDENT}No more hints." if hints else f"{INDENT}This question has no hints."
            )
            return shown
        self._say_wrapped(f"Hint {shown + 1} of {len(hints)}: {hints[shown]}", INDENT)
        self.progress.hint(question_id, shown + 1)
        return shown + 1

    async def _confirm_skip(self) -> bool:
        self._say(f"{INDENT}Skip this question? Type y to skip, anything else to answer.")
        reply = await self._read("skip? ")
        return reply is None or reply.lower() in ("y", "yes")

    async def _read(self, prompt: str = "answer> ") -> str | None:
        if self._out_of_input:
            return None
        self.out.write(prompt)
        self.out.flush()
        typed = await self.answers.line()
        if typed is None:
            self._out_of_input = True
            self._say("")
            self._say("(no more input: the remaining questions are skipped)")
            return None
        if not self.interactive:
            self.out.write(typed + "\n")  # a piped answer shows in the output, as if typed
        return typed.strip()

    # ------------------------------------------------------------------ the end

    async def _finish(self, started: float, *, finish_lesson: bool) -> Score:
        for question in self.engine.end_questions():
            await self._ask(question)
        again = self.engine.again()
        if again:
            self._say("")
            self._say_wrapped(
                f"Once more: the {len(again)} question{'s' if len(again) > 1 else ''} not "
                "answered right the first time (the first answer is the one that scores).",
                "",
            )
            for question in again:
                await self._ask(question, again=True)
        score = self.engine.score
        self._say("")
        if score.asked:
            self._say(
                f"[score]   {_points(score.points)} of {score.asked} points "
                f"({round(score.fraction * 100)}%)"
            )
        else:
            self._say("[score]   no questions were asked")
        if self.engine.skipped:
            self._say_wrapped(
                f"Not asked, because this run has nothing for them to ask about: "
                f"{', '.join(self.engine.skipped)}.",
                INDENT,
            )
        self._say("Key points:")
        for point in self.lesson.key_points:
            self._say_wrapped(point, "  - ")
        if self.lesson.what_if is not None and not self._quiz:
            self._say("")
            self._say_wrapped(
                f"{self.lesson.what_if.text} (smtp-tutor run {self.lesson.scenario} --plain "
                f"--what-if {self.lesson.what_if.key})",
                "[what if] ",
            )
        fraction = score.fraction if score.asked else 1.0
        self.progress.finish(fraction if finish_lesson else None, time.monotonic() - started)
        return score

    # ------------------------------------------------------------------ output

    def _say(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
        except UnicodeEncodeError:  # a console without UTF-8: degrade glyphs, keep the text
            encoding = getattr(self.out, "encoding", None) or "ascii"
            self.out.write(line.encode(encoding, "replace").decode(encoding) + "\n")
        self.out.flush()

    def _say_wrapped(self, text: str, first: str) -> None:
        """``text`` wrapped, its first line starting with ``first`` and the rest under it."""
        for line in _wrap(text, " " * len(first), first):
            self._say(line)


_HELP_LINE = "Answer each question on a line: ? shows a hint, skip skips it."


def _points(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


async def _first_of(moved: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(moved.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


__all__ = [
    "AnswerLines",
    "PlainLesson",
    "ProgressLog",
    "feedback_lines",
    "parse_response",
    "presented_order",
]
