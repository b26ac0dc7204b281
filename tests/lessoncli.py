"""What the lesson command tests share: the test lesson, its right answers, the CLI as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tutor.learn.lesson import load_lesson

ROOT = Path(__file__).parent.parent
LESSON = ROOT / "tests" / "data" / "lessons" / "hello-basics.toml"


def smtp_tutor(
    *args: str, data: Path, answers: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args],
        cwd=ROOT,
        input=answers if answers is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "NO_COLOR": "1",
            "PYTHONPATH": str(ROOT),
            "SMTP_TUTOR_DATA_DIR": str(data),
        },
    )


def right_answers() -> list[str]:
    """One line per question of the test lesson, each right, in the order they are asked."""
    from tutor.learn.plain import presented_order

    lesson = load_lesson(LESSON)
    order = next(q.question for q in lesson.questions if q.id == "order")
    assert order is not None
    shown = presented_order(order)  # the letters follow the scrambled order on screen
    letters = " ".join("abc"[shown.index(item.key)] for item in order.answer.items)  # type: ignore[union-attr]
    return [
        "a",  # why-starttls, at the client's STARTTLS
        "250",  # rcpt-code: predict the MX's reply to RCPT
        "a",  # mx-first (generated at the end): mx1, the lower preference
        "a b",  # hops
        letters,  # order
        "587",  # submission-port
        "250",  # ok-code
    ]


def lines(*answers: str) -> str:
    return "".join(f"{a}\n" for a in answers)
