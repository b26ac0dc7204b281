"""The whole world end to end: every shipped scenario ends as it says, and the trace shows why."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from tutor.scenario import shipped_scenarios
from tutor.trace import (
    Delivery,
    DnsAnswer,
    DnsQuery,
    Event,
    Note,
    Outcome,
    RecipientResult,
    ScenarioFinished,
    Side,
    SmtpLine,
    TcpConnect,
    TlsHandshake,
    Trace,
    TraceRecorder,
    read_trace,
)

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
async def test_every_shipped_scenario_ends_as_it_expects_and_the_world_never_reads_its_trace(
    start_world, path: Path
) -> None:
    trace = Trace()
    seen: list[Event] = []
    trace.subscribe(seen.append)  # the only reader: the world itself must never subscribe
    async with start_world(str(path), trace=trace) as world:
        assert not _holds_a_trace(world.ctx), "the world's context hands out the trace"
        result = await world.run()
        # Besides the test's own reader, only the runner's recorder of trace.jsonl listens.
        others = [s for s in trace.subscribers if s != seen.append]
        assert all(isinstance(s, TraceRecorder) for s in others), others
    assert result.ok, result.mismatches
    finished = world.trace.of_type(ScenarioFinished)
    assert len(finished) == 1 and finished[0].ok
    assert seen == trace.events  # every event reached the reader, in order, once


def _holds_a_trace(ctx: object) -> bool:
    """Whether any attribute of the context but ``publish`` is a Trace or a method of one."""
    for name, value in vars(ctx).items():
        if name == "publish":
            continue
        if isinstance(value, Trace) or isinstance(getattr(value, "__self__", None), Trace):
            return True
    return False


def test_a_subscriber_may_not_publish_from_inside_publish() -> None:
    trace = Trace()
    trace.subscribe(lambda event: trace.publish(Note(text="echo")) if event.seq == 1 else None)
    with pytest.raises(RuntimeError, match="inside a trace subscriber"):
        trace.publish(Note(text="first"))


async def test_hello_travels_submission_dns_tls_and_lands_in_bobs_maildir(start_world) -> None:
    async with start_world("hello") as world:
        result = await world.run()
        messages = world.mailboxes.messages("bob@example.net")
    trace = world.trace
    assert result.outcomes == {"bob@example.net": Outcome.DELIVERED}

    # the submission: AUTH only after STARTTLS, from the client host
    client_lines = [e.text for e in trace.of_type(SmtpLine) if e.side is Side.CLIENT]
    assert client_lines.index("STARTTLS") < next(
        i for i, line in enumerate(client_lines) if line.startswith("AUTH PLAIN")
    )
    # the MX lookup really went to the world's DNS server, and came back with both MX
    mx_answers = [a for a in trace.of_type(DnsAnswer) if a.qtype == "MX" and a.side is Side.CLIENT]
    assert mx_answers and mx_answers[0].rcode == "NOERROR" and "aa" in mx_answers[0].flags
    assert {line.split()[-1] for line in mx_answers[0].answer} == {
        "mx1.example.net.",
        "mx2.example.net.",
    }
    server_queries = [q for q in trace.of_type(DnsQuery) if q.side is Side.SERVER]
    assert any(q.qname.rstrip(".") == "example.net" and q.qtype == "MX" for q in server_queries)
    # the preferred MX got the message, over verified TLS
    connects = [c for c in trace.of_type(TcpConnect) if c.side is Side.CLIENT]
    assert [c.dst_host for c in connects] == ["smtp.example.org", "mx1.example.net"]
    handshakes = [t for t in trace.of_type(TlsHandshake) if t.side is Side.CLIENT]
    assert len(handshakes) == 2 and all(
        t.verified and t.version.startswith("TLSv1.") for t in handshakes
    )
    assert handshakes[1].subject.startswith("CN=mx1.example.net")
    mx_lines = [e for e in trace.of_type(SmtpLine) if e.receiver == "mx1.example.net"]
    assert any(e.text == "QUIT" for e in mx_lines)
    assert any(e.encrypted and e.text.startswith("MAIL FROM:<alice@example.org>") for e in mx_lines)
    # the Maildir holds it with Return-Path and the Received headers of both hops
    (message,) = messages
    assert message.message["Return-Path"] == "<alice@example.org>"
    received = message.message.get_all("Received")
    assert "by mx1.example.net" in received[0] and "by smtp.example.org" in received[-1]
    (delivery,) = trace.of_type(Delivery)
    assert delivery.recipient == "bob@example.net" and Path(delivery.mailbox).is_dir()


async def test_a_message_near_the_size_limit_crosses_both_hops_intact(start_world) -> None:
    """Five megabytes, about 65 000 lines, through submission and the MX: every byte arrives
    (and each server's line tap keeps up: bench/big_message_bench.py measures it)."""
    import dataclasses

    from tutor.scenario import load_scenario

    hello = load_scenario("hello")
    big = dataclasses.replace(hello, message=dataclasses.replace(hello.message, pad_to=5_000_000))
    async with start_world(big) as world:
        result = await world.run()
        (stored,) = world.mailboxes.messages("bob@example.net")
    assert result.ok, result.mismatches
    received = [e for e in world.trace.of_type(SmtpLine) if e.is_payload and e.side is Side.SERVER]
    assert [len(e.data) > 5_000_000 and e.data.endswith(b"\r\n.\r\n") for e in received] == [
        True,
        True,
    ]  # the submission server's copy, then the MX's
    padding = b"This line only makes the message bigger"
    assert stored.raw.count(padding) == received[-1].data.count(padding) > 60_000


async def test_preferred_mx_refusing_connections_falls_back_to_the_next(start_world) -> None:
    async with start_world("mx-fallback") as world:
        await world.run()
    attempts = [c for c in world.trace.of_type(TcpConnect) if c.dst_host.startswith("mx")]
    assert [(c.dst_host, c.ok) for c in attempts if c.side is Side.CLIENT] == [
        ("mx1.example.net", False),
        ("mx2.example.net", True),
    ]
    assert "refused" in attempts[0].error.lower()
    (result,) = world.trace.of_type(RecipientResult)
    assert result.relay.startswith("mx2.example.net[127.0.0.14]")


async def test_no_starttls_goes_on_in_clear_and_says_so(start_world) -> None:
    async with start_world("no-starttls") as world:
        await world.run()
    notes = [n.text for n in world.trace.of_type(Note)]
    assert any("does not offer STARTTLS" in n and "in clear" in n for n in notes)
    mx_payload = [
        e for e in world.trace.of_type(SmtpLine) if e.is_payload and e.receiver == "mx.example.net"
    ]
    assert mx_payload and not any(e.encrypted for e in mx_payload)


async def test_one_unknown_recipient_does_not_stop_the_other(start_world) -> None:
    async with start_world("unknown-user") as world:
        result = await world.run()
    assert result.outcomes == {
        "bob@example.net": Outcome.DELIVERED,
        "carol@example.net": Outcome.BOUNCED,  # rejected with 550, so a DSN went to alice
    }
    assert result.replies["carol@example.net"].startswith("550 5.1.1")


async def test_sender_never_connects_outside_the_world(start_world) -> None:
    from tutor.scenario import load_scenario, parse_scenario

    hello = load_scenario("hello")
    text = hello.source.read_text().replace(
        "@       IN MX 10 mx1.example.net.\n@       IN MX 20 mx2.example.net.",
        "@       IN MX 10 outside.example.net.\noutside IN A 93.184.216.34",
    )
    outside = parse_scenario(text, hello.source)
    async with start_world(outside) as world:
        result = await world.run()
    # The sender refuses to leave the world: the message is returned to alice at once.
    assert result.outcomes["bob@example.net"] is Outcome.BOUNCED
    notes = [n.text for n in world.trace.of_type(Note)]
    assert any("93.184.216.34 is not a host of this mail world" in n for n in notes)
    assert not any(
        c.dst.startswith("93.184.216.34") for c in world.trace.of_type(TcpConnect) if c.ok
    )


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_run_hello_plain_prints_the_whole_life_and_exits_0(tmp_path: Path) -> None:
    record = tmp_path / "run.jsonl"
    result = run_cli("run", "hello", "--plain", "--record", str(record))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # piped: no colour
    for expected in (
        "example.net. MX",  # the DNS question
        "IN MX 10 mx1.example.net.",  # and its answer
        "  ->      EHLO laptop.example.org",  # clear, client to server
        "  ~>      AUTH PLAIN",  # inside TLS
        "  <~      235 2.7.0",
        "certificate verified",
        "[mailbox] bob@example.net",
        "  <~      221 2.0.0",
    ):
        assert expected in out, expected
    assert result.stderr == ""
    header, events = read_trace(record)
    assert header.scenario == "hello" and any(isinstance(e, Delivery) for e in events)

    replay = run_cli("replay", str(record), "--plain")
    assert replay.returncode == 0
    assert "REPLAY of a recorded run (scenario hello" in "\n".join(replay.stdout.splitlines()[:3])
    assert "EHLO laptop.example.org" in replay.stdout


def test_run_keep_leaves_mailboxes_ca_and_trace(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    assert run_cli("run", "hello", "--plain", "--keep", str(keep)).returncode == 0
    assert (keep / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert list((keep / "mailboxes" / "bob@example.net" / "new").iterdir())
    assert (keep / "trace.jsonl").stat().st_size > 1000


def test_serve_json_describes_a_world_real_clients_can_use(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tutor", "serve", "hello", "--json", "--keep", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"dns", "ca", "hosts", "users"}
        hosts = {h["name"]: h for h in info["hosts"]}
        assert hosts["laptop.example.org"]["ports"] == {}
        assert set(hosts["smtp.example.org"]["ports"]) == {"smtp", "submission", "submissions"}
        assert set(hosts["mx1.example.net"]["ports"]) == {"smtp"}
        assert {"address": "bob@example.net"} in info["users"]
        assert {"address": "alice@example.org", "password": "wonderland"} in info["users"]

        query = dns.message.make_query("example.net", "MX")
        answer = dns.query.udp(query, info["dns"]["host"], port=info["dns"]["port"], timeout=3)
        assert "mx1.example.net." in answer.to_text()

        submission = hosts["smtp.example.org"]
        context = ssl.create_default_context(cafile=info["ca"])
        with smtplib.SMTP(
            submission["address"], submission["ports"]["submission"], timeout=10
        ) as s:
            s.starttls(context=context)
            s.login("alice@example.org", "wonderland")
            s.sendmail("alice@example.org", ["bob@example.net"], b"Subject: lab\r\n\r\nhi\r\n")
        inbox = tmp_path / "mailboxes" / "bob@example.net" / "new"
        deadline = time.monotonic() + 10
        while not (inbox.exists() and list(inbox.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(inbox.iterdir()), "the message submitted during serve was not delivered"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # leave no world behind, then fail
            raise
    assert proc.returncode == 0


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
async def test_openssl_s_client_starttls_verifies_the_mx_against_the_world_ca(start_world) -> None:
    async with start_world("hello") as world:
        info = world.describe()
        mx = next(h for h in info.hosts if h.name == "mx1.example.net")
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-starttls", "smtp",
            "-connect", f"{mx.address}:{mx.ports['smtp']}",
            "-servername", mx.name, "-CAfile", str(info.ca_path),
            "-verify_return_error", "-nocommands", "-crlf",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(b"EHLO student\n")
        await asyncio.sleep(1.0)  # s_client hangs up at end of input: let the reply arrive first
        out, _ = await asyncio.wait_for(proc.communicate(b"QUIT\n"), 20)
    text = out.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in text
    assert "250-mx1.example.net" in text or "250 " in text
    # the server recorded the student's session, encrypted, under its own session id
    student = [e for e in world.trace.of_type(SmtpLine) if e.side is Side.SERVER and e.encrypted]
    assert any(e.text == "EHLO student" for e in student)


async def test_stopping_the_queue_outlasts_a_swallowed_cancellation(start_world) -> None:
    """Ctrl-C on `serve` as a message landed once hung: an await inside a delivery (3.11's
    wait_for) swallowed the cancel and the runner went back to waiting for mail."""

    async def stubborn_runner() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.Event().wait()  # carries on as if nothing happened

    async with start_world("hello") as world:
        assert world.queue is not None
        await world.queue.stop()
        world.queue._task = asyncio.ensure_future(stubborn_runner())
        await asyncio.sleep(0)
        stopping = asyncio.ensure_future(world.queue.stop())
        done, _ = await asyncio.wait({stopping}, timeout=3)
        stopping.cancel()  # only matters when the test fails: do not leave it behind
        assert stopping in done, "the queue runner did not stop"


async def test_serve_shows_a_down_host_with_its_port_and_when_it_comes_up(start_world) -> None:
    async with start_world("mx-outage") as world:
        info = world.describe()
        mx = next(h for h in info.to_json()["hosts"] if h["name"] == "mx.example.net")
        assert mx["state"] == "down: refuses connections until 1 h after the start"
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(mx["address"], mx["ports"]["smtp"])
        outbound = next(h for h in info.to_json()["hosts"] if h["name"] == "smtp.example.org")
        assert "state" not in outbound
