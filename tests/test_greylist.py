"""Greylisting as postgrey does it, on the simulated clock."""

from __future__ import annotations

from email import message_from_string
from email.policy import default

from tutor.clock import SimulatedClock
from tutor.policy.greylist import (
    Greylist,
    GreylistAction,
    GreylistPolicy,
    GreylistResult,
    client_network,
    normalise_sender,
)
from tutor.policy.verdict import Action

T0 = 1_732_784_400.0  # 2024-11-28 09:00:00 UTC
MTA = "127.0.0.12"
ALICE, BOB = "alice@example.org", "bob@example.net"


def make(tmp_path=None, **options) -> tuple[SimulatedClock, Greylist]:
    clock = SimulatedClock(T0)
    store = tmp_path / "greylist.json" if tmp_path is not None else None
    return clock, Greylist(clock, store, GreylistPolicy(hostname="mx1.example.net", **options))


def test_first_attempt_is_deferred_with_postgrey_s_450_4_2_0_and_its_help_url():
    _clock, greylist = make()
    decision = greylist.check(MTA, ALICE, BOB)

    assert decision.action == GreylistAction.DEFER
    assert decision.result == GreylistResult.NEW
    assert decision.seconds_left == 300
    assert decision.reply == (
        "450 4.2.0 <bob@example.net>: Recipient address rejected: "
        "Greylisted, see http://postgrey.schweikert.ch/help/example.net.html"
    )
    assert decision.triplet == ("127.0.0.0", ALICE, BOB)


def test_a_retry_before_300_seconds_is_still_deferred_with_the_time_left():
    clock, greylist = make()
    greylist.check(MTA, ALICE, BOB)
    clock.advance(299)
    decision = greylist.check(MTA, ALICE, BOB)

    assert decision.deferred and decision.result == GreylistResult.EARLY_RETRY
    assert decision.seconds_left == 1
    assert decision.reply.startswith("450 4.2.0 ")
    assert decision.postgrey_reason == "early-retry (1s missing)"


def test_a_retry_after_300_seconds_passes_with_an_x_greylist_header():
    clock, greylist = make()
    greylist.check(MTA, ALICE, BOB)
    clock.advance(301)
    decision = greylist.check(MTA, ALICE, BOB)

    assert decision.action == GreylistAction.PASS and decision.result == GreylistResult.PASSED
    assert decision.delayed == 301
    assert decision.header == (
        "X-Greylist: delayed 301 seconds by smtp-tutor greylist at mx1.example.net; "
        "Thu, 28 Nov 2024 09:05:01 +0000"
    )
    parsed = message_from_string(decision.header + "\n\nbody\n", policy=default)
    assert parsed["X-Greylist"].startswith("delayed 301 seconds")


def test_once_passed_the_triplet_passes_at_once_without_a_header():
    clock, greylist = make()
    greylist.check(MTA, ALICE, BOB)
    clock.advance(400)
    greylist.check(MTA, ALICE, BOB)
    clock.advance(86400)
    decision = greylist.check(MTA, ALICE, BOB)
    assert decision.result == GreylistResult.KNOWN and decision.header == ""


def test_another_address_of_the_same_slash_24_counts_as_the_same_client():
    clock, greylist = make()
    greylist.check("127.0.0.12", ALICE, BOB)
    clock.advance(300)
    assert greylist.check("127.0.0.99", ALICE, BOB).result == GreylistResult.PASSED
    assert client_network("192.0.2.77") == "192.0.2.0"
    assert client_network("192.0.2.77", lookup_by_host=True) == "192.0.2.77"


def test_senders_are_normalised_like_postgrey_so_verp_and_batv_do_not_make_new_triplets():
    assert normalise_sender("List+bounces-1234@Lists.Example.org") == "list@lists.example.org"
    assert normalise_sender("bounce-1234-99@example.org") == "bounce-#-#@example.org"
    assert normalise_sender("prvs=0123456789=alice@example.org") == "alice@example.org"
    assert normalise_sender("") == ""
    clock, greylist = make()
    greylist.check(MTA, "news+1@example.org", BOB)
    clock.advance(300)
    assert greylist.check(MTA, "news+2@example.org", BOB).result == GreylistResult.PASSED


def test_a_first_retry_after_the_two_day_retry_window_starts_over():
    clock, greylist = make()
    greylist.check(MTA, ALICE, BOB)
    clock.advance(2 * 86400 + 1)
    decision = greylist.check(MTA, ALICE, BOB)
    assert decision.deferred and decision.result == GreylistResult.NEW


def test_a_triplet_unseen_for_35_days_is_forgotten():
    clock, greylist = make()
    greylist.check(MTA, ALICE, BOB)
    clock.advance(300)
    greylist.check(MTA, ALICE, BOB)
    clock.advance(35 * 86400 + 1)
    assert greylist.check(MTA, ALICE, BOB).result == GreylistResult.NEW


def test_a_client_that_passed_five_times_is_auto_whitelisted():
    clock, greylist = make()
    for n in range(5):
        rcpt = f"user{n}@example.net"
        greylist.check(MTA, ALICE, rcpt)
        clock.advance(3600)  # postgrey counts at most one pass per hour
        assert greylist.check(MTA, ALICE, rcpt).result == GreylistResult.PASSED
    decision = greylist.check(MTA, ALICE, "someone-new@example.net")
    assert decision.action == GreylistAction.PASS
    assert decision.result == GreylistResult.WHITELISTED


def test_the_state_survives_a_restart_through_its_json_file(tmp_path):
    clock, greylist = make(tmp_path)
    greylist.check(MTA, ALICE, BOB)
    clock.advance(300)
    again = Greylist(clock, tmp_path / "greylist.json", greylist.policy)
    assert again.check(MTA, ALICE, BOB).result == GreylistResult.PASSED


def test_the_decision_is_a_policy_verdict_with_its_reasons():
    _clock, greylist = make()
    verdict = greylist.evaluate(MTA, ALICE, BOB)
    assert verdict.check == "greylist" and verdict.result == "new"
    assert verdict.action == Action.DEFER
    assert verdict.reply.startswith("450 4.2.0")
    assert any("never seen before" in reason for reason in verdict.reasons)
    event = verdict.to_event(host="mx1.example.net")
    assert event.action == "defer" and event.check == "greylist"


def test_a_scenario_greylist_table_overrides_the_postgrey_defaults():
    policy = GreylistPolicy.from_overrides({"delay": 60.0, "auto_whitelist_clients": 2.0}, "mx1")
    assert (policy.delay, policy.auto_whitelist_clients, policy.hostname) == (60.0, 2, "mx1")
    assert policy.retry_window == 2 * 86400
