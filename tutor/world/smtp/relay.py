"""A filtering gateway: receives for its domains, runs the checks, relays to the internal server.

The gateway is the domain's MX. It accepts a message like any MX (relay check, user check,
policies), adds its ``Received`` header and the check results, answers ``250 2.0.0 Ok: queued
as ID`` and then — after the queue, as Postfix with ``transport_maps`` ``smtp:[internal]``
does — opens a second, real SMTP session to ``relay_to`` (no MX lookup: the brackets in
Postfix's nexthop mean "this host, directly"). The internal server adds its own ``Received``
header, so the stored message carries both hops.

``Fault.TAMPER_BODY`` makes the gateway append a footer to the body before relaying, the way
disclaimer gateways and mailing lists do; that change breaks any DKIM signature made before it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from tutor.scenario import Fault, HostSpec, Scenario
from tutor.trace import Outcome, RecipientResult, Side, Stage
from tutor.world.context import WorldContext
from tutor.world.network import NotInWorldError, Service
from tutor.world.sender.client import SmtpClient, SmtpError
from tutor.world.smtp.mailbox import Mailboxes
from tutor.world.smtp.receiver import (
    DataOutcome,
    Policy,
    Receiver,
    ReceiverHandler,
)
from tutor.world.smtp.smtpd import (
    TracedEnvelope,
    TracedSession,
    accept_reply,
    prepend_headers,
    received_header,
)

FOOTER = (
    b"-- \r\n"
    b"This message was scanned by the gateway. "
    b"The footer was added after the sender signed it.\r\n"
)


@dataclass(frozen=True)
class RelayJob:
    """One accepted message waiting for its second hop."""

    queue_id: str
    sender: str
    recipients: tuple[str, ...]
    content: bytes


def append_footer(content: bytes) -> bytes:
    """The message with a footer appended to its (plain-text) body."""
    ended = content if content.endswith(b"\r\n") else content + b"\r\n"
    return ended + FOOTER


class Relay:
    """The gateway's outgoing side: one SMTP session to ``relay_to`` per accepted message."""

    def __init__(self, ctx: WorldContext, host: HostSpec) -> None:
        self.ctx = ctx
        self.host = host
        self._tasks: set[asyncio.Task[None]] = set()
        # Opportunistic TLS like the MTA (Postfix smtp_tls_security_level = may).
        self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.tls_context.check_hostname = False
        self.tls_context.verify_mode = ssl.CERT_NONE

    def enqueue(self, job: RelayJob) -> None:
        task = asyncio.get_running_loop().create_task(self._relay(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait until every accepted message has been relayed (or given up on)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _relay(self, job: RelayJob) -> None:
        target = self.host.relay_to
        address = self.ctx.plan.host(target).address
        self.note(
            f"{job.queue_id}: relaying to the internal server {target} "
            f"(transport smtp:[{target}], no MX lookup)",
        )
        client = SmtpClient(
            self.ctx,
            host_name=self.host.name,
            session=self.ctx.new_session_id(),
            tls_context=self.tls_context,
        )
        decided: dict[str, tuple[Outcome, str]] = {}
        try:
            _, _, port = self.ctx.plan.route(address, Service.SMTP)
            decided = await self._converse(client, target, address, port, job)
        except (SmtpError, NotInWorldError) as exc:
            decided = {r: (Outcome.DEFERRED, f"4.4.1 {exc}") for r in job.recipients}
        finally:
            await client.close()
        for recipient in job.recipients:
            outcome, reply = decided.get(recipient, (Outcome.DEFERRED, "no reply"))
            self.ctx.publish(
                RecipientResult(
                    host=self.host.name,
                    stage=Stage.DELIVERY,
                    session=client.session,
                    side=Side.CLIENT,
                    explain=f"outcome.{outcome}",
                    recipient=recipient,
                    outcome=outcome,
                    reply=reply,
                    relay=client.relay,
                    queue_id=job.queue_id,
                )
            )

    async def _converse(
        self, client: SmtpClient, target: str, address: str, port: int, job: RelayJob
    ) -> dict[str, tuple[Outcome, str]]:
        def every(outcome: Outcome, reply: object) -> dict[str, tuple[Outcome, str]]:
            return {r: (outcome, str(reply)) for r in job.recipients}

        def judged(reply: object) -> Outcome:
            return Outcome.REJECTED if getattr(reply, "is_permanent", False) else Outcome.DEFERRED

        reply = await client.connect(target, address, port)
        if reply.code != 220:
            return every(judged(reply), reply)
        reply = await client.ehlo()
        if reply.code != 250:
            await client.quit()
            return every(judged(reply), reply)
        if client.extensions.starttls:
            reply = await client.starttls(target)
            if reply.code == 220:
                await client.ehlo()
        reply = await client.mail(job.sender, size=len(job.content))
        if not reply.is_positive:
            await client.quit()
            return every(judged(reply), reply)
        decided: dict[str, tuple[Outcome, str]] = {}
        accepted = []
        for recipient in job.recipients:
            reply = await client.rcpt(recipient)
            if reply.is_positive:
                accepted.append(recipient)
            else:
                decided[recipient] = (judged(reply), str(reply))
        if accepted:
            reply = await client.data(job.content)
            outcome = Outcome.DELIVERED if reply.is_positive else judged(reply)
            decided.update({r: (outcome, str(reply)) for r in accepted})
        await client.quit()
        return decided

    def note(self, text: str, *, level: str = "info") -> None:
        self.ctx.note(text, host=self.host.name, stage=Stage.QUEUE, side=Side.CLIENT, level=level)


class GatewayHandler(ReceiverHandler):
    """The MX handler, except that accepted mail is queued for the relay instead of stored."""

    relay: Relay

    async def accept_message(
        self,
        session: TracedSession,
        envelope: TracedEnvelope,
        content: bytes,
        outcome: DataOutcome,
    ) -> str:
        received = received_header(
            session,
            self.host.name,
            envelope.queue_id,
            list(envelope.rcpt_tos),
            self.ctx.clock.now(),
            smtputf8=envelope.smtp_utf8,
        )
        relayed = prepend_headers(content, [*outcome.headers, received])
        if Fault.TAMPER_BODY in self.host.faults:
            relayed = append_footer(relayed)
            self.relay.note(
                f"{envelope.queue_id}: the gateway appends a footer to the body before relaying "
                "(a disclaimer); any DKIM signature over the body no longer matches",
                level="warning",
            )
        self.relay.enqueue(
            RelayJob(envelope.queue_id, envelope.sender, tuple(envelope.rcpt_tos), relayed)
        )
        return accept_reply(session, envelope.queue_id)


class GatewayReceiver(Receiver):
    """A Receiver whose accepted mail goes on to ``host.relay_to`` over a second SMTP hop."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        scenario: Scenario,
        mailboxes: Mailboxes,
        ssl_context: ssl.SSLContext | None,
        port: int,
        policies: list[Policy] | None = None,
    ) -> None:
        super().__init__(ctx, host, scenario, mailboxes, ssl_context, port, policies)
        self.relay = Relay(ctx, host)
        handler = GatewayHandler(ctx, host, self.handler.users, mailboxes, self.policies)
        handler.relay = self.relay
        self.handler = handler

    async def stop(self) -> None:
        self.relay.cancel()
        await super().stop()


async def drain_relays(servers: list[object]) -> None:
    """Wait until every gateway among ``servers`` has relayed what it accepted."""
    while any(isinstance(s, GatewayReceiver) and s.relay.busy for s in servers):
        for server in servers:
            if isinstance(server, GatewayReceiver):
                await server.relay.drain()


__all__ = [
    "FOOTER",
    "GatewayHandler",
    "GatewayReceiver",
    "Relay",
    "RelayJob",
    "append_footer",
    "drain_relays",
]
