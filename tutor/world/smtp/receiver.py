"""The MX: receives mail for its domains over SMTP (aiosmtpd), asks its policies, fills Maildirs.

Behaviour follows a Postfix MX with virtual mailbox domains and the usual hardening:

* EHLO offers PIPELINING, SIZE, STARTTLS (unless the host has ``tls = false``, the
  ``no-starttls`` fault, or no certificate), ENHANCEDSTATUSCODES, 8BITMIME, SMTPUTF8.
* ``greet-421`` fault: ``421 4.3.2 <host> Service not available, closing transmission channel``.
* RCPT outside the host's domains: ``554 5.7.1 <addr>: Relay access denied`` (no open relay);
  unknown user in a served domain: ``550 5.1.1 <addr>: Recipient address rejected: User unknown
  in virtual mailbox table``. Too big (SIZE= or actual): ``552 5.3.4 Message size exceeds fixed
  limit``.
* Accepted DATA: ``Return-Path``, ``Delivered-To`` and ``Received`` are prepended, one copy per
  recipient is written to their Maildir, a ``Delivery`` event is published per recipient, and
  the client hears ``250 2.0.0 Ok: queued as <ID>``.

The policy pipeline
-------------------
``Receiver.policies`` is a list of ``Policy`` objects (SPF, DKIM, DMARC, DNSBL, greylisting are
meant to be such objects). Each overrides only the hooks it needs; a hook returns ``None`` for
"no objection" or a ``Decision``:

* ``on_connect(client)`` — before the greeting. A 4xx/5xx ``reply`` replaces the greeting and
  the connection is closed (like postscreen).
* ``on_mail(client, sender)`` — after a syntactically valid MAIL FROM.
* ``on_rcpt(client, sender, recipient)`` — after the relay check, before the unknown-user check
  (Postfix order: restriction lists first, reject_unlisted_recipient last).
* ``on_data(client, message)`` — after the content arrived, before delivery.

A ``Decision`` with a ``reply`` stops the pipeline and that reply is sent instead (for example
``450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted``). At DATA a decision may
instead add header lines (``Authentication-Results: ...``) or choose the ``Junk`` folder
(quarantine); later policies still run and see those choices accumulated. Policies publish
their own ``PolicyVerdict`` events (they get the WorldContext when they are built).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

from tutor.clock import spoken_span
from tutor.scenario import Fault, HostSpec, Scenario
from tutor.trace import Delivery, Side, Stage
from tutor.world.context import WorldContext
from tutor.world.maillog.records import MasterStarted
from tutor.world.queue.ids import new_queue_id
from tutor.world.smtp.mailbox import INBOX, Mailboxes
from tutor.world.smtp.smtpd import (
    MISSING,
    Listener,
    Peer,
    TracedEnvelope,
    TracedSession,
    TracedSMTP,
    accept_reply,
    prepend_headers,
    received_header,
)

# --------------------------------------------------------------------------- policy API


@dataclass(frozen=True)
class Client:
    """What a policy may know about the SMTP client of a session."""

    session: str  # trace session id
    name: str  # world host name, or "[address]" for a client outside the world
    address: str
    helo: str = ""
    encrypted: bool = False
    auth_user: str = ""


@dataclass(frozen=True)
class IncomingMessage:
    """A message that arrived in DATA, before the receiver adds its trace headers."""

    sender: str  # "" for the null sender
    recipients: tuple[str, ...]
    content: bytes  # exactly as received (CRLF, dot-unstuffed)
    queue_id: str


@dataclass(frozen=True)
class Decision:
    """A policy's answer: send ``reply`` instead, or add headers / pick the folder (DATA only)."""

    reply: str = ""
    add_headers: tuple[str, ...] = ()
    folder: str = ""  # "" keeps the current choice; "Junk" quarantines

    @classmethod
    def refuse(cls, reply: str) -> Decision:
        return cls(reply=reply)


class Policy:
    """Base class for receiver policies: override the hooks you need; None means no objection."""

    name = "policy"

    async def on_connect(self, client: Client) -> Decision | None:
        return None

    async def on_mail(self, client: Client, sender: str) -> Decision | None:
        return None

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        return None

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        return None


@dataclass
class DataOutcome:
    """What the policies decided for one message at end of DATA."""

    reply: str = ""
    headers: list[str] = field(default_factory=list)
    folder: str = INBOX


# --------------------------------------------------------------------------- the handler


def client_of(session: TracedSession) -> Client:
    return Client(
        session=session.trace_id,
        name=session.client.name,
        address=session.client.address,
        helo=session.host_name or "",
        encrypted=session.encrypted,
        auth_user=session.auth_user,
    )


POSTMASTER = "postmaster"  # the reserved mailbox, case-insensitive (RFC 5321 §4.5.1)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


class ReceiverHandler:
    """The aiosmtpd handler of the MX: relay and user checks, policies, delivery."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        users: frozenset[str],
        mailboxes: Mailboxes,
        policies: list[Policy],
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.domains = frozenset(d.lower() for d in host.domains)
        self.users = users
        self.mailboxes = mailboxes
        self.policies = policies
        self.started = ctx.clock.now()

    def _fault_holds(self) -> bool:
        return fault_holds(self.host, self.started, self.ctx.clock.now())

    async def handle_CONNECT(
        self, server: TracedSMTP, session: TracedSession, envelope: TracedEnvelope
    ) -> Any:
        if Fault.GREET_421 in self.host.faults and self._fault_holds():
            return f"421 4.3.2 {self.host.name} Service not available, closing transmission channel"
        for policy in self.policies:
            decision = await policy.on_connect(client_of(session))
            if decision is not None and decision.reply:
                return decision.reply
        return MISSING

    async def handle_MAIL(
        self,
        server: TracedSMTP,
        session: TracedSession,
        envelope: TracedEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        sender = "" if address == "<>" else address
        for policy in self.policies:
            decision = await policy.on_mail(client_of(session), sender)
            if decision is not None and decision.reply:
                return decision.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_VRFY(
        self,
        server: TracedSMTP,
        session: TracedSession,
        envelope: TracedEnvelope,
        address: str,
        given: str,
    ) -> str:
        """Postfix's answer to VRFY (disable_vrfy_command = no): RCPT TO's address checks,
        then 252 with what the client gave; a host with the vrfy-disabled fault says 252
        without looking, as RFC 5321 §7.3 asks of a site that does not verify."""
        if Fault.VRFY_DISABLED in self.host.faults:
            return "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"
        if address.lower() == POSTMASTER and self.domains:
            address = f"{POSTMASTER}@{sorted(self.domains)[0]}"
        if domain_of(address) not in self.domains:
            return f"554 5.7.1 <{address}>: Relay access denied"
        if address.lower() not in self.users:
            return (
                f"550 5.1.1 <{address}>: Recipient address rejected: "
                "User unknown in virtual mailbox table"
            )
        return f"252 2.0.0 {given}"

    async def handle_RCPT(
        self,
        server: TracedSMTP,
        session: TracedSession,
        envelope: TracedEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() == POSTMASTER and self.domains:
            # "RCPT TO:<Postmaster>" with no domain MUST be accepted too (RFC 5321 §4.5.1);
            # Postfix would append $myorigin, this world names the first domain it serves.
            address = f"{POSTMASTER}@{sorted(self.domains)[0]}"
        if domain_of(address) not in self.domains:
            return f"554 5.7.1 <{address}>: Relay access denied"
        for policy in self.policies:
            decision = await policy.on_rcpt(client_of(session), envelope.sender, address)
            if decision is not None and decision.reply:
                return decision.reply
        if address.lower() not in self.users:
            return (
                f"550 5.1.1 <{address}>: Recipient address rejected: "
                "User unknown in virtual mailbox table"
            )
        if address.partition("@")[0].lower() == POSTMASTER:
            self.ctx.note(
                f"{address} is accepted although no user has that name: every domain a server "
                "delivers for must take mail for postmaster (RFC 5321 §4.5.1)",
                host=self.host.name,
                stage=Stage.ENVELOPE,
                side=Side.SERVER,
                session=session.trace_id,
                explain="topic.postmaster",
            )
        if not _already_named(envelope, address):
            # Postfix's cleanup drops a recipient named twice (duplicate_filter_limit): the
            # second RCPT still gets 250, but the mailbox receives one copy.
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(
        self, server: TracedSMTP, session: TracedSession, envelope: TracedEnvelope
    ) -> str:
        envelope.queue_id = new_queue_id()
        content = envelope.original_content or b""
        message = IncomingMessage(
            sender=envelope.sender,
            recipients=tuple(envelope.rcpt_tos),
            content=content,
            queue_id=envelope.queue_id,
        )
        outcome = await self.run_data_policies(client_of(session), message)
        if outcome.reply:
            return outcome.reply
        return await self.accept_message(session, envelope, content, outcome)

    async def accept_message(
        self,
        session: TracedSession,
        envelope: TracedEnvelope,
        content: bytes,
        outcome: DataOutcome,
    ) -> str:
        """Take responsibility for a message the policies let through: here, store it.

        A gateway overrides this to relay instead; everything before it (queue id, policies)
        is the same for every receiving host.
        """
        when = self.ctx.clock.now()
        for recipient in envelope.rcpt_tos:
            headers = [
                f"Return-Path: <{envelope.sender}>",
                f"Delivered-To: {recipient}",
                *outcome.headers,
                received_header(
                    session,
                    self.host.name,
                    envelope.queue_id,
                    list(envelope.rcpt_tos),
                    when,
                    smtputf8=envelope.smtp_utf8,
                ),
            ]
            stored = prepend_headers(content, headers)
            path = self.mailboxes.deliver(recipient, stored, outcome.folder)
            delivery = self.ctx.publish(
                Delivery(
                    host=self.host.name,
                    stage=Stage.DELIVERY,
                    session=session.trace_id,
                    side=Side.SERVER,
                    recipient=recipient,
                    mailbox=str(self.mailboxes.path(recipient)),
                    folder=outcome.folder,
                    filename=path.name,
                    size=path.stat().st_size,
                    headers_added=tuple(headers),
                )
            )
            if session.log is not None:
                assert isinstance(delivery, Delivery)
                session.log.delivered(delivery)
        return accept_reply(session, envelope.queue_id)

    async def run_data_policies(self, client: Client, message: IncomingMessage) -> DataOutcome:
        outcome = DataOutcome()
        for policy in self.policies:
            decision = await policy.on_data(client, message)
            if decision is None:
                continue
            if decision.reply:
                outcome.reply = decision.reply
                return outcome
            outcome.headers.extend(decision.add_headers)
            if decision.folder:
                outcome.folder = decision.folder
        return outcome


# --------------------------------------------------------------------------- the server


class Receiver:
    """One host's SMTP service (port 25 in the real world; a free loopback port here)."""

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
        self.ctx = ctx
        self.host = host
        self.port = port
        self.policies: list[Policy] = list(policies or [])
        domains = {d.lower() for d in host.domains}
        users = frozenset(u.address.lower() for u in scenario.users if u.domain in domains)
        # RFC 5321 §4.5.1: a server that delivers for a domain MUST accept postmaster there.
        users |= {f"{POSTMASTER}@{d}" for d in domains}
        self.handler = ReceiverHandler(ctx, host, users, mailboxes, self.policies)
        offers_tls = host.tls and Fault.NO_STARTTLS not in host.faults
        self._tls = ssl_context if offers_tls else None
        self._listener: Listener | None = None
        self._coming_up: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listener is not None and self._listener.serving

    def _protocol(self) -> TracedSMTP:
        return TracedSMTP(
            self.handler,
            ctx=self.ctx,
            host_name=self.host.name,
            tls_context=self._tls,
            data_size_limit=self.host.max_size or None,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        """Listen on the host's own address; a host with the ``down`` fault refuses connections.

        A down host still binds its port without listening, so connecting is refused (RST) as
        with a real host whose mail server is stopped. With ``fault_clears_after`` it comes up
        at that world time: the queue's next retry after it gets through.
        """
        bind = self.ctx.plan.host(self.host.name).bind_address
        self._listener = Listener(self._protocol, bind, self.port)
        if Fault.DOWN not in self.host.faults:
            await self._listener.start()
            return
        self._listener.reserve()
        clears = self.host.fault_clears_after
        if clears > 0:
            self.ctx.clock.call_at(self.handler.started + clears, self._come_up)

    def _come_up(self) -> None:
        """The host's mail service starts: from now on connections are accepted."""
        if self._listener is None:  # the world stopped first
            return
        self._listener.listen_now()  # at once: a connection made right now must not be refused
        self._coming_up = asyncio.ensure_future(self._listener.start())
        cleared = spoken_span(self.host.fault_clears_after)
        self.ctx.note(
            f"{self.host.name} is up again after {cleared} of world time: "
            f"port {self.port} now accepts connections (fault 'down' cleared)",
            host=self.host.name,
            stage=Stage.CONNECT,
            side=Side.SERVER,
        )
        self.ctx.maillog.log(MasterStarted(), host=self.host.name)

    async def stop(self) -> None:
        if self._coming_up is not None:
            await self._coming_up
            self._coming_up = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None


def _already_named(envelope: TracedEnvelope, address: str) -> bool:
    """Whether this transaction already has ``address`` (compared without case)."""
    return address.lower() in (r.lower() for r in envelope.rcpt_tos)


def fault_holds(host: HostSpec, started: float, now: float) -> bool:
    """A temporary fault stops ``fault_clears_after`` seconds of world time after the start."""
    clears = host.fault_clears_after
    return clears <= 0 or now < started + clears


__all__ = [
    "Client",
    "DataOutcome",
    "Decision",
    "IncomingMessage",
    "Peer",
    "Policy",
    "Receiver",
    "ReceiverHandler",
    "fault_holds",
]
