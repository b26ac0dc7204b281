"""The per-user progress store: what a learner has done, kept safe across restarts and crashes.

Where: ``progress.json`` in the platform's per-user data directory (platformdirs:
``~/.local/share/smtp-tutor`` on Linux, ``~/Library/Application Support/smtp-tutor`` on macOS,
``%LOCALAPPDATA%\\smtp-tutor`` on Windows). The environment variable ``SMTP_TUTOR_DATA_DIR``
overrides the directory: on a shared classroom box, for a second learner on one account, in
tests.

What: keyed by stable ids (a lesson's id, a question's id within its lesson, a lab's id) so
progress survives edits to the wording: lessons done and their best score, where in a lesson
the learner stopped (an opaque narration anchor), each question's attempts, best score, hints
used and time, and each lab's checks (passed, requirements passed / total, when). Labs record
here too, so one export hands a teacher quizzes and labs in one table.

How it stays safe:

- Every change is a read-modify-write under a lock file (``flock`` on POSIX, ``msvcrt`` on
  Windows), so the lesson screen and a ``lab check`` in another terminal never lose each
  other's updates.
- The file is written to a temporary file in the same directory, fsync'ed, renamed over the
  old one with ``os.replace`` and the directory fsync'ed: a reader, or the next start after a
  kill -9 or a power cut, sees the whole old state or the whole new one, never a torn file.
- A file that cannot be read is never overwritten and never silently dropped: it is moved to
  a timestamped backup next to it and ``ProgressCorrupt`` says where, so the caller can tell
  the learner in one line. A file from a newer smtp-tutor is left alone (``ProgressTooNew``).

Counts (attempts, finishes, lab checks, seconds) are kept per *origin*, one id per progress
file, so importing an export from another machine adds what was done there, and importing the
same export twice, or moving A -> B -> A, never counts anything twice (a grow-only counter).
A file copied (or synced) to another place starts a new origin there, so two copies in use
still add up. Best scores and hints used are maxima; "done" and "passed" only become true.

CSV export has one row per student x item (columns ``CSV_COLUMNS``): ``kind`` is lesson,
question or lab; a question's id is ``lesson/question``; ``done`` is yes when a lesson was
finished, a question answered, a lab passed. Every export has the same header, so a class's
files concatenate into one table (``export_csv(header=False)`` for all but the first).
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import hashlib
import io
import json
import math
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs

from tutor.errors import UserError
from tutor.learn.questions import ID_PATTERN

APP_NAME = "smtp-tutor"
DATA_DIR_ENV = "SMTP_TUTOR_DATA_DIR"
FILE_NAME = "progress.json"
PROGRESS_FORMAT = "smtp-tutor-progress"
PROGRESS_VERSION = 1
CSV_COLUMNS = ("student", "kind", "id", "score", "attempts", "done", "hints", "seconds", "last")

_TMP_SUFFIX = ".tmp"


def data_dir() -> Path:
    """The directory progress lives in: ``$SMTP_TUTOR_DATA_DIR``, else the platform's."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def default_path() -> Path:
    """The progress file of the current user."""
    return data_dir() / FILE_NAME


class ItemKind(StrEnum):
    """What a row of an export is about."""

    LESSON = "lesson"
    QUESTION = "question"
    LAB = "lab"


# --------------------------------------------------------------------------- errors


class ProgressError(UserError):
    """A progress problem the caller shows as one line; ``str()`` is that line.

    A ``UserError``, so one that no screen catches still reaches the edge as one line, exit 2.
    """


class ProgressCorrupt(ProgressError):
    """The progress file could not be read; it has been moved to ``backup`` (kept, not lost).

    The next load starts afresh; the caller tells the learner where the old file went.
    """

    def __init__(self, path: Path, backup: Path, reason: str) -> None:
        super().__init__(
            f"progress file {path} could not be read ({reason}); it was moved to {backup} and "
            "a fresh one will be started"
        )
        self.path = path
        self.backup = backup
        self.reason = reason


class ProgressTooNew(ProgressError):
    """The progress file was written by a newer smtp-tutor; it is left untouched."""

    def __init__(self, path: Path, version: int) -> None:
        super().__init__(
            f"progress file {path} was written by a newer smtp-tutor (format {version}; this one "
            f"reads {PROGRESS_VERSION}): upgrade smtp-tutor, or set {DATA_DIR_ENV} to use "
            "another directory"
        )
        self.path = path
        self.version = version


class ProgressWriteError(ProgressError):
    """Progress could not be saved (a full disk, no permission); the old file is intact."""


class ProgressImportError(ProgressError):
    """An export to import is not a readable smtp-tutor progress export."""


class MalformedProgress(ValueError):
    """A progress document (a file or an export) that is not what it should be.

    The message names the field, e.g. ``lessons.hello.questions.q1.best_score is above 1``;
    the store turns it into ``ProgressCorrupt`` or ``ProgressImportError``.
    """


# --------------------------------------------------------------------------- records


@dataclass
class Tally:
    """A total kept per origin (one per progress file), so merging never counts twice.

    Each file only ever adds to its own origin's entry; a merge takes, per origin, the larger
    entry (both are the same counter, one possibly older), and the total is their sum.
    """

    by_origin: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """The sum over every origin."""
        return sum(self.by_origin.values())

    def add(self, origin: str, amount: float) -> None:
        """Count ``amount`` more for ``origin``."""
        self.by_origin[origin] = self.by_origin.get(origin, 0) + amount

    def merge(self, other: Tally) -> None:
        """Take in another copy of this tally."""
        for origin, value in other.by_origin.items():
            self.by_origin[origin] = max(self.by_origin.get(origin, 0), value)


@dataclass
class QuestionProgress:
    """One question's record: attempts, best score (None before the first answer), hints, time."""

    attempts: Tally = field(default_factory=Tally)
    best_score: float | None = None
    hints_used: int = 0
    seconds: Tally = field(default_factory=Tally)
    last_answered: datetime | None = None

    @property
    def answered(self) -> bool:
        """Whether it has been answered at least once."""
        return self.attempts.total > 0

    def merge(self, other: QuestionProgress) -> None:
        """Take in another copy of this record."""
        self.attempts.merge(other.attempts)
        self.seconds.merge(other.seconds)
        self.best_score = _max_opt(self.best_score, other.best_score)
        self.hints_used = max(self.hints_used, other.hints_used)
        self.last_answered = _max_opt(self.last_answered, other.last_answered)


@dataclass
class LessonProgress:
    """One lesson's record: done, best score, where the learner stopped, time, its questions."""

    done: bool = False
    best_score: float | None = None
    finished_at: datetime | None = None  # the first time it was finished
    finishes: Tally = field(default_factory=Tally)
    position: str = ""  # an opaque narration anchor; "" for the start
    position_at: datetime | None = None
    seconds: Tally = field(default_factory=Tally)
    questions: dict[str, QuestionProgress] = field(default_factory=dict)

    @property
    def last_activity(self) -> datetime | None:
        """The latest moment anything happened in this lesson."""
        moments = [self.position_at, self.finished_at]
        moments += [q.last_answered for q in self.questions.values()]
        return max((m for m in moments if m is not None), default=None)

    def merge(self, other: LessonProgress) -> None:
        """Take in another copy of this record; the more recent position wins."""
        self.done = self.done or other.done
        self.best_score = _max_opt(self.best_score, other.best_score)
        self.finished_at = _min_opt(self.finished_at, other.finished_at)
        self.finishes.merge(other.finishes)
        self.seconds.merge(other.seconds)
        if other.position_at is not None and (
            self.position_at is None or other.position_at > self.position_at
        ):
            self.position, self.position_at = other.position, other.position_at
        for qid, theirs in other.questions.items():
            self.questions.setdefault(qid, QuestionProgress()).merge(theirs)


@dataclass
class LabProgress:
    """One lab's record: checks run, whether it ever passed, the best check, hints, time."""

    checks: Tally = field(default_factory=Tally)
    passed: bool = False
    first_passed: datetime | None = None
    requirements_passed: int = 0  # of the best check
    requirements_total: int = 0
    hints_used: int = 0
    seconds: Tally = field(default_factory=Tally)
    last_checked: datetime | None = None

    @property
    def best_score(self) -> float | None:
        """Requirements passed over total in the best check; None before any check."""
        if not self.requirements_total:
            return None
        return self.requirements_passed / self.requirements_total

    def merge(self, other: LabProgress) -> None:
        """Take in another copy of this record."""
        self.checks.merge(other.checks)
        self.seconds.merge(other.seconds)
        self.passed = self.passed or other.passed
        self.first_passed = _min_opt(self.first_passed, other.first_passed)
        if (other.best_score or 0) > (self.best_score or 0) or not self.requirements_total:
            self.requirements_passed = other.requirements_passed
            self.requirements_total = other.requirements_total
        self.hints_used = max(self.hints_used, other.hints_used)
        self.last_checked = _max_opt(self.last_checked, other.last_checked)


def _max_opt(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _min_opt(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _new_origin() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime | None) -> datetime:
    # A naive time is taken as UTC, so every stored moment compares with every other.
    if when is None:
        return _now()
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a stable id")


def _check_score(score: float) -> float:
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise TypeError("a score is a number from 0 to 1")
    if not (math.isfinite(score) and 0 <= score <= 1):
        raise ValueError(f"a score is from 0 to 1, not {score}")
    return float(score)


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"a count of hints is a whole number, 0 or more, not {count!r}")


def _check_seconds(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"time spent is 0 seconds or more, not {seconds}")
    return float(seconds)


# --------------------------------------------------------------------------- the document


@dataclass
class Progress:
    """One learner's progress, in memory. Pure: no files; ``ProgressStore`` persists it.

    ``origin`` identifies the progress file this copy belongs to; counts added here are
    counted under it. Methods that take ``when`` default to now (UTC).
    """

    origin: str = field(default_factory=_new_origin)
    lessons: dict[str, LessonProgress] = field(default_factory=dict)
    labs: dict[str, LabProgress] = field(default_factory=dict)

    def _lesson(self, lesson_id: str) -> LessonProgress:
        _check_id(lesson_id, "lesson id")
        return self.lessons.setdefault(lesson_id, LessonProgress())

    def _question(self, lesson_id: str, question_id: str) -> QuestionProgress:
        _check_id(question_id, "question id")
        return self._lesson(lesson_id).questions.setdefault(question_id, QuestionProgress())

    def _lab(self, lab_id: str) -> LabProgress:
        _check_id(lab_id, "lab id")
        return self.labs.setdefault(lab_id, LabProgress())

    def record_answer(
        self,
        lesson_id: str,
        question_id: str,
        score: float,
        *,
        seconds: float = 0.0,
        when: datetime | None = None,
    ) -> QuestionProgress:
        """Count one answer to a question with its score (0..1) and the time it took."""
        score = _check_score(score)
        record = self._question(lesson_id, question_id)
        record.attempts.add(self.origin, 1)
        record.seconds.add(self.origin, _check_seconds(seconds))
        record.best_score = _max_opt(record.best_score, score)
        record.last_answered = _stamp(when)
        return record

    def record_hint(self, lesson_id: str, question_id: str, shown: int) -> QuestionProgress:
        """Note that ``shown`` hints of a question are now revealed (the most ever is kept)."""
        _check_count(shown)
        record = self._question(lesson_id, question_id)
        record.hints_used = max(record.hints_used, shown)
        return record

    def set_position(self, lesson_id: str, anchor: str, *, when: datetime | None = None) -> None:
        """Remember where in a lesson the learner is, to continue there."""
        record = self._lesson(lesson_id)
        record.position, record.position_at = anchor, _stamp(when)

    def add_time(self, lesson_id: str, seconds: float) -> None:
        """Add time spent in a lesson."""
        self._lesson(lesson_id).seconds.add(self.origin, _check_seconds(seconds))

    def finish_lesson(
        self, lesson_id: str, score: float, *, when: datetime | None = None
    ) -> LessonProgress:
        """Mark a lesson done with the score it ended with (the best is kept)."""
        score = _check_score(score)
        record = self._lesson(lesson_id)
        record.done = True
        record.best_score = _max_opt(record.best_score, score)
        record.finished_at = _min_opt(record.finished_at, _stamp(when))
        record.finishes.add(self.origin, 1)
        return record

    def record_lab(
        self,
        lab_id: str,
        *,
        passed: bool,
        requirements_passed: int,
        requirements_total: int,
        seconds: float = 0.0,
        when: datetime | None = None,
    ) -> LabProgress:
        """Count one ``lab check`` and its result; a lab once passed stays passed."""
        if not 0 <= requirements_passed <= requirements_total or requirements_total < 1:
            raise ValueError(
                f"requirements passed/total {requirements_passed}/{requirements_total} is "
                "not a count of a lab's requirements"
            )
        moment = _stamp(when)
        record = self._lab(lab_id)
        record.checks.add(self.origin, 1)
        record.seconds.add(self.origin, _check_seconds(seconds))
        if passed:
            record.passed = True
            record.first_passed = _min_opt(record.first_passed, moment)
        best = record.best_score
        if best is None or requirements_passed / requirements_total > best:
            record.requirements_passed = requirements_passed
            record.requirements_total = requirements_total
        record.last_checked = moment
        return record

    def record_lab_hint(self, lab_id: str, shown: int) -> LabProgress:
        """Note that ``shown`` hints of a lab are now revealed (the most ever is kept)."""
        _check_count(shown)
        record = self._lab(lab_id)
        record.hints_used = max(record.hints_used, shown)
        return record

    def reset_lesson(self, lesson_id: str) -> bool:
        """Forget one lesson and its questions; whether there was anything to forget."""
        return self.lessons.pop(lesson_id, None) is not None

    def merge(self, other: Progress) -> None:
        """Take in another learner copy (an export): best scores, every origin's counts."""
        for lesson_id, theirs in other.lessons.items():
            self.lessons.setdefault(lesson_id, LessonProgress()).merge(theirs)
        for lab_id, lab in other.labs.items():
            self.labs.setdefault(lab_id, LabProgress()).merge(lab)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The document as written to disk (and in exports)."""
        return {
            "format": PROGRESS_FORMAT,
            "version": PROGRESS_VERSION,
            "origin": self.origin,
            "lessons": {k: _lesson_json(v) for k, v in sorted(self.lessons.items())},
            "labs": {k: _lab_json(v) for k, v in sorted(self.labs.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> Progress:
        """Read a document; raises ``MalformedProgress`` naming the field that is wrong.

        The version is checked by the caller, who knows what to do about a newer one.
        """
        top = _obj(data, "the document")
        if top.get("format") != PROGRESS_FORMAT:
            raise MalformedProgress(f'"format" is not "{PROGRESS_FORMAT}"')
        origin = top.get("origin")
        if not isinstance(origin, str) or not origin:
            raise MalformedProgress('"origin" is missing')
        lessons = {
            _key(k, "lessons"): _read_lesson(v, f"lessons.{k}")
            for k, v in _obj(top.get("lessons", {}), "lessons").items()
        }
        labs = {
            _key(k, "labs"): _read_lab(v, f"labs.{k}")
            for k, v in _obj(top.get("labs", {}), "labs").items()
        }
        return cls(origin=origin, lessons=lessons, labs=labs)

    # ------------------------------------------------------------------ a class table

    def rows(self, student: str) -> list[dict[str, str]]:
        """One row per item (each lesson, then its questions; then labs), keyed by CSV_COLUMNS."""
        rows = []
        for lesson_id, lesson in sorted(self.lessons.items()):
            hints = sum(q.hints_used for q in lesson.questions.values())
            rows.append(
                _row(
                    student,
                    ItemKind.LESSON,
                    lesson_id,
                    lesson.best_score,
                    lesson.finishes.total,
                    lesson.done,
                    hints,
                    lesson.seconds.total,
                    lesson.last_activity,
                )
            )
            for qid, q in sorted(lesson.questions.items()):
                rows.append(
                    _row(
                        student,
                        ItemKind.QUESTION,
                        f"{lesson_id}/{qid}",
                        q.best_score,
                        q.attempts.total,
                        q.answered,
                        q.hints_used,
                        q.seconds.total,
                        q.last_answered,
                    )
                )
        for lab_id, lab in sorted(self.labs.items()):
            rows.append(
                _row(
                    student,
                    ItemKind.LAB,
                    lab_id,
                    lab.best_score,
                    lab.checks.total,
                    lab.passed,
                    lab.hints_used,
                    lab.seconds.total,
                    lab.last_checked,
                )
            )
        return rows


def _row(
    student: str,
    kind: ItemKind,
    item_id: str,
    score: float | None,
    attempts: float,
    done: bool,
    hints: int,
    seconds: float,
    last: datetime | None,
) -> dict[str, str]:
    values = (
        student,
        str(kind),
        item_id,
        "" if score is None else f"{score:.3f}",
        str(round(attempts)),
        "yes" if done else "no",
        str(hints),
        str(round(seconds)),
        _iso(last) or "",
    )
    return dict(zip(CSV_COLUMNS, values, strict=True))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _question_json(q: QuestionProgress) -> dict[str, Any]:
    return {
        "attempts": q.attempts.by_origin,
        "best_score": q.best_score,
        "hints_used": q.hints_used,
        "seconds": q.seconds.by_origin,
        "last_answered": _iso(q.last_answered),
    }


def _lesson_json(lesson: LessonProgress) -> dict[str, Any]:
    return {
        "done": lesson.done,
        "best_score": lesson.best_score,
        "finished_at": _iso(lesson.finished_at),
        "finishes": lesson.finishes.by_origin,
        "position": lesson.position,
        "position_at": _iso(lesson.position_at),
        "seconds": lesson.seconds.by_origin,
        "questions": {k: _question_json(v) for k, v in sorted(lesson.questions.items())},
    }


def _lab_json(lab: LabProgress) -> dict[str, Any]:
    return {
        "checks": lab.checks.by_origin,
        "passed": lab.passed,
        "first_passed": _iso(lab.first_passed),
        "requirements_passed": lab.requirements_passed,
        "requirements_total": lab.requirements_total,
        "hints_used": lab.hints_used,
        "seconds": lab.seconds.by_origin,
        "last_checked": _iso(lab.last_checked),
    }


# Readers for each field: strict, because a silently misread file is silent loss.


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedProgress(f"{where} is not an object")
    return value


def _key(value: str, where: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise MalformedProgress(f"{where}: {value!r} is not a stable id")
    return value


def _number(value: Any, where: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedProgress(f"{where} is not a number")
    if value < 0:
        raise MalformedProgress(f"{where} is negative")
    return value


def _score(value: Any, where: str) -> float | None:
    score = _number(value, where, optional=True)
    if score is not None and score > 1:
        raise MalformedProgress(f"{where} is above 1")
    return None if score is None else float(score)


def _count(value: Any, where: str) -> int:
    number = _number(value, where)
    if number != int(number):
        raise MalformedProgress(f"{where} is not a whole number")
    return int(number)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedProgress(f"{where} is not true or false")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedProgress(f"{where} is not a string")
    return value


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedProgress(f"{where} is not a time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedProgress(f"{where} is not a time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _tally(value: Any, where: str) -> Tally:
    counts = _obj(value, where)
    return Tally({_text(k, where): float(_number(v, f"{where}.{k}")) for k, v in counts.items()})


def _read_question(value: Any, where: str) -> QuestionProgress:
    data = _obj(value, where)
    return QuestionProgress(
        attempts=_tally(data.get("attempts", {}), f"{where}.attempts"),
        best_score=_score(data.get("best_score"), f"{where}.best_score"),
        hints_used=_count(data.get("hints_used", 0), f"{where}.hints_used"),
        seconds=_tally(data.get("seconds", {}), f"{where}.seconds"),
        last_answered=_moment(data.get("last_answered"), f"{where}.last_answered"),
    )


def _read_lesson(value: Any, where: str) -> LessonProgress:
    data = _obj(value, where)
    questions = _obj(data.get("questions", {}), f"{where}.questions")
    return LessonProgress(
        done=_bool(data.get("done", False), f"{where}.done"),
        best_score=_score(data.get("best_score"), f"{where}.best_score"),
        finished_at=_moment(data.get("finished_at"), f"{where}.finished_at"),
        finishes=_tally(data.get("finishes", {}), f"{where}.finishes"),
        position=_text(data.get("position", ""), f"{where}.position"),
        position_at=_moment(data.get("position_at"), f"{where}.position_at"),
        seconds=_tally(data.get("seconds", {}), f"{where}.seconds"),
        questions={
            _key(k, f"{where}.questions"): _read_question(v, f"{where}.questions.{k}")
            for k, v in questions.items()
        },
    )


def _read_lab(value: Any, where: str) -> LabProgress:
    data = _obj(value, where)
    lab = LabProgress(
        checks=_tally(data.get("checks", {}), f"{where}.checks"),
        passed=_bool(data.get("passed", False), f"{where}.passed"),
        first_passed=_moment(data.get("first_passed"), f"{where}.first_passed"),
        requirements_passed=_count(data.get("requirements_passed", 0), f"{where}.passed"),
        requirements_total=_count(data.get("requirements_total", 0), f"{where}.total"),
        hints_used=_count(data.get("hints_used", 0), f"{where}.hints_used"),
        seconds=_tally(data.get("seconds", {}), f"{where}.seconds"),
        last_checked=_moment(data.get("last_checked"), f"{where}.last_checked"),
    )
    if lab.requirements_passed > lab.requirements_total:
        raise MalformedProgress(f"{where}: more requirements passed than there are")
    return lab


def _location(path: Path) -> str:
    """A short fingerprint of where a progress file lives (this host, this path).

    A file found somewhere else than it was written (copied, synced) gets a fresh origin, so
    its new counts never collide with those of the copy it came from. Hashed: an export handed
    to a teacher need not carry host names and home directories.
    """
    where = f"{socket.gethostname()}\0{path.expanduser().resolve()}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _version(data: Any) -> int | None:
    """The document's format version, when it says one (checked before the rest is read)."""
    if isinstance(data, dict) and isinstance(data.get("version"), int):
        return data["version"]
    return None


# --------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable. Windows cannot open a directory; its rename is already
    # as durable as NTFS makes it.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that any reader, even after a crash, sees all or none.

    The temporary file is created in the same directory (``os.replace`` is atomic only within
    one file system) with the owner-only mode ``mkstemp`` gives: progress is personal.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (released by the OS if the holder dies)."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise ProgressWriteError(
            f"progress directory {lock_path.parent} cannot be used: {error.strerror or error}"
        ) from None
    try:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name and no USER/LOGNAME/USERNAME: a container, a service
        return "unknown"


@dataclass(frozen=True)
class ImportSummary:
    """What an import brought in: from whom, and how many items it touched."""

    student: str
    lessons: int
    questions: int
    labs: int


class ProgressStore:
    """One learner's progress file.

    ``load`` reads it (a missing file is a fresh start); ``update`` is the way to change it:
    ``with store.update() as progress: progress.record_answer(...)`` reads, lets you change
    and writes back atomically, under the lock. Nothing is cached between calls, so two
    processes sharing the file always build on each other's writes.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_path()

    @property
    def lock_path(self) -> Path:
        """The lock file next to the progress file."""
        return self.path.with_name(self.path.name + ".lock")

    def load(self) -> Progress:
        """The saved progress, or a fresh one when there is none yet.

        Raises ``ProgressCorrupt`` after moving an unreadable file to a backup (the next load
        starts afresh) and ``ProgressTooNew`` for a newer format (the file is left alone).
        """
        if not self.path.exists():
            return Progress()  # a first start: reading creates nothing on disk
        # Under the lock: a file is only ever moved aside for what it holds now, never for a
        # state another process is replacing; and Windows cannot replace a file being read.
        with _file_lock(self.lock_path):
            return self._read_or_back_up()

    def save(self, progress: Progress) -> None:
        """Write ``progress`` over the file, atomically (prefer ``update``, which also reads)."""
        with _file_lock(self.lock_path):
            self._write(progress)

    @contextlib.contextmanager
    def update(self) -> Iterator[Progress]:
        """Read, let the caller change, write back; all under the lock.

        If the block raises, nothing is written. Raises what ``load`` raises; after a
        ``ProgressCorrupt`` the change was not applied, and a retry starts from a fresh file.
        """
        with _file_lock(self.lock_path):
            progress = self._read_or_back_up()
            yield progress
            self._write(progress)

    def reset_lesson(self, lesson_id: str) -> bool:
        """Forget one lesson's progress; whether there was any."""
        with self.update() as progress:
            return progress.reset_lesson(lesson_id)

    def reset_all(self) -> Path | None:
        """Forget everything; the old file is kept as a timestamped backup, returned (or None)."""
        with _file_lock(self.lock_path):
            if not self.path.exists():
                return None
            backup = self._backup_path("reset")
            try:
                os.replace(self.path, backup)
            except OSError as error:
                raise ProgressWriteError(
                    f"progress file {self.path} could not be reset: {error.strerror or error}"
                ) from None
            _fsync_dir(self.path.parent)
            return backup

    def export_json(self, student: str | None = None) -> str:
        """The whole progress as a JSON export, named for ``student`` (default: the OS user)."""
        document = self.load().to_json()
        document["student"] = student or _os_user()
        document["exported_at"] = _iso(_now())
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def export_csv(self, student: str | None = None, *, header: bool = True) -> str:
        """One CSV row per item for ``student`` (default: the OS user), header first if asked."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        if header:
            writer.writeheader()
        writer.writerows(self.load().rows(student or _os_user()))
        return out.getvalue()

    def import_json(self, text: str, *, source: str = "the export") -> ImportSummary:
        """Merge a JSON export into this progress: best scores kept, other machines' counts added.

        Importing the same export again changes nothing. Raises ``ProgressImportError``
        naming ``source`` when it is not a readable export.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ProgressImportError(f"{source} is not JSON ({error})") from None
        version = _version(data)
        if version is not None and version > PROGRESS_VERSION:
            raise ProgressImportError(
                f"{source} was exported by a newer smtp-tutor (format {version}); upgrade first"
            )
        try:
            theirs = Progress.from_json(data)
            if version is None:
                raise MalformedProgress('"version" is missing')
        except MalformedProgress as error:
            raise ProgressImportError(f"{source} is not a progress export: {error}") from None
        with self.update() as progress:
            progress.merge(theirs)
        student = data.get("student") if isinstance(data.get("student"), str) else ""
        return ImportSummary(
            student=student,
            lessons=len(theirs.lessons),
            questions=sum(len(lesson.questions) for lesson in theirs.lessons.values()),
            labs=len(theirs.labs),
        )

    # ------------------------------------------------------------------ internals

    def _read(self) -> Progress:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Progress()
        except OSError as error:
            raise ProgressError(f"progress file {self.path} cannot be read: {error}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedProgress("it is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            reason = "it is empty" if not raw.strip() else f"line {error.lineno}: {error.msg}"
            raise MalformedProgress(reason) from None
        version = _version(_obj(data, "the document"))
        if version is not None and version > PROGRESS_VERSION:
            raise ProgressTooNew(self.path, version)
        progress = Progress.from_json(data)
        if version is None:
            raise MalformedProgress('"version" is missing')
        if data.get("location") != _location(self.path):
            progress.origin = _new_origin()  # a copy: count on under an origin of its own
        return progress

    def _read_or_back_up(self) -> Progress:
        try:
            return self._read()
        except MalformedProgress as error:
            backup = self._backup_path("corrupt")
            try:
                os.replace(self.path, backup)
            except OSError as failure:
                raise ProgressError(
                    f"progress file {self.path} could not be read ({error}) nor moved aside "
                    f"({failure.strerror or failure}); nothing was changed"
                ) from None
            _fsync_dir(self.path.parent)
            raise ProgressCorrupt(self.path, backup, str(error)) from None

    def _write(self, progress: Progress) -> None:
        self._remove_stale_temporaries()
        document = progress.to_json()
        document["location"] = _location(self.path)
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        try:
            write_atomically(self.path, text)
        except OSError as error:
            raise ProgressWriteError(
                f"progress could not be saved to {self.path}: {error.strerror or error}"
            ) from None

    def _remove_stale_temporaries(self) -> None:
        # Called under the lock, so any temporary file is one a writer left behind when it died
        # mid-write: the old file is intact and the half-written one is of no use.
        if not self.path.parent.is_dir():
            return
        for leftover in self.path.parent.glob(f".{self.path.name}.*{_TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _backup_path(self, why: str) -> Path:
        stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        candidate = self.path.with_name(f"{self.path.name}.{why}-{stamp}")
        n = 2
        while candidate.exists():
            candidate = self.path.with_name(f"{self.path.name}.{why}-{stamp}-{n}")
            n += 1
        return candidate
