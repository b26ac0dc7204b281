"""Files a world writes are private to the user who runs it, whatever their umask.

A kept world holds mail, the mail log and the trace (which has the AUTH PLAIN line): on a
shared lab box nobody else may read or change them. Postfix writes Maildir files 0600; so do
we, and every directory a world makes is 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_opener(path: str, flags: int) -> int:
    """An ``open(..., opener=)`` that creates the file 0600 (the umask can only take away)."""
    return os.open(path, flags, FILE_MODE)


def private_dir(path: Path) -> Path:
    """Make ``path`` and any missing parents 0700 (mkdir's parents=True would make the parents
    with the umask's mode), and keep ``path`` 0700 even if it already existed."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path
