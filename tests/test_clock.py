"""Clocks: alarms fire when world time reaches them, however the clock got there."""

from __future__ import annotations

import asyncio

from tutor.clock import FastForwardClock, RealClock, SimulatedClock

T0 = 1_700_000_000.0


async def test_simulated_alarms_fire_in_order_when_a_jump_passes_them() -> None:
    clock = SimulatedClock(T0)
    fired: list[str] = []
    clock.call_at(T0 + 3600, lambda: fired.append(f"1h at {clock.now() - T0:.0f}"))
    clock.call_at(T0 + 60, lambda: fired.append(f"1m at {clock.now() - T0:.0f}"))
    clock.advance(59)
    assert fired == []
    await clock.sleep(7200)  # one jump over both: each fires at its own time
    assert fired == ["1m at 60", "1h at 3600"]
    assert clock.now() == T0 + 7259
    clock.advance(86400)
    assert len(fired) == 2  # each alarm fires once


async def test_a_simulated_alarm_already_due_fires_on_the_next_loop_turn() -> None:
    clock = SimulatedClock(T0)
    fired: list[float] = []
    clock.call_at(T0 - 1, lambda: fired.append(clock.now()))
    assert fired == []
    await asyncio.sleep(0)
    assert fired == [T0]


async def test_fast_forward_alarms_fire_on_a_skipped_wait_or_in_real_time() -> None:
    clock = FastForwardClock(T0)
    fired: list[str] = []
    clock.call_at(clock.now() + 0.05, lambda: fired.append("reached"))
    await asyncio.sleep(0.1)
    assert fired == ["reached"]
    due = clock.now() + 300
    clock.call_at(due, lambda: fired.append(f"skipped to, at +{clock.now() - due:.0f} s"))
    await clock.sleep(299)
    assert fired == ["reached"]
    await clock.sleep(3600)
    assert fired == ["reached", "skipped to, at +0 s"]


async def test_held_fast_forward_time_stands_still_but_still_skips_waits() -> None:
    clock = FastForwardClock(T0)
    fired: list[str] = []
    clock.call_at(clock.now() + 0.05, lambda: fired.append("alarm"))
    with clock.held():
        frozen = clock.now()
        await asyncio.sleep(0.1)  # the learner reads the screen
        assert clock.now() == frozen
        assert fired == []  # due 0.05 s of world time later, and world time has not moved
        await clock.sleep(10)  # a skipped wait still moves a held clock
        assert clock.now() == frozen + 10
        assert fired == ["alarm"]
    clock.call_at(clock.now() + 0.05, lambda: fired.append("after"))
    await asyncio.sleep(0.01)
    assert frozen + 10 <= clock.now() < frozen + 10.05  # goes on from where it stood
    await asyncio.sleep(0.1)
    assert fired == ["alarm", "after"]


async def test_an_alarm_whose_timer_ran_out_during_a_hold_fires_after_it() -> None:
    clock = FastForwardClock(T0)
    fired: list[float] = []
    due = clock.now() + 0.03
    clock.call_at(due, lambda: fired.append(clock.now()))
    with clock.held():
        await asyncio.sleep(0.06)  # its real-time timer fires now, against frozen time
    assert fired == []
    await asyncio.sleep(0.1)
    assert len(fired) == 1 and fired[0] >= due


async def test_real_clock_alarms_wait_real_time() -> None:
    clock = RealClock()
    done = asyncio.Event()
    clock.call_at(clock.now() + 0.05, done.set)
    assert not done.is_set()
    await asyncio.wait_for(done.wait(), 1)


def test_spoken_span_keeps_whole_units_and_rounds_the_rest_down() -> None:
    from tutor.clock import spoken_span

    said = [spoken_span(s) for s in (45, 300, 3600, 5400, 86400, 90000, 35 * 86400 + 5)]
    assert said == ["45 s", "5 min", "1 h", "90 min", "1 day", "25 h", "35 days"]
