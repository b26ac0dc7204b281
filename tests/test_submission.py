"""Submission on loopback sockets: STARTTLS before AUTH, PLAIN and LOGIN, implicit TLS, hand-off."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from worldctx import trace_of

from tutor.clock import RealClock
from tutor.scenario import load_scenario
from tutor.trace import AuthResult, Direction, Side, SmtpLine, Stage, TlsHandshake, Trace
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan, Service
from tutor.world.smtp.submission import SubmissionServer, SubmittedMessage

HOST = "smtp.example.org"
USER, PASSWORD = "alice@example.org", "wonderland"
MESSAGE = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Lunch\r\n\r\nFriday?\r\n"


@dataclass
class Submission:
    ctx: WorldContext
    address: str
    port: int  # 587-style
    port_tls: int  # 465-style
    accepted: list[SubmittedMessage] = field(default_factory=list)

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP(self.address, self.port, local_hostname="laptop.test", timeout=5)

    def smtps(self) -> smtplib.SMTP_SSL:
        return smtplib.SMTP_SSL(
            self.address, self.port_tls, local_hostname="laptop.test", timeout=5, context=self.tls()
        )

    def tls(self) -> ssl.SSLContext:
        assert self.ctx.ca is not None
        context = self.ctx.ca.client_context()
        context.check_hostname = False  # smtplib connects by IP; the chain is still verified
        return context


@pytest.fixture
async def submission(tmp_path: Path) -> AsyncIterator[Submission]:
    scenario = load_scenario("hello")
    plan = NetworkPlan.build({h.name: h.address for h in scenario.hosts})
    ctx = WorldContext(
        publish=Trace().publish, clock=RealClock(), plan=plan, gate=StepGate(), run_dir=tmp_path
    )
    ctx.ca = WorldCA(tmp_path)
    host = scenario.host(HOST)
    port = plan.allocate_port(HOST, Service.SUBMISSION)
    port_tls = plan.allocate_port(HOST, Service.SUBMISSIONS)
    accepted: list[SubmittedMessage] = []

    async def on_message(message: SubmittedMessage) -> None:
        accepted.append(message)

    server = SubmissionServer(
        ctx, host, scenario, ctx.ca.server_context(HOST, host.address), port, port_tls, on_message
    )
    await server.start()
    yield Submission(ctx, plan.host(HOST).bind_address, port, port_tls, accepted)
    await server.stop()


async def in_thread(function: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(function)


async def test_before_starttls_mail_and_auth_get_530_and_auth_is_not_offered(
    submission: Submission,
) -> None:
    def talk() -> tuple[bool, tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with submission.smtp() as smtp:
            smtp.ehlo()
            return (
                smtp.has_extn("auth"),
                smtp.docmd("MAIL", "FROM:<alice@example.org>"),
                smtp.docmd("AUTH", "PLAIN"),
                smtp.noop(),
            )

    offered, mail, auth, noop = await in_thread(talk)
    assert not offered
    assert mail == (530, b"5.7.0 Must issue a STARTTLS command first")
    assert auth == (530, b"5.7.0 Must issue a STARTTLS command first")
    assert noop == (250, b"2.0.0 Ok")


async def test_after_starttls_auth_plain_and_login_are_offered(submission: Submission) -> None:
    def talk() -> str:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.ehlo()
            return smtp.esmtp_features["auth"]

    assert (await in_thread(talk)).split() == ["PLAIN", "LOGIN"]


async def test_mail_without_auth_after_tls_gets_530_authentication_required(
    submission: Submission,
) -> None:
    def talk() -> tuple[int, bytes]:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.ehlo()
            return smtp.mail(USER)

    assert await in_thread(talk) == (530, b"5.7.0 Authentication required")


async def test_wrong_password_gets_535_and_a_failed_auth_result(submission: Submission) -> None:
    def talk() -> None:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.login(USER, "not-the-password")

    with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
        await in_thread(talk)
    assert failed.value.smtp_code == 535
    assert failed.value.smtp_error.startswith(b"5.7.8 Error: authentication failed")
    results = trace_of(submission.ctx).of_type(AuthResult)
    assert results and all(not r.ok and r.username == USER for r in results)
    assert all(r.side is Side.SERVER and r.stage is Stage.AUTH for r in results)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_succeeds_after_starttls_and_the_message_is_handed_on(
    submission: Submission, mechanism: str
) -> None:
    def talk() -> None:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.ehlo()
            smtp.user, smtp.password = USER, PASSWORD
            code, text = smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
            assert (code, text) == (235, b"2.7.0 Authentication successful")
            smtp.sendmail(USER, ["bob@example.net", "carol@example.com"], MESSAGE)

    await in_thread(talk)
    (message,) = submission.accepted
    assert message.sender == USER and message.auth_user == USER
    assert message.recipients == ("bob@example.net", "carol@example.com")
    assert message.content.endswith(MESSAGE)
    header = message.content[: -len(MESSAGE)].decode()
    assert header.startswith("Received: from laptop.test (")
    assert f"by {HOST} with ESMTPSA id {message.queue_id};" in " ".join(header.split())
    assert "for <" not in header  # two recipients: Postfix names neither
    queued = [
        e.text
        for e in trace_of(submission.ctx).of_type(SmtpLine)
        if e.side is Side.SERVER and e.direction is Direction.SERVER_TO_CLIENT
    ]
    assert f"250 2.0.0 Ok: queued as {message.queue_id}" in queued
    (result,) = trace_of(submission.ctx).of_type(AuthResult)
    assert result.ok and result.mechanism == mechanism and result.username == USER


async def test_auth_login_challenges_are_the_usual_username_and_password_prompts(
    submission: Submission,
) -> None:
    def talk() -> list[tuple[int, bytes]]:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.ehlo()
            first = smtp.docmd("AUTH", "LOGIN")
            second = smtp.docmd(base64.b64encode(USER.encode()).decode())
            third = smtp.docmd(base64.b64encode(PASSWORD.encode()).decode())
            return [first, second, third]

    replies = await in_thread(talk)
    assert replies == [
        (334, b"VXNlcm5hbWU6"),
        (334, b"UGFzc3dvcmQ6"),
        (235, b"2.7.0 Authentication successful"),
    ]
    continuation = [
        e
        for e in trace_of(submission.ctx).of_type(SmtpLine)
        if e.side is Side.SERVER and e.data == base64.b64encode(PASSWORD.encode()) + b"\r\n"
    ]
    assert len(continuation) == 1 and continuation[0].stage is Stage.AUTH


async def test_the_password_never_appears_in_an_auth_result(submission: Submission) -> None:
    def talk() -> None:
        with submission.smtp() as smtp:
            smtp.starttls(context=submission.tls())
            smtp.login(USER, PASSWORD)

    await in_thread(talk)
    for result in trace_of(submission.ctx).of_type(AuthResult):
        assert PASSWORD not in json.dumps(result.to_json())


async def test_implicit_tls_port_speaks_tls_from_the_first_byte(submission: Submission) -> None:
    def talk() -> tuple[bool, str]:
        with submission.smtps() as smtp:
            smtp.ehlo()
            starttls_offered = smtp.has_extn("starttls")
            auth = smtp.esmtp_features.get("auth", "")
            smtp.login(USER, PASSWORD)
            smtp.sendmail(USER, ["bob@example.net"], MESSAGE)
            return starttls_offered, auth

    starttls_offered, auth = await in_thread(talk)
    assert not starttls_offered and auth.split() == ["PLAIN", "LOGIN"]
    (message,) = submission.accepted
    assert b"with ESMTPSA" in message.content and b"for <bob@example.net>;" in message.content
    (handshake,) = trace_of(submission.ctx).of_type(TlsHandshake)
    assert handshake.implicit and handshake.ok and handshake.stage is Stage.CONNECT
    server_lines = [e for e in trace_of(submission.ctx).of_type(SmtpLine) if e.side is Side.SERVER]
    assert server_lines and all(e.encrypted for e in server_lines)


async def test_a_plain_text_client_on_the_implicit_tls_port_gets_no_smtp(
    submission: Submission,
) -> None:
    reader, writer = await asyncio.open_connection(submission.address, submission.port_tls)
    writer.write(b"EHLO laptop.test\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    assert not data.startswith(b"220") and not data.startswith(b"250")
    writer.close()
    assert trace_of(submission.ctx).of_type(SmtpLine) == []


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls-on-connect"])
async def test_swaks_submits_with_auth(submission: Submission, implicit: bool) -> None:
    assert submission.ctx.ca is not None
    tls = ["--tls-on-connect"] if implicit else ["--tls"]
    port = submission.port_tls if implicit else submission.port
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server", submission.address, "--port", str(port),
        "--from", USER, "--to", "bob@example.net",
        *tls, "--tls-verify", "--tls-ca-path", str(submission.ctx.ca.path), "--tls-sni", HOST,
        "--auth", "LOGIN", "--auth-user", USER, "--auth-password", PASSWORD,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    assert [m.sender for m in submission.accepted] == [USER]
    assert trace_of(submission.ctx).of_type(TlsHandshake)[0].sni == HOST
