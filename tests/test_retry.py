"""Postfix's retry schedule: backoff by age, queue-run alignment, expiry and the delay warning."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tutor.world.queue.retry import DAY, HOUR, RetryPolicy, schedule, timeline

T0 = 1_700_000_000.0


def test_the_backoff_is_the_age_of_the_message_clamped_to_300_and_4000_seconds():
    policy = RetryPolicy()
    assert policy.backoff(T0, T0) == 300  # brand new: the minimum
    assert policy.backoff(T0, T0 + 1200) == 1200  # age, not "double the last interval"
    assert policy.backoff(T0, T0 + 3 * HOUR) == 4000  # the ceiling


def test_a_deferred_message_is_taken_by_the_first_queue_run_after_its_wakeup():
    policy = RetryPolicy()
    # deferred at age 4800 s: wake-up at +4000 s = 8800 s, the next 300 s queue run is 9000 s
    assert policy.next_attempt(T0, T0 + 4800) == T0 + 8800
    assert policy.next_attempt(T0, T0 + 4800, epoch=T0) == T0 + 9000
    # a run up to one second early still takes the file (Postfix's st_mtime > now + 1 test)
    assert policy.next_queue_run(T0 + 300.5, epoch=T0) == T0 + 300


def test_the_five_day_schedule_to_a_dead_destination_has_108_attempts_at_postfix_times():
    times = [t - T0 for t in schedule(T0, RetryPolicy())]

    assert times[:8] == [0, 300, 600, 1200, 2400, 4800, 9000, 13200]
    assert all(b - a == 4200 for a, b in pairwise(times[6:]))
    assert times[-2] == 429_000  # the last attempt inside the five days
    assert times[-1] == 433_200  # the first attempt past them: it fails, the message is returned
    assert len(times) == 108
    assert len(schedule(T0, RetryPolicy(), until_expiry=False)) == 107


def test_without_queue_run_alignment_the_ceiling_gives_4000_second_steps():
    times = [t - T0 for t in schedule(T0, RetryPolicy(queue_run_delay=0))]
    assert times[:7] == [0, 300, 600, 1200, 2400, 4800, 8800]
    assert times[-1] == 432_800 and len(times) == 113


def test_a_scenario_can_shrink_the_schedule():
    policy = RetryPolicy(
        queue_run_delay=60,
        minimal_backoff_time=60,
        maximal_backoff_time=120,
        maximal_queue_lifetime=600,
    )
    assert [t - T0 for t in schedule(T0, policy)] == [0, 60, 120, 240, 360, 480, 600]


def test_expiry_uses_bounce_queue_lifetime_for_a_bounce():
    policy = RetryPolicy(maximal_queue_lifetime=5 * DAY, bounce_queue_lifetime=1 * DAY)
    assert not policy.expired(T0, T0 + 2 * DAY, is_bounce=False)
    assert policy.expired(T0, T0 + 2 * DAY, is_bounce=True)
    assert policy.expired(T0, T0 + 5 * DAY)  # exactly the lifetime: returned (>=, as Postfix)


def test_one_delay_warning_goes_out_after_the_first_attempt_past_delay_warning_time():
    plan = timeline(T0, RetryPolicy(delay_warning_time=4 * HOUR))
    warnings = [step for step in plan if step.warning]
    assert [step.at - T0 for step in warnings] == [17_400]  # first attempt at or after 4 h
    assert plan[-1].returned and plan[-1].next_at is None
    assert not any(step.warning for step in timeline(T0, RetryPolicy()))  # 0 = off


def test_a_bounce_is_never_warned_about():
    plan = timeline(T0, RetryPolicy(delay_warning_time=HOUR), is_bounce=True)
    assert not any(step.warning for step in plan)


def test_nonsense_backoff_ranges_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(minimal_backoff_time=5000, maximal_backoff_time=4000)


def test_a_scenario_retry_table_overrides_only_what_it_names():
    policy = RetryPolicy.from_overrides({"maximal_queue_lifetime": 3600, "delay_warning_time": 60})
    assert policy.maximal_queue_lifetime == 3600 and policy.delay_warning_time == 60
    assert policy.minimal_backoff_time == 300 and policy.bounce_queue_lifetime == 5 * DAY
