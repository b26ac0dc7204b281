"""The progress store keeps a learner's work across restarts, crashes, machines and classes."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import platformdirs
import pytest

from tutor.errors import UserError
from tutor.learn.progress import (
    CSV_COLUMNS,
    DATA_DIR_ENV,
    FILE_NAME,
    MalformedProgress,
    Progress,
    ProgressCorrupt,
    ProgressError,
    ProgressImportError,
    ProgressStore,
    ProgressTooNew,
    ProgressWriteError,
    data_dir,
    default_path,
)

WORKER = Path(__file__).with_name("progress_crash_worker.py")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> ProgressStore:
    return ProgressStore(tmp_path / "data" / FILE_NAME)


def some_progress(store: ProgressStore) -> None:
    """A learner who did part of lesson one, all of lesson two and one lab."""
    with store.update() as progress:
        progress.record_answer("journey", "mx-first", 0.5, seconds=20, when=T0)
        progress.record_answer("journey", "mx-first", 1.0, seconds=10, when=T0 + timedelta(1))
        progress.record_hint("journey", "mx-first", 2)
        progress.record_answer("journey", "order", 0.6, seconds=30, when=T0)
        progress.set_position("journey", "rcpt:bob", when=T0)
        progress.add_time("journey", 300)
        progress.record_answer("starttls", "why-ehlo", 1.0, seconds=5, when=T0)
        progress.finish_lesson("starttls", 0.9, when=T0)
        progress.record_lab(
            "spf", passed=False, requirements_passed=1, requirements_total=3, when=T0
        )


# --------------------------------------------------------------------------- where


def test_the_environment_variable_overrides_the_data_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "shared-box" / "alice"))
    assert data_dir() == tmp_path / "shared-box" / "alice"
    assert default_path() == tmp_path / "shared-box" / "alice" / "progress.json"
    assert ProgressStore().path == default_path()


def test_without_the_variable_progress_lives_in_the_platform_data_directory(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir() == platformdirs.user_data_path("smtp-tutor", appauthor=False)


def test_a_first_start_reads_empty_progress_and_creates_nothing(store):
    progress = store.load()
    assert (progress.lessons, progress.labs) == ({}, {})
    assert not store.path.parent.exists()


# --------------------------------------------------------------------------- written, read back


def test_progress_is_written_and_read_back_by_a_fresh_store(store):
    some_progress(store)
    again = ProgressStore(store.path).load()

    journey = again.lessons["journey"]
    mx = journey.questions["mx-first"]
    assert (mx.attempts.total, mx.best_score, mx.hints_used, mx.seconds.total) == (2, 1.0, 2, 30)
    assert mx.last_answered == T0 + timedelta(1)
    assert (journey.position, journey.position_at, journey.done) == ("rcpt:bob", T0, False)
    assert journey.seconds.total == 300
    starttls = again.lessons["starttls"]
    assert (starttls.done, starttls.best_score, starttls.finished_at) == (True, 0.9, T0)
    spf = again.labs["spf"]
    assert (spf.passed, spf.requirements_passed, spf.requirements_total) == (False, 1, 3)
    assert spf.last_checked == T0


def test_the_best_score_is_kept_and_every_attempt_counted(store):
    for score in (0.2, 1.0, 0.4):
        with store.update() as progress:
            progress.record_answer("journey", "q1", score)
    q1 = store.load().lessons["journey"].questions["q1"]
    assert (q1.attempts.total, q1.best_score) == (3, 1.0)


def test_hints_used_is_the_most_ever_revealed(store):
    with store.update() as progress:
        progress.record_hint("journey", "q1", 2)
        progress.record_hint("journey", "q1", 1)
    assert store.load().lessons["journey"].questions["q1"].hints_used == 2


def test_a_lab_once_passed_stays_passed_with_its_best_check(store):
    with store.update() as progress:
        progress.record_lab("spf", passed=True, requirements_passed=3, requirements_total=3)
        progress.record_lab("spf", passed=False, requirements_passed=2, requirements_total=3)
    spf = store.load().labs["spf"]
    assert (spf.passed, spf.requirements_passed, spf.checks.total) == (True, 3, 2)
    assert spf.best_score == 1.0
    assert spf.first_passed is not None and spf.last_checked >= spf.first_passed


def test_a_change_that_fails_midway_writes_nothing(store):
    some_progress(store)
    before = store.path.read_bytes()
    with pytest.raises(RuntimeError), store.update() as progress:
        progress.record_answer("journey", "q9", 1.0)
        raise RuntimeError("the UI crashed while recording")
    assert store.path.read_bytes() == before


def test_bad_records_are_refused_before_anything_is_written(store):
    with pytest.raises(ValueError, match="from 0 to 1"), store.update() as progress:
        progress.record_answer("journey", "q1", 1.5)
    with pytest.raises(ValueError, match="stable id"), store.update() as progress:
        progress.record_answer("journey", "a/b", 1.0)
    with pytest.raises(ValueError, match="count of hints"), store.update() as progress:
        progress.record_hint("journey", "q1", -1)
    with pytest.raises(ValueError, match="requirements"), store.update() as progress:
        progress.record_lab("spf", passed=True, requirements_passed=4, requirements_total=3)
    assert not store.path.exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_progress_file_is_readable_by_its_owner_only(store):
    some_progress(store)
    assert store.path.stat().st_mode & 0o077 == 0


def test_two_stores_on_one_file_build_on_each_other(store):
    # The lesson screen and a `lab check` in another terminal hold separate store objects.
    lesson_screen, lab_check = store, ProgressStore(store.path)
    with lesson_screen.update() as progress:
        progress.record_answer("journey", "q1", 1.0)
    with lab_check.update() as progress:
        progress.record_lab("spf", passed=True, requirements_passed=3, requirements_total=3)
    with lesson_screen.update() as progress:
        progress.set_position("journey", "dsn")
    final = store.load()
    assert set(final.lessons) == {"journey"} and set(final.labs) == {"spf"}


def test_two_processes_writing_at_once_lose_no_update(store):
    writers = [
        subprocess.Popen([sys.executable, str(WORKER), str(store.path), "count", "40"])
        for _ in range(2)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    assert store.load().lessons["journey"].questions["q1"].attempts.total == 80


# --------------------------------------------------------------------------- resets


def test_reset_one_lesson_forgets_it_and_its_questions_only(store):
    some_progress(store)
    assert store.reset_lesson("journey") is True
    assert store.reset_lesson("journey") is False
    after = store.load()
    assert set(after.lessons) == {"starttls"} and set(after.labs) == {"spf"}


def test_reset_all_starts_afresh_and_keeps_the_old_file_as_a_backup(store):
    some_progress(store)
    before = store.path.read_bytes()
    backup = store.reset_all()

    assert backup is not None and backup.read_bytes() == before
    assert backup.parent == store.path.parent and ".reset-" in backup.name
    assert store.load().lessons == {}
    assert store.reset_all() is None


# --------------------------------------------------------------------------- crashes


def _assert_whole_state(store: ProgressStore) -> int:
    """The file holds one whole state of the loop worker; returns its step."""
    lesson = store.load().lessons["journey"]
    step = int(lesson.questions["q1"].attempts.total)
    assert lesson.position == f"step-{step}"
    assert lesson.seconds.total == step
    assert all(lesson.questions[f"pad-{i:03d}"].hints_used == step for i in range(300))
    return step


def test_a_writer_killed_at_random_moments_leaves_the_old_or_the_new_state(store):
    rng = random.Random(20250301)
    last_step = 0
    for _ in range(6):
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), str(store.path), "loop"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        while time.monotonic() < deadline:
            _assert_whole_state(store)  # a reader during the writes sees whole states too
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()
        assert worker.returncode == -signal.SIGKILL

        step = _assert_whole_state(store)
        assert step > last_step  # each run wrote at least its first state, nothing went back
        last_step = step


@pytest.mark.parametrize(
    ("mode", "survivor"),
    [("die-in-fsync", 1), ("die-before-replace", 1), ("die-after-replace", 2)],
)
def test_a_writer_killed_at_each_point_of_a_write_leaves_a_whole_state(store, mode, survivor):
    worker = subprocess.run(
        [sys.executable, str(WORKER), str(store.path), mode], check=False, timeout=60
    )
    assert worker.returncode == -signal.SIGKILL

    assert _assert_whole_state(store) == survivor
    # A half-done write may leave its temporary file; the next write clears it away.
    with store.update() as progress:
        progress.add_time("journey", 0)
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- corrupt files


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"format": "smtp-tutor-progress", "version": 1, "lessons": {', "line 1"),
        (b"", "it is empty"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b'["a list"]', "not an object"),
        (b'{"format": "something-else", "version": 1}', '"format"'),
        (
            b'{"format": "smtp-tutor-progress", "version": 1, "origin": "x", "lessons": '
            b'{"journey": {"questions": {"q1": {"best_score": 2}}}}}',
            "lessons.journey.questions.q1.best_score is above 1",
        ),
    ],
)
def test_a_corrupt_file_is_moved_to_a_backup_with_a_clear_error(store, content, reason):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)

    with pytest.raises(ProgressCorrupt) as caught:
        store.load()

    error = caught.value
    assert error.backup.read_bytes() == content  # never silent loss
    assert error.backup.parent == store.path.parent and ".corrupt-" in error.backup.name
    assert reason in error.reason
    message = str(error)
    assert str(store.path) in message and str(error.backup) in message and "\n" not in message
    assert not store.path.exists()
    assert store.load().lessons == {}  # the next start is a fresh one


def test_after_a_corrupt_file_the_learner_carries_on_with_a_fresh_one(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("not json")
    with pytest.raises(ProgressCorrupt), store.update() as progress:
        progress.record_answer("journey", "q1", 1.0)
    with store.update() as progress:
        progress.record_answer("journey", "q1", 1.0)
    assert store.load().lessons["journey"].questions["q1"].best_score == 1.0


def test_two_corruptions_in_one_second_get_two_backups(store):
    store.path.parent.mkdir(parents=True)
    backups = []
    for text in ("first", "second"):
        store.path.write_text(text)
        with pytest.raises(ProgressCorrupt) as caught:
            store.load()
        backups.append(caught.value.backup)
    assert backups[0] != backups[1]
    assert [b.read_text() for b in backups] == ["first", "second"]


def test_a_file_from_a_newer_version_is_left_alone_and_never_overwritten(store):
    store.path.parent.mkdir(parents=True)
    newer = json.dumps({"format": "smtp-tutor-progress", "version": 99, "anything": []})
    store.path.write_text(newer)

    with pytest.raises(ProgressTooNew, match="newer smtp-tutor") as caught:
        store.load()
    assert caught.value.version == 99
    with pytest.raises(ProgressTooNew), store.update() as progress:
        progress.record_answer("journey", "q1", 1.0)
    assert store.path.read_text() == newer
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "progress.json",
        "progress.json.lock",
    ]


def test_a_directory_that_cannot_be_used_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    store = ProgressStore(tmp_path / "a-file" / FILE_NAME)
    with pytest.raises(ProgressWriteError, match="cannot be used"), store.update() as progress:
        progress.add_time("journey", 1)


def test_every_progress_error_is_one_kind_the_edge_can_catch():
    for error in (ProgressCorrupt, ProgressTooNew, ProgressWriteError, ProgressImportError):
        assert issubclass(error, ProgressError)
    assert issubclass(ProgressError, UserError)  # cli.py prints it as one line, exit 2


# --------------------------------------------------------------------------- export, import


def test_json_export_imports_into_an_empty_store_as_the_same_progress(store, tmp_path):
    some_progress(store)
    exported = store.export_json(student="alice")
    other = ProgressStore(tmp_path / "other" / FILE_NAME)

    summary = other.import_json(exported, source="alice.json")

    assert (summary.student, summary.lessons, summary.questions, summary.labs) == (
        "alice",
        2,
        3,
        1,
    )
    assert other.load().rows("alice") == store.load().rows("alice")
    assert json.loads(exported)["student"] == "alice"


def test_importing_the_same_export_twice_counts_nothing_twice(store, tmp_path):
    some_progress(store)
    exported = store.export_json()
    other = ProgressStore(tmp_path / "other" / FILE_NAME)
    other.import_json(exported)
    once = other.load().rows("x")
    other.import_json(exported)
    assert other.load().rows("x") == once


def test_moving_machines_and_back_adds_each_machine_work_once(store, tmp_path):
    laptop, lab_pc = store, ProgressStore(tmp_path / "lab-pc" / FILE_NAME)
    with laptop.update() as progress:
        progress.record_answer("journey", "q1", 0.5, seconds=10)
    lab_pc.import_json(laptop.export_json())
    with lab_pc.update() as progress:
        progress.record_answer("journey", "q1", 1.0, seconds=5)
    laptop.import_json(lab_pc.export_json())

    q1 = laptop.load().lessons["journey"].questions["q1"]
    assert (q1.attempts.total, q1.seconds.total, q1.best_score) == (2, 15, 1.0)


def test_import_keeps_the_best_score_adds_attempts_and_takes_the_newer_position(store, tmp_path):
    other = ProgressStore(tmp_path / "other" / FILE_NAME)
    with store.update() as progress:
        progress.record_answer("journey", "q1", 0.9)
        progress.set_position("journey", "ehlo", when=T0 + timedelta(hours=2))
        progress.record_lab("spf", passed=False, requirements_passed=2, requirements_total=3)
    with other.update() as progress:
        progress.record_answer("journey", "q1", 0.3)
        progress.record_answer("journey", "q1", 0.4)
        progress.set_position("journey", "dsn", when=T0 + timedelta(hours=1))
        progress.finish_lesson("journey", 0.5)
        progress.record_lab("spf", passed=True, requirements_passed=3, requirements_total=3)

    store.import_json(other.export_json())

    journey = store.load().lessons["journey"]
    assert (journey.questions["q1"].attempts.total, journey.questions["q1"].best_score) == (
        3,
        0.9,
    )
    assert (journey.position, journey.done) == ("ehlo", True)
    spf = store.load().labs["spf"]
    assert (spf.passed, spf.requirements_passed, spf.checks.total) == (True, 3, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "class.json is not JSON"),
        ('{"format": "other", "version": 1, "origin": "x"}', "not a progress export"),
        ('{"format": "smtp-tutor-progress", "version": 7, "origin": "x"}', "newer smtp-tutor"),
        ('{"format": "smtp-tutor-progress", "origin": "x"}', '"version" is missing'),
    ],
)
def test_an_unreadable_export_is_refused_by_name_and_changes_nothing(store, text, match):
    some_progress(store)
    before = store.path.read_bytes()
    with pytest.raises(ProgressImportError, match=match):
        store.import_json(text, source="class.json")
    assert store.path.read_bytes() == before


def test_malformed_documents_name_the_field():
    with pytest.raises(MalformedProgress, match=r"labs\.spf\.passed is not true or false"):
        Progress.from_json(
            {
                "format": "smtp-tutor-progress",
                "version": 1,
                "origin": "x",
                "labs": {"spf": {"passed": "yes"}},
            }
        )


def _table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_row_per_item_with_a_header(store):
    some_progress(store)
    text = store.export_csv(student="alice")

    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = {(r["kind"], r["id"]): r for r in _table(text)}
    assert list(rows) == [
        ("lesson", "journey"),
        ("question", "journey/mx-first"),
        ("question", "journey/order"),
        ("lesson", "starttls"),
        ("question", "starttls/why-ehlo"),
        ("lab", "spf"),
    ]
    mx = rows[("question", "journey/mx-first")]
    assert (mx["student"], mx["score"], mx["attempts"], mx["done"], mx["hints"]) == (
        "alice",
        "1.000",
        "2",
        "yes",
        "2",
    )
    assert (mx["seconds"], mx["last"]) == ("30", "2025-03-02T09:00:00Z")
    journey = rows[("lesson", "journey")]
    assert (journey["done"], journey["score"], journey["seconds"]) == ("no", "", "300")
    starttls = rows[("lesson", "starttls")]
    assert (starttls["done"], starttls["score"], starttls["attempts"]) == ("yes", "0.900", "1")
    spf = rows[("lab", "spf")]
    assert (spf["done"], spf["score"], spf["attempts"]) == ("no", "0.333", "1")


def test_the_student_is_the_os_user_unless_given(store, monkeypatch):
    monkeypatch.setenv("LOGNAME", "bob")
    some_progress(store)
    assert {r["student"] for r in _table(store.export_csv())} == {"bob"}
    assert json.loads(store.export_json())["student"] == "bob"


def test_two_students_csv_exports_concatenate_into_one_class_table(store, tmp_path):
    some_progress(store)
    bob = ProgressStore(tmp_path / "bob" / FILE_NAME)
    with bob.update() as progress:
        progress.record_lab("spf", passed=True, requirements_passed=3, requirements_total=3)

    alice_csv = store.export_csv(student="alice")
    bob_csv = bob.export_csv(student="bob")
    # The teacher's way: the first file whole, the others without their header line.
    class_table = _table(alice_csv + bob_csv.split("\n", 1)[1])

    assert class_table == _table(alice_csv) + _table(bob_csv)
    assert bob.export_csv(student="bob", header=False) == bob_csv.split("\n", 1)[1]
    spf = {r["student"]: r["done"] for r in class_table if r["id"] == "spf"}
    assert spf == {"alice": "no", "bob": "yes"}
    assert all(set(r) == set(CSV_COLUMNS) for r in class_table)


def test_a_copied_file_in_use_in_two_places_still_adds_up(store, tmp_path):
    # Copying the data directory to a second machine (or syncing it) instead of exporting.
    with store.update() as progress:
        progress.record_answer("journey", "q1", 0.5)
    copy = ProgressStore(tmp_path / "copy" / FILE_NAME)
    copy.path.parent.mkdir()
    copy.path.write_bytes(store.path.read_bytes())
    for place in (store, copy):
        with place.update() as progress:
            progress.record_answer("journey", "q1", 0.5)

    store.import_json(copy.export_json())

    assert store.load().lessons["journey"].questions["q1"].attempts.total == 3


def test_a_file_keeps_its_origin_where_it_was_written(store):
    with store.update() as progress:
        origin = progress.origin
    assert store.load().origin == origin
