"""The command line's side of a lab world: start it in the background, find it, ask it, stop it.

A world is *running* when its state file names a live process that answers a ``ping`` on its
socket with the token the file holds. Anything else found on disk is a world whose process
died (kill -9, a reboot, a crash): it is cleaned up — state file and socket folder removed,
and a process that still lives but no longer answers is ended — before anything else happens,
so nothing is ever left listening. Every request has a timeout: `lab check` always answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.errors import UserError
from tutor.learn.labs.loader import LabError
from tutor.learn.labs.model import Lab
from tutor.learn.labs.place import LabPlace, labs_home, remember_current

START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0
PING_TIMEOUT = 3.0  # a live world answers a ping in milliseconds
DAEMON_MODULE = "tutor.learn.labs.daemon"


class LabNotRunning(UserError):
    """The lab's world is not up (never started, stopped, or its process died)."""


@dataclass(frozen=True)
class WorldStatus:
    running: bool
    state: dict[str, Any] | None = None
    cleaned: str = ""  # what was found dead and cleaned up, in words ("" if nothing)


# --------------------------------------------------------------------------- processes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is dead, whatever kill(0) says
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_lab_world(pid: int) -> bool:
    """Whether ``pid`` runs a lab world (so it is safe to end it): its command line says so."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            command = subprocess.run(
                ["ps", "-o", "command=", "-p", str(pid)],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return DAEMON_MODULE in command


def _end(pid: int, wait: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``wait`` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            os.kill(pid, signal.SIGCONT)  # a stopped process handles its SIGTERM only now
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


# --------------------------------------------------------------------------- requests


def request(state: dict[str, Any], op: str, *, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
    """Send one request to a world process and return its answer (raises OSError, ValueError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(state["socket"]))
        sock.sendall(json.dumps({"op": op}).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    answer = json.loads(b"".join(chunks) or b"{}")
    if not isinstance(answer, dict):
        raise ValueError("the world's answer is not an object")
    return answer


def _cleanup(place: LabPlace, state: dict[str, Any] | None) -> None:
    if state is not None:
        folder = Path(str(state.get("socket", ""))).parent
        if folder.name.startswith("smtp-tutor-lab-"):
            shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        place.state_file.unlink()


def status(place: LabPlace) -> WorldStatus:
    """Whether the lab's world runs; a dead or deaf one is cleaned up on the way."""
    state = place.read_state()
    if state is None:
        return WorldStatus(False)
    pid = int(state.get("pid", 0) or 0)
    if pid <= 0 or not _alive(pid):
        _cleanup(place, state)
        return WorldStatus(False, cleaned=f"its world process ({pid}) had died; cleaned up")
    try:
        answer = request(state, "ping", timeout=PING_TIMEOUT)
        if answer.get("token") == state.get("token"):
            return WorldStatus(True, state)
    except (OSError, ValueError):
        pass
    if _is_lab_world(pid):
        _end(pid)
        why = f"its world process ({pid}) no longer answered; ended and cleaned up"
    else:  # the pid was reused by an unrelated process: leave that one alone
        why = f"its world process ({pid}) had died; cleaned up"
    _cleanup(place, state)
    return WorldStatus(False, cleaned=why)


def running_labs(on_cleaned: Callable[[str, str], None] | None = None) -> list[str]:
    """Ids of this learner's labs whose worlds are up (dead ones are cleaned up on the way,
    and ``on_cleaned(lab_id, what)`` hears of each)."""
    home = labs_home()
    if not home.is_dir():
        return []
    running = []
    for folder in sorted(home.iterdir()):
        if not (folder / "state.json").is_file():
            continue
        found = status(LabPlace.of(folder.name))
        if found.cleaned and on_cleaned is not None:
            on_cleaned(folder.name, found.cleaned)
        if found.running:
            running.append(folder.name)
    return running


# --------------------------------------------------------------------------- start and stop


def copy_work_files(lab: Lab, place: LabPlace, *, overwrite: bool) -> list[Path]:
    """The lab's files in the student's working directory (kept as edited unless overwrite)."""
    place.make()
    place.work_dir.mkdir(exist_ok=True)
    copied = []
    for name in lab.files:
        target = place.work_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if overwrite or not target.exists():
            shutil.copyfile(lab.folder / name, target)
        copied.append(target)
    return copied


def start(lab: Lab) -> tuple[dict[str, Any], bool, str]:
    """The lab's world, started in the background or found running: (state, reused, cleaned)."""
    place = LabPlace.of(lab.id)
    with place.locked():
        found = status(place)
        remember_current(lab.id)
        if found.running and found.state is not None:
            return found.state, True, found.cleaned
        copy_work_files(lab, place, overwrite=False)
        state = _spawn(lab, place)
        return state, False, found.cleaned


def _spawn(lab: Lab, place: LabPlace) -> dict[str, Any]:
    log = open(place.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", DAEMON_MODULE, str(lab.folder), str(place.root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # no terminal: Ctrl-C in the student's shell leaves it be
            close_fds=True,
        )
    finally:
        log.close()
    assert child.stdout is not None
    line = _read_line(child.stdout, START_TIMEOUT)
    child.stdout.close()
    try:
        answer = json.loads(line) if line else {}
    except ValueError:
        answer = {}
    if answer.get("ready"):
        return answer
    if child.poll() is None:
        _end(child.pid)
    child.wait(timeout=10)
    problem = answer.get("error") or _last_log_line(place) or "it exited without a word"
    raise LabError(f"the world of lab {lab.id!r} did not start: {problem} (log: {place.log_file})")


def _read_line(stream: Any, timeout: float) -> bytes:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    try:
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
    finally:
        selector.close()
    return buffer.split(b"\n", 1)[0]


def _last_log_line(place: LabPlace) -> str:
    try:
        lines = place.log_file.read_text("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def stop(place: LabPlace) -> bool:
    """End the lab's world if it runs; whether it did."""
    with place.locked():
        found = status(place)
        if not found.running or found.state is None:
            return False
        state = found.state
        pid = int(state["pid"])
        with contextlib.suppress(OSError, ValueError):
            request(state, "stop", timeout=5)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            _end(pid)
        _cleanup(place, state)
        return True


def reset(lab: Lab) -> bool:
    """Stop the world, forget its state and put the working files back; restart if it ran."""
    place = LabPlace.of(lab.id)
    was_running = stop(place)
    with place.locked():
        shutil.rmtree(place.world_dir, ignore_errors=True)
        copy_work_files(lab, place, overwrite=True)
    if was_running:
        start(lab)
    return was_running
