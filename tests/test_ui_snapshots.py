"""Snapshot tests of the TUI (pytest-textual-snapshot), from a recorded, normalised trace.

A live run differs every time (ports, queue ids, dates), so the screens are drawn from a trace of
the real `hello` + unknown-user run recorded once and normalised: ports, ids, dates and paths
replaced by stable values. Refresh it after the world's output changes on purpose with
``PYTHONPATH=. python tests/test_ui_snapshots.py --record`` and then ``pytest --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tutor.trace import Event, SmtpLine, event_from_json
from tutor.ui.app import TutorApp
from tutor.ui.screens.run import RunScreen

TRACE = Path(__file__).parent / "data" / "ui-hello-unknown-user.jsonl"
BOUNCE_TRACE = Path(__file__).parent / "data" / "ui-user-unknown-bounce.jsonl"
SMALL = (80, 24)
LARGE = (120, 40)


# ------------------------------------------------------------------ the normalised trace


_DATE = re.compile(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}")
_ENDPOINT = re.compile(r"(127\.\d+\.\d+\.\d+)(\]?):(\d+)")
_QUEUE_ID = re.compile(r"\b[0-9A-F]{10,12}\b")
_MESSAGE_ID = re.compile(r"\d{14}\.[0-9A-F]+@")
_MAILDIR_NAME = re.compile(r"\d{10}\.M\d+P\d+Q\d+\.[\w.-]+")
_CERT_SERIAL = re.compile(r"#[\w-]{16}")  # trustme's random "Testing cert #..." names
_RUN_DIR = re.compile(r"/[\w/.-]*smtp-tutor-[\w]+")


class _Normaliser:
    """Replaces each distinct variable value by a stable one, in order of first appearance."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self.queue_ids: dict[str, str] = {}
        self.query_ids: dict[int, int] = {}

    def port(self, value: str) -> int:
        return self.ports.setdefault(value, 40001 + len(self.ports))

    def text(self, value: str) -> str:
        value = _ENDPOINT.sub(lambda m: f"{m[1]}{m[2]}:{self.port(m[3])}", value)
        value = _MAILDIR_NAME.sub("1767258000.M1P1Q1.tutor", value)
        value = _CERT_SERIAL.sub("#0000000000000000", value)
        value = _QUEUE_ID.sub(
            lambda m: self.queue_ids.setdefault(m[0], f"{len(self.queue_ids) + 1:011X}"), value
        )
        value = _DATE.sub("Thu, 01 Jan 2026 09:00:00 +0000", value)
        value = _MESSAGE_ID.sub("20260101090000.0000000000000001@", value)
        return _RUN_DIR.sub("/tmp/smtp-tutor-run", value)

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if isinstance(value, dict):
            if key == "ports":
                return {k: self.port(str(v)) for k, v in value.items()}
            return {k: self.value(k, v) for k, v in value.items()}
        if key == "query_id" and isinstance(value, int):
            return self.query_ids.setdefault(value, len(self.query_ids) + 1)
        return value

    def event(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: self.value(k, v) for k, v in obj.items()}
        out["time"] = 1767258000.0 + obj["seq"] / 100
        if "elapsed_ms" in out:
            out["elapsed_ms"] = 0.5
        return out


async def _record_events(
    name: str = "hello", what_ifs: frozenset[str] = frozenset({"unknown-user"})
) -> list[dict[str, Any]]:
    from tutor.run import open_run

    async with open_run(name, what_ifs=what_ifs) as run:
        await run.finish()
        return [event.to_json() for event in run.trace.events]


def record_trace(
    path: Path = TRACE, name: str = "hello", what_ifs: frozenset[str] = frozenset({"unknown-user"})
) -> None:
    """Run the real world once and write its normalised trace for the snapshots."""
    normaliser = _Normaliser()
    events = [normaliser.event(obj) for obj in asyncio.run(_record_events(name, what_ifs))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), "utf-8")


def load_trace(path: Path = TRACE) -> list[Event]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [event_from_json(json.loads(line)) for line in lines if line.strip()]


# ------------------------------------------------------------------ helpers


def replay_app(**kwargs: Any) -> TutorApp:
    return TutorApp(replay=load_trace(), replay_label="hello + unknown-user (replay)", **kwargs)


def steps(count: int):
    """A run_before hook that takes ``count`` steps once the run screen is up."""

    async def run_before(pilot: Pilot) -> None:
        screen = await _run_screen(pilot)
        for _ in range(count):
            await screen.step_once()
        # Panes refresh on the next turns (and some on a worker): let every one settle, or
        # the snapshot catches a pane half way (the projector spotlight did, now and then).
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.1)

    return run_before


async def _run_screen(pilot: Pilot) -> RunScreen:
    app = pilot.app
    for _ in range(100):
        if isinstance(app.screen, RunScreen) and app.screen.session is not None:
            await app.workers.wait_for_complete()
            return app.screen
        await pilot.pause(0.02)
    raise AssertionError("the run screen did not start")


# ------------------------------------------------------------------ snapshots


def test_trace_fixture_has_the_550_for_the_unknown_recipient() -> None:
    replies = [e.text for e in load_trace() if isinstance(e, SmtpLine)]
    assert any(r.startswith("550 5.1.1") for r in replies)


def test_main_screen_at_80x24(snap_compare) -> None:
    assert snap_compare(replay_app(), terminal_size=SMALL, run_before=steps(12))


def test_main_screen_at_120x40(snap_compare) -> None:
    assert snap_compare(replay_app(), terminal_size=LARGE, run_before=steps(40))


def test_projector_mode_at_120x40(snap_compare) -> None:
    assert snap_compare(replay_app(projector=True), terminal_size=LARGE, run_before=steps(30))


def test_projector_mode_at_80x24(snap_compare) -> None:
    assert snap_compare(replay_app(projector=True), terminal_size=SMALL, run_before=steps(30))


def test_explanation_of_a_550_reply(snap_compare) -> None:
    async def to_the_550(pilot: Pilot) -> None:
        screen = await _run_screen(pilot)
        for _ in range(200):
            selected = screen.session.selected if screen.session else None
            if isinstance(selected, SmtpLine) and selected.text.startswith("550"):
                break
            assert await screen.step_once(), "the trace has no 550 reply"
        await pilot.pause()

    assert snap_compare(replay_app(), terminal_size=LARGE, run_before=to_the_550)


def test_sequence_diagram_tab_at_120x40(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await steps(60)(pilot)
        await pilot.press("s")
        await pilot.pause()

    assert snap_compare(replay_app(), terminal_size=LARGE, run_before=run_before)


def test_queue_tab_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await steps(200)(pilot)
        await pilot.press("u")
        await pilot.pause()

    assert snap_compare(replay_app(), terminal_size=SMALL, run_before=run_before)


def test_queue_tab_with_a_bounces_dsn_links_at_120x40(snap_compare) -> None:
    from tutor.trace import Bounce

    app = TutorApp(replay=load_trace(BOUNCE_TRACE), replay_label="user-unknown-bounce (replay)")

    async def to_the_bounce(pilot: Pilot) -> None:
        screen = await _run_screen(pilot)
        while not isinstance(screen.session.selected if screen.session else None, Bounce):
            assert await screen.step_once(), "the trace has no bounce"
        await pilot.press("g")
        await pilot.pause()

    assert snap_compare(app, terminal_size=LARGE, run_before=to_the_bounce)


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record_trace()
        record_trace(BOUNCE_TRACE, "user-unknown-bounce", frozenset())
        print(f"wrote {TRACE} and {BOUNCE_TRACE}")
    else:
        print(__doc__)
