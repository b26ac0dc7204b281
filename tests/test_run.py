"""The runner: one way to run a world, and the read-only view of its state it hands readers."""

from __future__ import annotations

import asyncio
import smtplib

from tutor.run import ClockKind, RunHandle, TraceView
from tutor.runstate import StepKind
from tutor.trace import ScenarioFinished, ScenarioStarted


async def test_a_finished_run_shows_the_real_mailbox_queue_log_and_zone(start_run) -> None:
    async with start_run("hello") as run:
        assert isinstance(run, RunHandle) and isinstance(run.trace, TraceView)
        result = await run.finish()
        assert result.ok
        state = run.state
        boxes = state.mailboxes()
        (message,) = boxes["bob@example.net"]
        assert message.folder == "INBOX" and message.subject
        assert message.raw.startswith(b"Return-Path: <alice@example.org>")
        assert state.queue() == []  # settled: nothing left in the sender's queue
        statuses = [r.get("status") for r in state.log_records() if r["kind"] == "delivery"]
        assert "sent" in statuses
        assert "MX" in state.zone_text() and "example.net" in state.zone_text()
        names = {h.name for h in state.info.hosts}
        assert "mx1.example.net" in names or any(n.startswith("mx") for n in names)
        assert state.info.dns_port > 0
        assert state.outside_sessions == ()  # every session came from a world host
    kinds = [type(e) for e in run.trace]
    assert kinds[0] is ScenarioStarted and kinds[-1] is ScenarioFinished


async def test_a_stepped_run_says_what_it_waits_for_and_moves_one_step_per_release(
    start_run,
) -> None:
    async with start_run("hello", stepped=True) as run:
        task = asyncio.ensure_future(run.finish())
        for _ in range(200):
            if run.waiting is not None:
                break
            await asyncio.sleep(0.005)
        step = run.waiting
        assert step is not None and step.kind is StepKind.CONNECT
        assert str(step).startswith("connect to ")
        before = len(run.trace)
        assert run.release()
        for _ in range(200):
            if len(run.trace) > before:
                break
            await asyncio.sleep(0.005)
        assert len(run.trace) > before
        run.play()
        result = await asyncio.wait_for(task, 20)
        assert result.ok


async def test_a_session_from_outside_the_world_is_named_as_such(start_run) -> None:
    async with start_run("hello", clock=ClockKind.REAL) as run:
        mx = next(h for h in run.state.info.hosts if h.role == "mx")
        address = "127.0.0.1" if run.state.info.shared_loopback else mx.address

        def talk() -> None:
            with smtplib.SMTP(address, mx.ports["smtp"], timeout=5) as smtp:
                smtp.ehlo("student.example")

        await asyncio.to_thread(talk)
        for _ in range(100):
            if run.state.outside_sessions:
                break
            await asyncio.sleep(0.01)
        assert len(run.state.outside_sessions) == 1
