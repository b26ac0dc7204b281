"""A progress writer for the kill -9 tests: updates one progress file until it is killed.

Run as ``python tests/progress_crash_worker.py PATH MODE [N]``.

- ``loop``: update forever. Write n (continuing from what the file holds) sets the lesson's
  position to ``step-n``, counts the n-th answer and n seconds of time, and rewrites a few
  hundred padding questions so each write takes a while; so any whole state satisfies
  ``position == f"step-{attempts}"``. Prints ``ready`` after the first write.
- ``count N``: record N answers, one update each, then exit (two of these race on one file).
- ``die-in-fsync``, ``die-before-replace``, ``die-after-replace``: write state 1, then die by
  SIGKILL at that point of writing state 2 (the new bytes written but not yet durable; durable
  but not yet renamed; renamed but the directory not yet fsync'ed).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.learn import progress as progress_module
from tutor.learn.progress import ProgressStore

LESSON = "journey"
PADDING = 300


def write_state(store: ProgressStore, n: int) -> None:
    with store.update() as progress:
        progress.set_position(LESSON, f"step-{n}")
        progress.record_answer(LESSON, "q1", (n % 10) / 10)
        progress.add_time(LESSON, 1.0)
        for i in range(PADDING):
            progress.record_hint(LESSON, f"pad-{i:03d}", n)


def current_step(store: ProgressStore) -> int:
    lesson = store.load().lessons.get(LESSON)
    return int(lesson.questions["q1"].attempts.total) if lesson else 0


def die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    store = ProgressStore(Path(argv[1]))
    mode = argv[2]
    if mode == "loop":
        n = current_step(store) + 1
        write_state(store, n)
        print("ready", flush=True)
        while True:
            n += 1
            write_state(store, n)
    if mode == "count":
        for _ in range(int(argv[3])):
            with store.update() as progress:
                progress.record_answer(LESSON, "q1", 1.0)
        return 0
    write_state(store, 1)
    if mode == "die-in-fsync":
        os.fsync = die  # type: ignore[assignment]
    elif mode == "die-before-replace":
        os.replace = die  # type: ignore[assignment]
    elif mode == "die-after-replace":
        progress_module._fsync_dir = die  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown mode {mode}")
    write_state(store, 2)
    return 3  # not reached: the write above dies


if __name__ == "__main__":
    sys.exit(main(sys.argv))
