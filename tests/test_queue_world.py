"""The queue in the real world: Postfix's retry schedule, greylists, faults, DSNs, logs, kill -9."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import subprocess
import sys
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from tutor.render.runverdict import NOT_JUDGED, run_verdict
from tutor.scenario import Fault, load_scenario, parse_scenario
from tutor.trace import (
    Bounce,
    Direction,
    LogLine,
    Note,
    Outcome,
    PolicyVerdict,
    QueueChange,
    RecipientResult,
    Side,
    SmtpLine,
)
from tutor.world.queue.retry import RetryPolicy, schedule, timeline

ROOT = Path(__file__).parent.parent
ALICE, BOB, CAROL = "alice@example.org", "bob@example.net", "carol@example.net"


def attempts_of(world, queue_id: str) -> list[float]:
    """World times at which a message entered the active queue (one per attempt)."""
    return [
        e.time
        for e in world.trace.of_type(QueueChange)
        if e.queue_id == queue_id and e.state == "active"
    ]


def first_queue_id(world) -> str:
    return next(e.queue_id for e in world.trace.of_type(QueueChange) if e.state == "incoming")


def client_lines(world, receiver: str) -> list[str]:
    return [
        e.text
        for e in world.trace.of_type(SmtpLine)
        if e.side is Side.CLIENT
        and e.receiver == receiver
        and e.direction is Direction.CLIENT_TO_SERVER
        and not e.is_payload
    ]


def dsn_parts(stored) -> tuple[list, list]:
    """(the three parts, the per-recipient field blocks) of a DSN in a Maildir."""
    parts = list(stored.message.iter_parts())
    blocks = parts[1].get_payload()
    return parts, blocks[1:]


# --------------------------------------------------------------------------- mx-down


async def test_mx_down_retries_on_postfix_schedule_warns_then_returns_the_message(
    start_world,
) -> None:
    async with start_world("mx-down") as world:
        result = await world.run()
        inbox = world.mailboxes.messages(ALICE)
    assert result.ok, result.mismatches
    qid = first_queue_id(world)
    arrival = next(e.time for e in world.trace.of_type(QueueChange) if e.queue_id == qid)
    policy = RetryPolicy.from_overrides(world.scenario.timing.retry)
    expected = schedule(arrival, policy)
    actual = attempts_of(world, qid)
    # Every attempt is a queue run: the same number, each within the second of the plan
    # (the plan counts from arrival, the runner from its start a few ms earlier).
    assert len(actual) == len(expected) == 108
    assert max(abs(a - e) for a, e in zip(actual, expected, strict=True)) < 1.0
    gaps = [b - a for a, b in itertools.pairwise(actual)]
    assert [round(g) for g in gaps[:6]] == [300, 300, 600, 1200, 2400, 4200]
    assert all(round(g) == 4200 for g in gaps[6:])
    assert actual[-1] - arrival >= 5 * 86400
    # every attempt was a real connection to both MX, refused
    refused = [
        e
        for e in world.trace.of_type(RecipientResult)
        if e.queue_id == qid and "Connection refused" in e.reply
    ]
    assert len(refused) == 108

    # one delay warning at the first attempt 4 h in, then the non-delivery notice
    warning_at = next(s.at for s in timeline(arrival, policy) if s.warning)
    bounces = [b for b in world.trace.of_type(Bounce) if b.queue_id == qid]
    assert [b.action for b in bounces] == ["delayed", "failed"]
    assert abs(bounces[0].time - warning_at) < 1.0
    assert [m.subject for m in inbox] == [
        "Delayed Mail (still being retried)",
        "Undelivered Mail Returned to Sender",
    ]
    _, (delayed,) = dsn_parts(inbox[0])
    assert (delayed["Action"], delayed["Status"]) == ("delayed", "4.4.1")
    assert "Will-Retry-Until" in delayed
    parts, (failed,) = dsn_parts(inbox[1])
    assert (failed["Action"], failed["Status"]) == ("failed", "4.4.1")
    assert failed["Final-Recipient"] == f"rfc822; {BOB}"
    assert "Connection refused" in failed["Diagnostic-Code"]
    assert parts[2].get_content_type() == "message/rfc822"


# --------------------------------------------------------------------------- greylisting


async def test_greylist_scenario_defers_then_delivers_five_minutes_later_with_x_greylist(
    start_world,
) -> None:
    async with start_world("greylist") as world:
        result = await world.run()
        (stored,) = world.mailboxes.messages(BOB)
    assert result.ok, result.mismatches
    results = world.results
    assert [r.outcome for r in results] == [Outcome.DEFERRED, Outcome.DELIVERED]
    assert results[0].reply.startswith("450 4.2.0")
    assert round(results[1].time - results[0].time) == 300
    assert stored.message["X-Greylist"].startswith("delayed 299 seconds") or stored.message[
        "X-Greylist"
    ].startswith("delayed 300 seconds")


async def test_a_learner_stepping_slowly_does_not_move_world_time_or_the_retry(
    start_world,
) -> None:
    """Time spent at a closed step gate is the reader's, not the mail's: stepping greylist at
    a slow pace gives the timeline of a plain run (the retry at the 5-minute queue run)."""
    async with start_world("greylist") as world:
        world.gate.close()
        started = world.clock.now()

        async def learner() -> None:
            while True:
                await asyncio.sleep(0.06)  # about 20 steps before the first attempt: over 1 s
                world.gate.release()

        stepping = asyncio.create_task(learner())
        try:
            await world.run()
        finally:
            stepping.cancel()
    first, second = world.results
    assert first.outcome is Outcome.DEFERRED and second.outcome is Outcome.DELIVERED
    assert first.time - started < 0.3, first.time - started  # however long the learner took
    assert round(second.time - started) == 300


async def test_what_if_toggles_bring_greylisting_and_a_421_greeting_to_any_scenario(
    start_world,
) -> None:
    async with start_world("hello", what_ifs=frozenset({"greylist", "greet-421"})) as world:
        result = await world.run()
        (stored,) = world.mailboxes.messages(BOB)
    assert result.ok, result.mismatches
    replies = [
        e.text
        for e in world.trace.of_type(SmtpLine)
        if e.side is Side.CLIENT and e.direction is Direction.SERVER_TO_CLIENT
    ]
    assert any(r.startswith("421 4.3.2 mx1.example.net") for r in replies)  # then mx2
    deferred, delivered = world.results
    assert deferred.reply.startswith("450 4.2.0") and "mx2.example.net" in deferred.relay
    assert delivered.outcome is Outcome.DELIVERED
    assert "X-Greylist" in stored.message


async def test_greylisting_holds_every_retry_before_300_s_and_passes_the_first_after(
    start_world, tmp_path: Path
) -> None:
    # postgrey's default delay (300 s), and a sender that retries every two minutes
    text = load_scenario("greylist").source.read_text().replace('delay = "4m"', "")
    text += '\n[retry]\nqueue_run_delay = "60s"\nminimal_backoff_time = "120s"\n'
    scenario = parse_scenario(text, tmp_path / "greylist-300.toml")
    async with start_world(scenario) as world:
        result = await world.run()
        (stored,) = world.mailboxes.messages(BOB)
    assert result.ok, result.mismatches
    verdicts = [v for v in world.trace.of_type(PolicyVerdict) if v.check == "greylist"]
    first = verdicts[0].time
    held = [v for v in verdicts if v.action == "defer"]
    passed = [v for v in verdicts if v.action != "defer"]
    assert [v.result for v in held] == ["new"] + ["early-retry"] * (len(held) - 1)
    assert len(held) >= 2, "at least one retry came before 300 s and was held again"
    assert all(v.time - first < 300 for v in held)
    assert len(passed) == 1 and passed[0].time - first >= 300
    replies = [r.reply for r in world.results]
    assert all(r.startswith("450 4.2.0") for r in replies[:-1]) and replies[-1].startswith("250")
    delayed = int(stored.message["X-Greylist"].split()[1])
    assert delayed >= 300
    postgrey = [e.text for e in world.trace.of_type(LogLine) if e.program == "postgrey"]
    assert postgrey[0].startswith("action=greylist, reason=new")
    assert postgrey[-1].startswith("action=pass, reason=triplet found")


# --------------------------------------------------------------------------- bounces


async def test_550_comes_back_at_once_as_a_three_part_dsn_from_the_null_sender(
    start_world,
) -> None:
    async with start_world("user-unknown-bounce") as world:
        result = await world.run()
        (stored,) = world.mailboxes.messages(ALICE)
    assert result.ok, result.mismatches
    assert result.outcomes == {"robert@example.net": Outcome.BOUNCED}
    # alice's domain is the outbound host's own: the DSN is delivered there, not over SMTP
    to_own_mx = client_lines(world, "smtp.example.org")
    assert not any(line.startswith("MAIL FROM:<>") for line in to_own_mx)
    assert stored.message["Return-Path"] == "<>"
    # RFC 3464: multipart/report with the three parts, read back with the email package
    parsed = message_from_bytes(stored.raw, policy=default)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",
    ]
    per_message, per_rcpt = parts[1].get_payload()[0], parts[1].get_payload()[1:]
    assert per_message["Reporting-MTA"] == "dns; smtp.example.org"
    assert "Arrival-Date" in per_message
    (rcpt,) = per_rcpt
    assert rcpt["Final-Recipient"] == "rfc822; robert@example.net"
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", "5.1.1")
    assert rcpt["Remote-MTA"] == "dns; mx.example.net"
    assert rcpt["Diagnostic-Code"].startswith("smtp; 550 5.1.1 <robert@example.net>")
    assert "Last-Attempt-Date" in rcpt
    assert "(in reply to RCPT TO command)" in parts[0].get_content()
    original = parts[2].get_payload()[0]
    assert original["Subject"] == "Invoice"
    # the views can link each field to the event it came from
    (bounce,) = world.trace.of_type(Bounce)
    by_seq = {e.seq: e for e in world.trace.events}
    diagnostic = next(link for link in bounce.links if link.field == "Diagnostic-Code")
    source = by_seq[diagnostic.seq]
    assert isinstance(source, RecipientResult) and source.reply.startswith("550 5.1.1")
    arrival = next(link for link in bounce.links if link.field == "Arrival-Date")
    assert isinstance(by_seq[arrival.seq], QueueChange)


async def test_a_bounce_is_never_bounced(start_world, tmp_path: Path) -> None:
    # The envelope sender has no mailbox, so the DSN about robert cannot be delivered either.
    text = load_scenario("user-unknown-bounce").source.read_text()
    text = text.replace(
        'from = "alice@example.org"', 'from = "ghost@example.org"\nsubmit_as = "alice@example.org"'
    )
    scenario = parse_scenario(text, tmp_path / "double.toml")
    async with start_world(scenario) as world:
        result = await world.run()
        assert not world.mailboxes.messages(ALICE)
    assert result.outcomes == {"robert@example.net": Outcome.BOUNCED}
    assert len(world.queue.dsns) == 1  # the DSN about the DSN was never made
    dsn_results = [
        e for e in world.trace.of_type(RecipientResult) if e.recipient == "ghost@example.org"
    ]
    assert [r.outcome for r in dsn_results] == [Outcome.REJECTED]
    assert any("never bounced" in n.text for n in world.trace.of_type(Note))
    assert any("never bounce a bounce" in e.text for e in world.trace.of_type(LogLine))
    assert len(world.trace.of_type(Bounce)) == 1


# --------------------------------------------------------------------------- per recipient


async def test_partial_delivers_bob_once_and_retries_only_carol(start_world) -> None:
    async with start_world("partial") as world:
        result = await world.run()
        bob, carol = world.mailboxes.messages(BOB), world.mailboxes.messages(CAROL)
    assert result.ok, result.mismatches
    assert len(bob) == 1 and len(carol) == 1
    rcpts = [line for line in client_lines(world, "mx.example.net") if line.startswith("RCPT")]
    assert rcpts.count(f"RCPT TO:<{BOB}>") == 1
    assert rcpts.count(f"RCPT TO:<{CAROL}>") >= 2
    carol_results = [r for r in world.results if r.recipient == CAROL]
    assert carol_results[0].reply.startswith("451 4.3.0 <carol@example.net>: Temporary lookup")
    assert carol_results[-1].outcome is Outcome.DELIVERED
    assert carol_results[-1].time - carol_results[0].time >= 20 * 60 - 1  # it cleared


async def test_mailbox_full_is_retried_until_it_clears(start_world) -> None:
    async with start_world("mailbox-full") as world:
        result = await world.run()
    assert result.ok, result.mismatches
    replies = [r.reply for r in world.results]
    assert all(r.startswith("452 4.2.2 <bob@example.net>") for r in replies[:-1])
    assert len(replies) >= 4 and replies[-1].startswith("250")
    assert world.results[-1].time - world.results[0].time >= 2 * 3600


FAULT_REPLIES = {
    Fault.DOWN: "4.4.1 connect to mx.example.net[127.0.0.13]",
    Fault.GREET_421: "421 4.3.2",
    Fault.RCPT_451: "451 4.3.0",
    Fault.RCPT_452: "452 4.5.3",
    Fault.DATA_451: "451 4.3.0 Error: queue file write error",
    Fault.MAILBOX_FULL: "452 4.2.2",
    Fault.TIMEOUT: "4.4.2 conversation with mx.example.net[127.0.0.13]",
}


@pytest.mark.parametrize("fault", list(FAULT_REPLIES), ids=str)
async def test_every_temporary_fault_defers_and_the_retry_after_it_clears_delivers(
    start_world, fault: Fault
) -> None:
    scenario = load_scenario("user-unknown-bounce")
    message = dataclasses.replace(scenario.message, recipients=(BOB,))
    scenario = dataclasses.replace(
        scenario,
        message=message,
        expect=dataclasses.replace(scenario.expect, outcomes={BOB: Outcome.DELIVERED}, replies={}),
    )
    scenario = scenario.with_host(
        "mx.example.net", faults=frozenset({fault}), fault_clears_after=300.0
    )
    async with start_world(scenario) as world:
        result = await world.run()
    assert result.ok, result.mismatches
    first, *_, last = world.results
    assert first.outcome is Outcome.DEFERRED and first.reply.startswith(FAULT_REPLIES[fault])
    assert last.outcome is Outcome.DELIVERED
    if fault is Fault.TIMEOUT:
        # a short real wait, then the world clock moved on to Postfix's smtp_helo_timeout
        assert any("smtp_helo_timeout = 300 s" in n.text for n in world.trace.of_type(Note))
        assert first.time - attempts_of(world, first.queue_id)[0] >= 298
        logged = [e.text for e in world.trace.of_type(LogLine) if "status=deferred" in e.text]
        assert "timed out while receiving the initial server greeting" in logged[0]


async def test_mx_outage_retries_while_refused_and_delivers_on_the_first_retry_after_it(
    start_world,
) -> None:
    async with start_world("mx-outage") as world:
        result = await world.run()
    assert result.ok, result.mismatches
    queue_id = first_queue_id(world)
    start = attempts_of(world, queue_id)[0]
    since = [round(t - start) for t in attempts_of(world, queue_id)]
    # Postfix: wait as long as the message has been queued, 300..4000 s, on 300 s queue runs.
    assert since == [0, 300, 600, 1200, 2400, 4800]
    *refused, delivered = world.results
    assert all(r.reply.startswith("4.4.1 connect to mx.example.net") for r in refused)
    assert delivered.outcome is Outcome.DELIVERED
    up = [n for n in world.trace.of_type(Note) if "is up again after 1 h" in n.text]
    assert len(up) == 1 and up[0].time - start == pytest.approx(3600, abs=1)


# --------------------------------------------------------------------------- kill -9


WORKER = ROOT / "tests" / "queue_world_crash_worker.py"


@pytest.mark.parametrize("kill_at", [("rcpt", 2), ("result", 4), ("active", 3)], ids=str)
def test_kill_9_mid_delivery_then_restart_delivers_every_message_once(
    tmp_path: Path, kill_at: tuple[str, int]
) -> None:
    run_dir, accepted = tmp_path / "run", tmp_path / "accepted"
    kind, nth = kill_at
    first = subprocess.run(
        [sys.executable, str(WORKER), "submit", str(run_dir), str(accepted), "3", kind, str(nth)],
        capture_output=True,
        timeout=60,
    )
    assert first.returncode == -9, first.stderr.decode()[-2000:]
    second = subprocess.run(
        [sys.executable, str(WORKER), "resume", str(run_dir)], capture_output=True, timeout=60
    )
    assert second.returncode == 0, second.stderr.decode()[-2000:]

    def ids(address: str) -> list[str]:
        folder = run_dir / "mailboxes" / address / "new"
        messages = [message_from_bytes(p.read_bytes(), policy=default) for p in folder.iterdir()]
        return [str(m["Message-ID"]) for m in messages]

    bob, carol = ids(BOB), ids(CAROL)
    assert len(bob) == len(set(bob)), "a message reached bob twice"
    assert len(carol) == len(set(carol)), "a message reached carol twice"
    said_250 = set(accepted.read_text().split()) if accepted.exists() else set()
    assert said_250 <= set(bob) and set(bob) == set(carol)
    # robert does not exist: one DSN per message, each about a different one
    folder = run_dir / "mailboxes" / ALICE / "new"
    dsns = [message_from_bytes(p.read_bytes(), policy=default) for p in folder.iterdir()]
    returned = [str(list(d.iter_parts())[2].get_payload()[0]["Message-ID"]) for d in dsns]
    assert sorted(returned) == sorted(bob)
    spool = run_dir / "spool" / "smtp.example.org"
    assert not [p for p in spool.rglob("*") if p.is_file()], "the queue is empty"


# --------------------------------------------------------------------------- the log


def test_log_command_prints_postfix_lines_and_a_summary(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    env = {"PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "tutor", "run", "partial", "--plain", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert "Retry timeline of" in run.stdout
    log = subprocess.run(
        [sys.executable, "-m", "tutor", "log", str(keep)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**env, "PATH": ""},
    )
    assert log.returncode == 0, log.stderr
    out = log.stdout
    for piece in (
        "postfix/submission/smtpd",
        "connect from laptop.example.org[127.0.0.11]",
        "sasl_method=PLAIN, sasl_username=alice@example.org",
        "message-id=<",
        "from=<alice@example.org>, size=",
        "nrcpt=2 (queue active)",
        "NOQUEUE: reject: RCPT from smtp.example.org[127.0.0.12]: 451 4.3.0",
        "to=<carol@example.net>, relay=mx.example.net[127.0.0.13]:",
        "status=deferred (host mx.example.net[127.0.0.13] said: 451 4.3.0",
        "(in reply to RCPT TO command)",
        "status=sent (250 2.0.0 Ok: queued as",
        "relay=virtual",
        ": removed",
        "disconnect from smtp.example.org[127.0.0.12] ehlo=2 starttls=1 mail=1 rcpt=1/2",
        "Grand totals",
        "Reply codes",
        "p50",
    ):
        assert piece in out, piece
    assert out.startswith("Mar  3 09:00:00 smtp postfix/submission/smtpd[")
    summary = out.split("Grand totals", 1)[1]
    # alice's message entered smtp's queue once, and mx's twice (bob, then carol later)
    assert "      3  received" in summary
    missing = subprocess.run(
        [sys.executable, "-m", "tutor", "log", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert missing.returncode == 2 and "no mail log" in missing.stderr


async def test_a_run_whose_what_if_changed_the_ending_is_reported_as_not_judged(
    start_world,
) -> None:
    from tutor.trace import ScenarioFinished

    # mailbox-full's only MX, down too: its faults clear after two hours, so bob arrives,
    # but when and after what is the run's own story, not something the what-if can tell.
    async with start_world("mailbox-full", what_ifs=frozenset({"mx-down"})) as world:
        result = await world.run()
    (finished,) = world.trace.of_type(ScenarioFinished)
    assert result.ok and result.unjudged == [BOB]
    assert finished.outcomes == {BOB: "delivered"}
    assert run_verdict(finished) == NOT_JUDGED
