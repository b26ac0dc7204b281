"""tutor.story: the folds views and quizzes share, checked against real runs of shipped scenarios.

Each scenario is run once per test session through the runner (a real world on loopback) and
its trace reused; what story says is compared with what the trace plainly shows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import smtplib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tutor import story
from tutor.run import ClockKind, open_run
from tutor.scenario import shipped_scenarios
from tutor.story import Prompt
from tutor.trace import (
    AuthResult,
    BounceAction,
    Direction,
    DnsAnswer,
    DnsQuery,
    Event,
    Outcome,
    PolicyAction,
    PolicyCheck,
    PolicyResult,
    RecipientResult,
    Side,
    SmtpLine,
    Stage,
    TcpClose,
    TcpConnect,
    TlsHandshake,
)

_RUNS: dict[str, list[Event]] = {}


def recorded(name: str, tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The events of one real run of ``name`` (run once per test session)."""
    if name not in _RUNS:

        async def run() -> list[Event]:
            keep = tmp_path_factory.mktemp(f"story-{name}")
            async with open_run(name, keep=keep) as handle:
                await handle.finish()
                return list(handle.trace.events)

        _RUNS[name] = asyncio.run(run())
    return _RUNS[name]


@pytest.fixture
def run_of(tmp_path_factory: pytest.TempPathFactory):
    return lambda name: recorded(name, tmp_path_factory)


def _exchange(exchanges: Sequence[story.Exchange], verb: str) -> story.Exchange:
    return next(e for e in exchanges if e.verb == verb)


# --------------------------------------------------------------------------- the two sides


def test_every_line_of_hello_is_paired_with_the_same_bytes_from_the_other_end(run_of) -> None:
    events = run_of("hello")
    pairs = story.pair_sides(events)
    lines = [i for i, e in enumerate(events) if isinstance(e, SmtpLine)]
    assert lines
    for index in lines:
        twin = pairs.twin(index)
        line = events[index]
        assert isinstance(twin, SmtpLine), f"no twin for {line}"
        assert twin.side != line.side
        assert (twin.data, twin.direction, twin.session) == (
            line.data,
            line.direction,
            line.session,
        )
        assert (twin.sender, twin.receiver) == (line.sender, line.receiver)
        assert pairs.twin(pairs.twin_index(index)) is line  # the pairing goes both ways


@pytest.mark.parametrize("name", [path.stem for path in shipped_scenarios()])
def test_in_every_shipped_scenario_only_one_ended_steps_lack_a_twin(run_of, name: str) -> None:
    """A failed connect has no server side and a cached DNS answer no DNS server side; every
    other record of a step both ends make has its twin, with the same content."""
    events = run_of(name)
    for step in story.pair_sides(events).steps():
        if step.client is None or step.server is None:
            lone = step.client or step.server
            failed_connect = isinstance(lone, TcpConnect) and not lone.ok
            cached = isinstance(lone, DnsQuery | DnsAnswer) and lone.transport == "cache"
            assert failed_connect or cached, f"{name}: one-ended {lone}"
            continue
        assert type(step.client) is type(step.server)
        assert (step.client.side, step.server.side) == (Side.CLIENT, Side.SERVER)
        if isinstance(step.client, SmtpLine):
            assert step.client.data == step.server.data
        if isinstance(step.client, DnsAnswer):
            assert set(step.client.answer) == set(step.server.answer)  # order may differ
            assert step.client.rcode == step.server.rcode


def test_twin_kinds_are_the_records_both_ends_make() -> None:
    kinds = set(story.TWO_ENDED_KINDS)
    assert kinds == {SmtpLine, TcpConnect, TcpClose, TlsHandshake, AuthResult, DnsQuery, DnsAnswer}
    copy = SmtpLine(
        side=Side.SERVER,
        session="s1",
        direction=Direction.CLIENT_TO_SERVER,
        data=b"QUIT\r\n",
        sender="a",
        receiver="b",
    )
    assert story.is_server_copy(copy)
    assert not story.is_server_copy(dataclasses.replace(copy, side=Side.CLIENT))


def test_a_recording_whose_two_ends_named_their_sessions_apart_still_pairs(run_of) -> None:
    """Version 1 files from before both ends shared an id: the server's sessions are joined to
    the client's by the TCP endpoints both recorded."""

    def apart(event: Event) -> Event:
        if event.side == Side.SERVER and event.session:
            return dataclasses.replace(event, session=f"srv-{event.session}")
        return event

    events = [apart(e) for e in run_of("hello")]
    found = story.sessions(events)
    assert [s.id for s in found] == ["s1", "s2"]
    assert all(s.seen_by_both and not s.from_outside for s in found)
    pairs = story.pair_sides(events)
    assert all(pairs.twin(i) is not None for i, e in enumerate(events) if isinstance(e, SmtpLine))


# --------------------------------------------------------------------------- sessions


def test_hello_has_a_submission_session_then_an_mx_session_both_seen_from_both_ends(
    run_of,
) -> None:
    events = run_of("hello")
    submission, relay = story.sessions(events)
    assert (submission.client, submission.server) == ("laptop.example.org", "smtp.example.org")
    assert (relay.client, relay.server) == ("smtp.example.org", "mx1.example.net")
    for session in (submission, relay):
        assert session.sides == {Side.CLIENT, Side.SERVER}
        assert session.connected and not session.from_outside
        assert session.started <= session.ended
        assert all(e.session == session.id for e in session.events)
    assert submission.started < relay.started
    assert story.sessions_from_outside(events) == ()


async def test_a_learners_own_session_is_known_from_the_trace_as_from_outside(tmp_path) -> None:
    """What the run handle knows from the world, story reads from the trace alone."""
    async with open_run("hello", clock=ClockKind.REAL, keep=tmp_path) as run:
        mx = next(h for h in run.state.info.hosts if h.role == "mx")
        address = "127.0.0.1" if run.state.info.shared_loopback else mx.address

        def talk() -> None:
            with smtplib.SMTP(address, mx.ports["smtp"], timeout=5) as smtp:
                smtp.ehlo("student.example")

        await asyncio.to_thread(talk)

        def closed() -> bool:
            outside = run.state.outside_sessions
            return any(isinstance(e, TcpClose) and e.session in outside for e in run.trace)

        for _ in range(200):
            if closed():
                break
            await asyncio.sleep(0.01)
        events = list(run.trace.events)
        outside = run.state.outside_sessions
    found = story.sessions_from_outside(events)
    assert tuple(s.id for s in found) == outside and len(outside) == 1
    (learner,) = found
    assert learner.sides == {Side.SERVER} and learner.server == mx.name
    exchanges = story.exchanges(events, learner.id)
    assert exchanges[0].prompt is Prompt.GREETING and exchanges[0].code == 220
    ehlo = _exchange(exchanges, "EHLO")
    assert ehlo.command == "ehlo student.example" and ehlo.code == 250
    assert ehlo.answered_by == mx.name


# --------------------------------------------------------------------------- exchanges


def test_hello_exchanges_say_which_host_answered_which_command(run_of) -> None:
    events = run_of("hello")
    submission, relay = story.sessions(events)
    first = story.exchanges(events, submission.id)
    assert first[0].prompt is Prompt.GREETING
    assert first[0].reply == ("220 smtp.example.org ESMTP",)
    ehlo = _exchange(first, "EHLO")
    assert ehlo.code == 250 and len(ehlo.reply) > 1 and ehlo.reply[-1].startswith("250 ")
    assert _exchange(first, "AUTH").code == 235
    rcpt = story.answer_to(events, "RCPT TO:<bob@example.net>", host="mx1.example.net")
    assert rcpt is not None and rcpt.session == relay.id
    assert (rcpt.asked_by, rcpt.answered_by, rcpt.code) == (
        "smtp.example.org",
        "mx1.example.net",
        250,
    )
    content = next(e for e in story.exchanges(events, relay.id) if e.prompt is Prompt.CONTENT)
    assert content.code == 250 and "queued as" in content.reply_text
    verbs = [c.split(" ", 1)[0].split(":")[0] for c in story.commands(events, relay.id)]
    assert verbs == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


def test_every_reply_line_the_client_saw_is_in_exactly_one_exchange(run_of) -> None:
    events = run_of("partial")
    for session in story.sessions(events):
        replies = [
            e
            for e in session.events
            if isinstance(e, SmtpLine)
            and e.side == Side.CLIENT
            and e.direction == Direction.SERVER_TO_CLIENT
        ]
        exchanges = story.exchanges(events, session.id)
        assert sum(len(e.reply) for e in exchanges) == len(replies)


def test_the_mx_refuses_the_unknown_recipient_at_rcpt(run_of) -> None:
    events = run_of("user-unknown-bounce")
    refused = story.answer_to(events, "rcpt to:<robert@example.net>", host="mx.example.net")
    assert refused is not None and refused.code == 550
    assert refused.reply_text.startswith("550 5.1.1 <robert@example.net>")


# --------------------------------------------------------------------------- stages


def test_a_stage_is_ticked_only_in_the_hop_where_it_happened(run_of) -> None:
    events = run_of("hello")
    submission, relay = story.hop_stages(events)
    assert submission.happened(Stage.AUTH) and not relay.happened(Stage.AUTH)
    for hop in (submission, relay):
        assert hop.happened(Stage.EHLO) and hop.happened(Stage.STARTTLS)
    assert relay.happened(Stage.DELIVERY) and not submission.happened(Stage.DELIVERY)
    assert relay.stages.index(Stage.EHLO) < relay.stages.index(Stage.DATA)
    assert Stage.DNS in story.stages_seen(events) and Stage.FILTERING not in story.stages_seen(
        events
    )


def test_a_policy_check_marks_filtering_in_the_hop_that_ran_it(run_of) -> None:
    events = run_of("dmarc-reject")
    hops = {h.server: h for h in story.hop_stages(events)}
    assert hops["mx.example.net"].happened(Stage.FILTERING)
    assert not any(h.happened(Stage.FILTERING) for s, h in hops.items() if s != "mx.example.net")


# --------------------------------------------------------------------------- MX choice


def test_the_sender_connects_to_the_lowest_preference_mx_first_and_falls_back(run_of) -> None:
    events = run_of("mx-fallback")
    (choice,) = story.mx_choices(events)
    assert choice.domain == "example.net" and choice.host == "smtp.example.org"
    assert [(r.preference, r.exchange) for r in choice.by_preference] == [
        (10, "mx1.example.net"),
        (20, "mx2.example.net"),
    ]
    assert choice.first_connected == "mx1.example.net"
    assert [(c.exchange, c.ok) for c in choice.connections] == [
        ("mx1.example.net", False),
        ("mx2.example.net", True),
    ]


def test_each_retry_looks_the_mx_up_again_and_tries_both_in_order(run_of) -> None:
    events = run_of("mx-down")
    choices = story.mx_choices(events)
    assert len(choices) > 1 and not choices[0].cached and any(c.cached for c in choices)
    for choice in choices:
        order = [c.exchange for c in choice.connections]
        assert order == [r.exchange for r in choice.by_preference][: len(order)]


# --------------------------------------------------------------------------- retries


def test_greylisting_retry_comes_about_five_minutes_after_the_first_450(run_of) -> None:
    events = run_of("greylist")
    (gap,) = story.retry_gaps(events)
    assert gap.reply.startswith("450 4.2.0")
    assert 240 <= gap.seconds <= 301  # after the greylist delay; Postfix retries at 300 s
    assert gap.scheduled_at is not None and abs(gap.retried_at - gap.scheduled_at) < 1
    (timeline,) = story.build_timelines(events)
    first, second = timeline.attempts
    assert [str(r.outcome) for r in first.results] == [Outcome.DEFERRED]
    assert [str(r.outcome) for r in second.results] == [Outcome.DELIVERED]
    assert second.left_queue and not first.left_queue


def test_a_message_for_a_dead_mx_is_retried_with_growing_gaps_then_returned(run_of) -> None:
    events = run_of("mx-down")
    original = story.build_timelines(events)[0]
    assert original.retried and original.attempts[-1].left_queue
    assert [d.action for d in original.attempts[-1].dsns] == [BounceAction.FAILED]
    for attempt in original.attempts[:-1]:
        assert attempt.next_at is not None and attempt.next_at > attempt.at
    gaps = [g.seconds for g in story.retry_gaps(events) if g.queue_id == original.queue_id]
    assert len(gaps) == len(original.attempts) - 1
    assert all(b >= a - 1 for a, b in itertools.pairwise(gaps))  # backoff never shrinks


# --------------------------------------------------------------------------- DSNs


def test_the_dsn_carries_the_status_and_diagnostic_of_the_mx_reply(run_of) -> None:
    events = run_of("user-unknown-bounce")
    (dsn,) = story.dsns(events)
    robert = "robert@example.net"
    assert dsn.action == BounceAction.FAILED and dsn.recipients == (robert,)
    assert dsn.value("Action", robert) == "failed"
    assert dsn.value("Status", robert) == "5.1.1"
    assert dsn.value("remote-mta", robert) == "mx.example.net"
    refused = story.answer_to(events, f"RCPT TO:<{robert}>", host="mx.example.net")
    assert refused is not None and dsn.value("Diagnostic-Code", robert) == refused.reply_text
    by_seq = {e.seq: e for e in events}
    causes = story.dsn_causes(next(e for e in events if e.seq == dsn.seq))
    per_recipient = next(c for c in causes if c.recipient == robert)
    assert isinstance(by_seq[per_recipient.seq], RecipientResult)
    assert [f.field for f in per_recipient.fields][:2] == ["Action", "Status"]


def test_a_delay_warning_and_the_final_report_both_say_4_4_1(run_of) -> None:
    events = run_of("mx-down")
    warning, final = story.dsns(events)
    assert (warning.action, final.action) == (BounceAction.DELAYED, BounceAction.FAILED)
    recipient = final.recipients[0]
    assert warning.value("Status", recipient) == final.value("Status", recipient) == "4.4.1"


# --------------------------------------------------------------------------- verdicts


def test_dmarc_rejects_because_neither_passing_identifier_is_aligned(run_of) -> None:
    events = run_of("dmarc-reject")
    by_check = story.verdicts_by_check(events)
    assert set(by_check) == {PolicyCheck.SPF, PolicyCheck.DKIM, PolicyCheck.DMARC}
    assert len(by_check[PolicyCheck.SPF]) == 2  # the HELO identity, then MAIL FROM
    (dmarc,) = story.verdicts(events, PolicyCheck.DMARC)
    assert (dmarc.result, dmarc.action) == (PolicyResult.FAIL, PolicyAction.REJECT)
    alignment = {a.identifier: a for a in story.dmarc_alignment(dmarc)}
    assert set(alignment) == {"dkim", "spf"}
    for found in alignment.values():
        assert found.passed and not found.aligned
        assert (found.domain, found.from_domain, found.mode) == (
            "example.com",
            "example.org",
            "relaxed",
        )


def test_a_failed_signature_cannot_align_at_all(run_of) -> None:
    events = run_of("dkim-tamper")
    (dmarc,) = story.verdicts(events, PolicyCheck.DMARC)
    (dkim,) = story.dmarc_alignment(dmarc)
    assert (dkim.identifier, dkim.passed, dkim.aligned) == ("dkim", False, False)


# --------------------------------------------------------------------------- message growth


def test_the_message_grows_a_received_header_at_each_relay(run_of) -> None:
    events = run_of("hello")
    state = story.message_state(events)
    assert state is not None
    hops = ("laptop.example.org", "smtp.example.org", "mx1.example.net", "bob@example.net mailbox")
    assert state.hops == hops
    received = [h.added_by for h in state.headers if h.name == "Received"]
    assert "smtp.example.org" in received and "mx1.example.net" in received


# --------------------------------------------------------------------------- layering


def test_story_loads_without_textual_the_world_or_the_views() -> None:
    code = (
        "import sys, tutor.story; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual' or "
        "m.startswith(('tutor.world', 'tutor.ui', 'tutor.render', 'tutor.policy'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_story_names_load_on_first_use_and_a_plain_transcript_loads_only_its_folds() -> None:
    code = (
        "import sys, tutor.story as s; "
        "assert sorted(s.__all__) == sorted(s._HOME), 'story.__all__ and _HOME differ'; "
        "import tutor.render.transcript; "
        "print(' '.join(m for m in sys.modules if m.startswith('tutor.story.')))"
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = {name.removeprefix("tutor.story.") for name in result.stdout.split()}
    assert loaded == {"session", "side", "dsn", "timeline"}
    assert callable(story.sessions) and callable(story.exchanges) and callable(story.verdicts)
