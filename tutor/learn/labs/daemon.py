"""The background world of one lab: ``python -m tutor.learn.labs.daemon LAB_FOLDER LAB_PLACE``.

`lab start` runs this as a detached process (its own session, no terminal) so the student
keeps theirs. It opens the lab's world through the runner and then:

* prints one JSON line on stdout when it is ready (``{"ready": true, ...}``) or could not
  start (``{"error": "..."}``), and closes stdout: the starting CLI waits for that line;
* writes ``state.json`` in the lab's private folder: pid, a random token, the socket, hosts,
  ports and addresses to connect to (removed again when it ends);
* answers requests on a unix socket (mode 0600 in a 0700 folder): one JSON line in, one out —
  ``ping``, ``check``, ``review``, ``stop``;
* ends on ``stop``, SIGTERM/SIGINT/SIGHUP, or after ``$SMTP_TUTOR_LAB_IDLE`` seconds (default
  six hours) without a request or a learner's session, so a forgotten world does not linger on
  a shared machine. Whatever way it ends, its listeners go with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tutor.errors import UserError
from tutor.learn.labs.labrun import LabRun
from tutor.learn.labs.loader import load_lab
from tutor.learn.labs.place import LabPlace
from tutor.learn.labs.reach import world_json

IDLE_ENV = "SMTP_TUTOR_LAB_IDLE"
DEFAULT_IDLE = 6 * 3600.0
REQUEST_LIMIT = 64 * 1024


class LabWorldProcess:
    def __init__(self, lab_folder: Path, place: LabPlace) -> None:
        self.lab = load_lab(lab_folder)
        self.place = place
        self.token = secrets.token_hex(16)
        self.stopping = asyncio.Event()
        self.last_request = time.time()
        self.socket_dir = Path(tempfile.mkdtemp(prefix="smtp-tutor-lab-"))  # mode 0700
        self.socket_path = self.socket_dir / "world.sock"
        self.lab_run: LabRun | None = None

    async def serve(self) -> None:
        place = self.place
        place.make()
        shutil.rmtree(place.world_dir, ignore_errors=True)  # a fresh start, every start
        self.lab_run = LabRun(self.lab, keep=place.world_dir)
        try:
            await self.lab_run.start()
            server = await asyncio.start_unix_server(
                self.handle, path=str(self.socket_path), limit=REQUEST_LIMIT
            )
        except BaseException:
            await self.lab_run.stop()  # no half-started world left listening
            raise
        os.chmod(self.socket_path, 0o600)
        state = {
            "format": "smtp-tutor-lab-state",
            "version": 1,
            "lab": self.lab.id,
            "lab_folder": str(self.lab.folder),
            "pid": os.getpid(),
            "token": self.token,
            "socket": str(self.socket_path),
            "started": time.time(),
            "work_dir": str(place.work_dir),
            "world": world_json(self.lab_run.info),
        }
        place.write_state(state)
        with contextlib.suppress(OSError):  # the starting CLI was killed: serve all the same
            print(json.dumps({"ready": True, **state}), flush=True)
        _detach_stdout()
        idle = asyncio.create_task(self.watch_idle())
        try:
            await self.stopping.wait()
        finally:
            idle.cancel()
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
            await self.lab_run.stop()

    async def watch_idle(self) -> None:
        limit = float(os.environ.get(IDLE_ENV, "") or DEFAULT_IDLE)
        while True:
            await asyncio.sleep(min(60.0, limit))
            assert self.lab_run is not None
            events = self.lab_run.run.trace.events
            last_event = events[-1].time if events else 0.0
            if time.time() - max(self.last_request, last_event) >= limit:
                self.stopping.set()
                return

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            request = json.loads(line or b"{}")
            answer = await self.answer(request if isinstance(request, dict) else {})
        except Exception as exc:  # a bad request gets an answer, never a dead world
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
            writer.close()

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        self.last_request = time.time()
        assert self.lab_run is not None
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "token": self.token, "lab": self.lab.id, "pid": os.getpid()}
        if op == "check":
            results = await self.lab_run.check()
            return {"ok": True, "results": [r.to_json() for r in results]}
        if op == "review":
            return {"ok": True, "sessions": [s.to_json() for s in self.lab_run.review()]}
        if op == "stop":
            self.stopping.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown request {op!r}"}

    def cleanup(self) -> None:
        state = self.place.read_state()
        if state is not None and state.get("token") == self.token:
            with contextlib.suppress(OSError):
                self.place.state_file.unlink()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def _detach_stdout() -> None:
    """After the ready line nobody reads stdout: point it at /dev/null (no SIGPIPE later)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def _main(lab_folder: Path, place: LabPlace) -> int:
    process = LabWorldProcess(lab_folder, place)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, process.stopping.set)
    try:
        await process.serve()
    finally:
        process.cleanup()
    return 0


def main(argv: list[str]) -> int:
    lab_folder, root = Path(argv[0]), Path(argv[1])
    place = LabPlace(root.name, root)
    try:
        return asyncio.run(_main(lab_folder, place))
    except (UserError, OSError) as exc:
        text = str(exc) if isinstance(exc, UserError) else f"{exc.strerror or exc}"
        with contextlib.suppress(Exception):
            print(json.dumps({"error": text}), flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
