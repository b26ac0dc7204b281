"""Where one learner's lab lives on disk: its world, its working files, its state and socket.

``$SMTP_TUTOR_LAB_DIR`` (else ``labs/`` in the per-user data directory, which
``$SMTP_TUTOR_DATA_DIR`` moves) holds one private folder (mode 0700) per lab::

    <lab id>/
      state.json     the running world: pid, token, socket, hosts and ports (the world writes it)
      learner.json   hints shown, gave up, last check (the CLI writes it)
      world/         the world's run directory: mailboxes, ca.pem, world.zone, log/, trace.jsonl
      work/          the student's own copies of the lab's files (zone files, ...)
      world.log      what the world process printed (for a post-mortem)
      .lock          taken while a start, stop or reset is under way

The world's unix socket lives in a short private temporary folder named in state.json
(socket paths are limited to about 100 bytes; a data directory can be longer).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tutor.learn.progress import data_dir, write_atomically

LAB_DIR_ENV = "SMTP_TUTOR_LAB_DIR"
CURRENT_FILE = "current"


def labs_home() -> Path:
    override = os.environ.get(LAB_DIR_ENV, "").strip()
    return Path(override).expanduser() if override else data_dir() / "labs"


@dataclass(frozen=True)
class LabPlace:
    """The files of one lab for the current learner."""

    lab_id: str
    root: Path

    @classmethod
    def of(cls, lab_id: str) -> LabPlace:
        return cls(lab_id, labs_home() / lab_id)

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def learner_file(self) -> Path:
        return self.root / "learner.json"

    @property
    def world_dir(self) -> Path:
        return self.root / "world"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def log_file(self) -> Path:
        return self.root / "world.log"

    def make(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One start, stop or reset of this lab at a time (two terminals, one student)."""
        self.make()
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_file.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_state(self, state: dict[str, Any]) -> None:
        write_atomically(self.state_file, json.dumps(state, indent=2))


@dataclass
class LearnerState:
    """What the learner did around one lab that is not progress: hints seen, a give-up."""

    hints_shown: int = 0
    gave_up: bool = False
    last_activity: float = 0.0

    @classmethod
    def load(cls, place: LabPlace) -> LearnerState:
        try:
            data = json.loads(place.learner_file.read_text("utf-8"))
            return cls(
                hints_shown=int(data.get("hints_shown", 0)),
                gave_up=bool(data.get("gave_up", False)),
                last_activity=float(data.get("last_activity", 0.0)),
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def save(self, place: LabPlace) -> None:
        place.make()
        write_atomically(place.learner_file, json.dumps(asdict(self)))


def remember_current(lab_id: str) -> None:
    home = labs_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(home / CURRENT_FILE, lab_id)


def current_lab() -> str:
    try:
        return (labs_home() / CURRENT_FILE).read_text("utf-8").strip()
    except OSError:
        return ""
