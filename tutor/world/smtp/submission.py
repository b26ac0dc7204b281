"""Message submission (RFC 6409): port-587 style with STARTTLS then AUTH, and port-465 implicit TLS.

Like a Postfix ``submission``/``submissions`` service with ``smtpd_tls_security_level=encrypt``
and ``smtpd_sasl_auth_enable=yes``:

* 587: STARTTLS is offered; before it, every command but EHLO/NOOP/STARTTLS/QUIT gets ``530
  5.7.0 Must issue a STARTTLS command first`` and AUTH is not advertised (RFC 3207 §4, RFC 4954
  §4). After TLS: ``AUTH PLAIN LOGIN``.
* 465: TLS from the first byte (RFC 8314), then the same AUTH.
* MAIL before AUTH: ``530 5.7.0 Authentication required``; bad credentials: ``535 5.7.8 Error:
  authentication failed: ...``. Credentials are the scenario's users that have a password.
* Accepted DATA: a Received header ``with ESMTPSA`` is prepended, ``on_message`` is awaited with
  the ``SubmittedMessage``, and the client hears ``250 2.0.0 Ok: queued as <ID>``.

The submission server does not deliver anything itself: the World hands each message to the
outbound MTA from ``on_message``.
"""

from __future__ import annotations

import asyncio
import hmac
import ssl
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import AuthResult as SmtpdAuthResult
from aiosmtpd.smtp import LoginPassword

from tutor.scenario import HostSpec, Scenario
from tutor.trace import AuthResult, Side, Stage, printable
from tutor.world.context import WorldContext
from tutor.world.queue.ids import new_queue_id
from tutor.world.smtp.smtpd import (
    Listener,
    TracedEnvelope,
    TracedSession,
    TracedSMTP,
    accept_reply,
    prepend_headers,
    received_header,
)


@dataclass(frozen=True)
class SubmittedMessage:
    """A message accepted for onward delivery, with who submitted it from where."""

    sender: str  # envelope sender ("" for <>)
    recipients: tuple[str, ...]
    content: bytes  # as received (CRLF), with this server's Received header on top
    auth_user: str
    client_name: str
    client_address: str
    queue_id: str


OnMessage = Callable[[SubmittedMessage], Awaitable[Any]]


class SubmissionHandler:
    """aiosmtpd handler and authenticator of the submission service."""

    def __init__(
        self, ctx: WorldContext, host: HostSpec, credentials: dict[str, str], on_message: OnMessage
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.credentials = credentials
        self.on_message = on_message

    def authenticate(
        self,
        server: TracedSMTP,
        session: TracedSession,
        envelope: TracedEnvelope,
        mechanism: str,
        auth_data: Any,
    ) -> SmtpdAuthResult:
        """Check a login against the scenario's users; publish the outcome, never the password."""
        if not isinstance(auth_data, LoginPassword):
            return SmtpdAuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        expected = self.credentials.get(login.lower())
        ok = expected is not None and hmac.compare_digest(expected, password)
        self.ctx.publish(
            AuthResult(
                host=self.host.name,
                stage=Stage.AUTH,
                session=session.trace_id,
                side=Side.SERVER,
                mechanism=mechanism,
                username=printable(login),  # the user name is the client's text
                ok=ok,
            )
        )
        if ok:
            session.auth_user = login
            if session.log is not None:
                session.log.authenticated(mechanism, login)
        return SmtpdAuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def handle_RCPT(
        self,
        server: TracedSMTP,
        session: TracedSession,
        envelope: TracedEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        # An authenticated user may send anywhere (permit_sasl_authenticated).
        if address.lower() not in (r.lower() for r in envelope.rcpt_tos):  # cleanup dedups
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(
        self, server: TracedSMTP, session: TracedSession, envelope: TracedEnvelope
    ) -> str:
        queue_id = new_queue_id()
        header = received_header(
            session,
            self.host.name,
            queue_id,
            list(envelope.rcpt_tos),
            self.ctx.clock.now(),
            smtputf8=envelope.smtp_utf8,
        )
        message = SubmittedMessage(
            sender=envelope.sender,
            recipients=tuple(envelope.rcpt_tos),
            content=prepend_headers(envelope.original_content or b"", [header]),
            auth_user=session.auth_user,
            client_name=session.client.name,
            client_address=session.client.address,
            queue_id=queue_id,
        )
        accepted = await self.on_message(message)
        # on_message may return the id the queue really used (None/"" keeps ours).
        return accept_reply(
            session, accepted if isinstance(accepted, str) and accepted else queue_id
        )


class SubmissionServer:
    """The outbound host's submission (587-style) and submissions (465-style) listeners."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        scenario: Scenario,
        ssl_context: ssl.SSLContext,
        port_submission: int,
        port_submissions: int,
        on_message: OnMessage,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.port_submission = port_submission
        self.port_submissions = port_submissions
        self._tls = ssl_context
        credentials = {u.address.lower(): u.password for u in scenario.users if u.password}
        self.handler = SubmissionHandler(ctx, host, credentials, on_message)
        self._listeners: list[Listener] = []

    def _protocol(self, *, implicit: bool) -> TracedSMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS; on the 465 port TLS came before any byte.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return self._new_protocol(implicit=implicit)

    def _new_protocol(self, *, implicit: bool) -> TracedSMTP:
        return TracedSMTP(
            self.handler,
            ctx=self.ctx,
            host_name=self.host.name,
            implicit_tls=implicit,
            auth_enabled=True,
            # On 465 the channel is TLS before the first byte; aiosmtpd only knows STARTTLS.
            tls_context=None if implicit else self._tls,
            require_starttls=not implicit,
            auth_required=True,
            auth_require_tls=not implicit,
            authenticator=self.handler.authenticate,
            data_size_limit=self.host.max_size or None,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        bind = self.ctx.plan.host(self.host.name).bind_address
        self._listeners = [
            Listener(lambda: self._protocol(implicit=False), bind, self.port_submission),
            Listener(lambda: self._protocol(implicit=True), bind, self.port_submissions, self._tls),
        ]
        for listener in self._listeners:
            await listener.start()

    async def stop(self) -> None:
        for listener in self._listeners:
            await listener.stop()
        self._listeners = []


__all__ = ["OnMessage", "SubmissionHandler", "SubmissionServer", "SubmittedMessage"]
