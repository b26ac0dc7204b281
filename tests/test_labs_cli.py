"""The lab runner as a student meets it: `smtp-tutor lab ...` against a real background world.

Each test gets its own lab folder ($SMTP_TUTOR_LAB_DIR) and progress store, and every world
it starts is stopped at the end. Solutions are done as a student would: raw sockets like
nc -C, and the real nc, dig and openssl where they are installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.learn.labs.control import running_labs, stop
from tutor.learn.labs.loader import load_lab, shipped_labs_root
from tutor.learn.labs.place import LAB_DIR_ENV, LabPlace
from tutor.learn.labs.reach import endpoint, info_from_json
from tutor.learn.labs.steps import run_step


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "labs"
    monkeypatch.setenv(LAB_DIR_ENV, str(home))
    monkeypatch.setenv("SMTP_TUTOR_DATA_DIR", str(tmp_path / "data"))
    yield home
    for lab_id in running_labs():
        stop(LabPlace.of(lab_id))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def state_of(lab_id: str) -> dict:
    state = LabPlace.of(lab_id).read_state()
    assert state is not None
    return state


def solve(lab_id: str) -> None:
    """Do the lab's reference solution against its running world, like the student would."""
    info = info_from_json(state_of(lab_id)["world"])
    for step in load_lab(lab_id).solution:
        run_step(step, info)
    time.sleep(0.1)


def refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_start_check_solve_check_through_the_background_world(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "lab", "start", "speak-smtp")
    assert code == 0
    assert "its world is up in the background" in out
    state = state_of("speak-smtp")
    address, port = endpoint(info_from_json(state["world"]), "mx1.example.net")
    assert f"nc -C {address} {port}" in out
    assert f"CA file     {state['world']['ca']}" in out
    assert "openssl s_client -starttls smtp" in out and "dig @" in out and "swaks" in out

    code, out = run(capsys, "lab", "check")
    assert code == 1
    assert "✗ A message with the subject" in out
    assert "no message has arrived for bob@example.net yet" in out

    solve("speak-smtp")
    code, out = run(capsys, "lab", "check", "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["status"] == "pass", verdict
    assert [r["status"] for r in verdict["requirements"]] == ["pass", "pass"]
    assert {"name", "status", "message", "looked_at"} <= set(verdict["requirements"][0])

    from tutor.learn.progress import ProgressStore

    record = ProgressStore().load().labs["speak-smtp"]
    assert record.passed and record.requirements_passed == 2 and record.checks.total == 2
    code, out = run(capsys, "lab", "solution", "speak-smtp")  # passed: no confirmation asked
    assert code == 0 and f"nc -C {address} {port}" in out and "    QUIT" in out


def test_a_second_start_reuses_the_running_world(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "lab", "start", "speak-smtp")
    first = state_of("speak-smtp")
    code, out = run(capsys, "lab", "start", "speak-smtp")
    assert code == 0 and "is still running (reused)" in out
    assert state_of("speak-smtp")["pid"] == first["pid"]
    code, out = run(capsys, "lab", "stop")
    assert code == 0 and "Lab speak-smtp: world stopped." in out
    assert not LabPlace.of("speak-smtp").state_file.exists()
    assert not Path(first["socket"]).parent.exists()


def test_two_labs_and_two_students_run_side_by_side(
    lab_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run(capsys, "lab", "start", "speak-smtp")
    run(capsys, "lab", "start", "starttls-by-hand")
    assert sorted(running_labs()) == ["speak-smtp", "starttls-by-hand"]
    one, two = state_of("speak-smtp"), state_of("starttls-by-hand")

    monkeypatch.setenv(LAB_DIR_ENV, str(tmp_path / "other-student"))
    run(capsys, "lab", "start", "speak-smtp")
    other = state_of("speak-smtp")
    ports = {
        json.dumps(s["world"]["hosts"][3]["ports"]) + s["world"]["hosts"][3]["connect"]
        for s in (one, two, other)
    }
    assert len(ports) == 3 and len({one["pid"], two["pid"], other["pid"]}) == 3
    assert len({one["socket"], two["socket"], other["socket"]}) == 3
    solve("speak-smtp")  # the other student's
    assert run(capsys, "lab", "check", "speak-smtp")[0] == 0
    stop(LabPlace.of("speak-smtp"))

    monkeypatch.setenv(LAB_DIR_ENV, str(lab_home))  # the first student saw nothing of it
    code, out = run(capsys, "lab", "check", "speak-smtp")
    assert code == 1 and "no message has arrived for bob@example.net yet" in out
    code, out = run(capsys, "lab", "check")  # no ID: the lab started last
    assert code == 1 and "Lab starttls-by-hand: STARTTLS by hand" in out


def test_a_killed_world_leaves_no_listener_and_is_cleaned_up(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "lab", "start", "speak-smtp")
    state = state_of("speak-smtp")
    info = info_from_json(state["world"])
    mx = endpoint(info, "mx1.example.net")
    assert not refused(*mx)
    os.kill(state["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not refused(*mx) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused(*mx)
    assert refused(info.dns_address, info.dns_port)

    code, out = run(capsys, "lab", "check", "--json")  # check always answers
    verdict = json.loads(out.splitlines()[0])  # stdout first, then the note on stderr
    assert code == 1 and verdict["status"] == "not-running"
    assert all("is not running" in r["message"] for r in verdict["requirements"])
    assert "had died; cleaned up" in out
    assert not LabPlace.of("speak-smtp").state_file.exists()
    assert not Path(state["socket"]).parent.exists()
    code, out = run(capsys, "lab", "start", "speak-smtp")
    assert code == 0 and "is up in the background" in out


def test_a_world_that_no_longer_answers_is_ended_not_left_listening(
    lab_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutor.learn.labs import control

    run(capsys, "lab", "start", "speak-smtp")
    state = state_of("speak-smtp")
    mx = endpoint(info_from_json(state["world"]), "mx1.example.net")
    os.kill(state["pid"], signal.SIGSTOP)  # alive, listening, but deaf
    monkeypatch.setattr(control, "PING_TIMEOUT", 0.3)
    code, out = run(capsys, "lab", "status")
    assert code == 0 and "no longer answered; ended and cleaned up" in out
    assert refused(*mx)
    assert not control._alive(state["pid"])


def test_reset_restores_the_start(
    lab_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "edit-me"
    shutil.copytree(shipped_labs_root() / "speak-smtp", folder)
    (folder / "notes.txt").write_text("as the lab gave it\n")
    toml = (folder / "lab.toml").read_text().replace('"speak-smtp"', '"edit-me"')
    (folder / "lab.toml").write_text(toml.replace("[start]\n", '[start]\nfiles = ["notes.txt"]\n'))

    code, out = run(capsys, "lab", "start", str(folder))
    assert code == 0 and "notes.txt" in out
    work = LabPlace.of("edit-me").work_dir / "notes.txt"
    work.write_text("the student's edit\n")
    info = info_from_json(state_of("edit-me")["world"])
    for step in load_lab(folder).solution:
        run_step(step, info)
    assert run(capsys, "lab", "check", str(folder))[0] == 0

    code, out = run(capsys, "lab", "reset", str(folder))  # not a terminal: asks for --yes
    assert code == 2 and "add --yes to confirm" in out
    code, out = run(capsys, "lab", "reset", str(folder), "--yes")
    assert code == 0 and "back at its start and its world started again" in out
    assert work.read_text() == "as the lab gave it\n"
    code, out = run(capsys, "lab", "check", str(folder))
    assert code == 1 and "no message has arrived for bob@example.net yet" in out
    assert "no session of yours with mx1.example.net has been seen yet" in out


def test_hints_come_one_at_a_time_and_the_solution_waits_for_a_give_up(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = load_lab("find-the-mx")
    for number in range(1, len(lab.hints) + 1):
        code, out = run(capsys, "lab", "hint", "find-the-mx")
        assert code == 0 and f"Hint {number} of {len(lab.hints)}" in out
        assert lab.hints[number - 1] in out
    code, out = run(capsys, "lab", "hint", "find-the-mx")
    assert "No more hints" in out

    code, out = run(capsys, "lab", "solution", "find-the-mx")
    assert code == 2 and "has not passed yet" in out and "--yes" in out
    code, out = run(capsys, "lab", "solution", "find-the-mx", "--yes")
    assert code == 0 and "dig @DNS-ADDRESS -p DNS-PORT example.net MX" in out
    assert run(capsys, "lab", "solution", "find-the-mx")[0] == 0  # given up: no question again

    from tutor.learn.progress import ProgressStore

    assert ProgressStore().load().labs["find-the-mx"].hints_used == len(lab.hints)


def test_lab_list_and_status(lab_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lab", "list", "--json")
    listed = {entry["id"]: entry for entry in json.loads(out)["labs"]}
    assert code == 0 and list(listed)[:4] == [
        "speak-smtp",
        "find-the-mx",
        "starttls-by-hand",
        "submit-with-auth",
    ]
    assert listed["speak-smtp"]["progress"] == "new" and not listed["speak-smtp"]["running"]
    assert run(capsys, "lab", "status")[1].startswith("No lab world is running.")
    run(capsys, "lab", "start", "find-the-mx")
    code, out = run(capsys, "lab", "status", "--json")
    (entry,) = json.loads(out)["running"]
    assert entry["lab"] == "find-the-mx" and entry["mode"] in ("per-host", "shared-loopback")


def test_review_through_the_world_marks_nc_without_c(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "lab", "start", "speak-smtp")
    info = info_from_json(state_of("speak-smtp")["world"])
    run_step(load_lab("speak-smtp").near_misses[0].steps[0], info)  # nc without -C
    code, out = run(capsys, "lab", "review", "--brief")
    assert code == 0
    assert "first mistake: bare LF line ending (nc without -C?)" in out
    assert "  -> EHLO laptop.example.com  [bare LF]" in out


# --------------------------------------------------------------------------- the real peers


def _mx(lab_id: str) -> tuple[str, int, dict]:
    state = state_of(lab_id)
    address, port = endpoint(info_from_json(state["world"]), "mx1.example.net")
    return address, port, state


@pytest.mark.skipif(shutil.which("nc") is None, reason="nc is not installed")
def test_lab_1_solved_with_the_real_nc(lab_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "lab", "start", "speak-smtp")
    address, port, _ = _mx("speak-smtp")
    script = (
        "EHLO me\nMAIL FROM:<s@example.com>\nRCPT TO:<bob@example.net>\nDATA\n"
        "Subject: Hello from the command line\n\nhi\n.\nQUIT\n"
    )
    with subprocess.Popen(
        ["nc", "-C", address, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as nc:
        for line in script.splitlines(keepends=True):  # a line at a time, as typed
            assert nc.stdin is not None
            nc.stdin.write(line)
            nc.stdin.flush()
            time.sleep(0.03)
        out, _ = nc.communicate(timeout=10)
    assert "221" in out
    assert run(capsys, "lab", "check")[0] == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_lab_3_solved_with_the_real_openssl_s_client(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "lab", "start", "starttls-by-hand")
    address, port, state = _mx("starttls-by-hand")
    command = [
        "openssl",
        "s_client",
        "-starttls",
        "smtp",
        "-connect",
        f"{address}:{port}",
        "-servername",
        "mx1.example.net",
        "-CAfile",
        state["world"]["ca"],
        "-verify_return_error",
        "-crlf",
        "-quiet",
    ]
    lines = [
        "EHLO me",
        "MAIL FROM:<s@example.com>",
        "RCPT TO:<bob@example.net>",
        "DATA",
        "Subject: Sent inside TLS",
        "",
        "hi",
        ".",
        "QUIT",
    ]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as client:
        time.sleep(0.5)  # the handshake, before anything is typed
        assert client.stdin is not None
        for line in lines:
            client.stdin.write(line + "\n")
            client.stdin.flush()
            time.sleep(0.05)
        out, err = client.communicate(timeout=10)
    assert "250 2.0.0 Ok: queued as" in out, err
    code, out = run(capsys, "lab", "check")
    assert code == 0, out


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_lab_2_answers_come_from_the_real_dig(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "lab", "start", "find-the-mx")
    dns = state_of("find-the-mx")["world"]["dns"]
    at = ["dig", f"@{dns['connect']}", "-p", str(dns["port"]), "+short"]
    answer = subprocess.run([*at, "example.net", "MX"], capture_output=True, text=True, timeout=10)
    assert "5 bravo.example.net." in answer.stdout.splitlines()
    subprocess.run([*at, "bravo.example.net", "A"], capture_output=True, timeout=10, check=True)
    code, out = run(capsys, "lab", "check", "--json")
    assert code == 1
    status = {r["name"]: r["status"] for r in json.loads(out)["requirements"]}
    assert status == {
        "asked-mx": "pass",
        "asked-address": "pass",
        "delivered-to-preferred": "fail",
    }
