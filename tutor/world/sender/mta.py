"""The sender's MTA: MX lookup and ordering, the loopback guard, fallback, one SMTP session per MX.

It behaves like Postfix's smtp(8) client with its defaults: MX hosts in preference order with
equal preferences shuffled (RFC 5321 §5.1), the implicit MX when a domain has none, every
address of a host tried before the next host, opportunistic STARTTLS (smtp_tls_security_level
= may, RFC 3207), and the rule that a temporary failure (a refused connection, a 4xx greeting
or reply) passes the still-undecided recipients on to the next MX while a permanent one (5xx)
decides them. Only when no MX is left are the rest deferred. Retrying later is the queue's job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Protocol

from tutor.runstate import PendingStep, StepKind
from tutor.trace import Outcome, RecipientResult, Side, Stage
from tutor.world.dns.resolver import DnsTemporaryError, MxAnswer
from tutor.world.network import NotInWorldError, Service
from tutor.world.sender.client import (
    DEFAULT_TIMEOUT,
    Reply,
    SmtpClient,
    SmtpConnectError,
    SmtpError,
    SmtpTimeoutError,
    TlsHandshakeError,
    body_type,
    submit,
)
from tutor.world.sender.observer import DeliveryObserver, NoObserver
from tutor.world.sender.signing import sign_outgoing
from tutor.world.smtp.faults import SMTP_HELO_TIMEOUT

if TYPE_CHECKING:
    from tutor.scenario import HostSpec
    from tutor.world.context import WorldContext

__all__ = ["MxHost", "OutboundMta", "Resolver", "submit"]


class Resolver(Protocol):
    """What the MTA needs from DNS (tutor.world.dns.WorldResolver provides it)."""

    async def mx(self, domain: str, *, host: str) -> MxAnswer: ...

    async def addresses(self, name: str, *, host: str) -> list[str]: ...


@dataclass(frozen=True)
class MxHost:
    preference: int
    name: str


@dataclass(frozen=True)
class _Target:
    """One address of one MX host: what a single connection attempt goes to."""

    mx: MxHost
    address: str


@dataclass
class _Decision:
    outcome: Outcome
    reply: str
    relay: str
    session: str = ""
    command: str = ""  # whose reply decided it, in Postfix's words ("RCPT TO"), "" if none


@dataclass
class _SessionResult:
    """What one connection settled: final decisions, and why the rest is still open."""

    session: str = ""
    relay: str = "none"
    decided: dict[str, _Decision] = field(default_factory=dict)
    soft: dict[str, _Decision] = field(default_factory=dict)  # the temporary replies
    failure: str = ""  # the reply (or DSN + reason) that ended the session early
    failure_command: str = ""  # the command that reply answered
    why: str = ""  # the same in words, for the Note that says where delivery goes next
    guarded: bool = False  # never connected: the address is not a host of this world


class DnsLookupError(Exception):
    """An MX or address lookup failed; ``permanent`` when the name does not exist."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class OutboundMta:
    """The MTA of the outbound host: delivers one queued message to every recipient's MX."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        resolver: Resolver,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.resolver = resolver
        self.timeout = timeout
        # Opportunistic TLS verifies nothing during the handshake (Postfix level 'may'): an
        # untrusted certificate still beats clear text. The trace still says whether it was
        # trusted (the client checks it against the world CA after the handshake).
        self.tls_context = tls_context or _opportunistic_context()
        self._observer: DeliveryObserver = NoObserver()

    async def deliver(
        self,
        queue_id: str,
        sender: str,
        recipients: list[str],
        content: bytes,
        observer: DeliveryObserver | None = None,
    ) -> list[RecipientResult]:
        """Try every recipient once; one RecipientResult per recipient, in the given order.

        ``observer`` hears each fact as it happens (a hand-over, each decision), so the queue
        can persist it at once; the MTA delivers one message at a time.
        """
        self._observer = observer or NoObserver()
        # DKIM (issue 4): signed once, like a signing milter; a retry finds the signature.
        content = sign_outgoing(self.ctx, self.host, sender, content, queue_id=queue_id)
        unique = list(dict.fromkeys(recipients))
        by_domain: dict[str, list[str]] = {}
        for recipient in unique:
            by_domain.setdefault(_domain(recipient), []).append(recipient)
        results: dict[str, RecipientResult] = {}
        for domain, group in by_domain.items():
            for result in await self._deliver_domain(queue_id, sender, domain, group, content):
                results[result.recipient] = result
        return [results[r] for r in unique]

    # ----------------------------------------------------------------- one domain

    async def _deliver_domain(
        self, queue_id: str, sender: str, domain: str, recipients: list[str], content: bytes
    ) -> list[RecipientResult]:
        published: list[RecipientResult] = []

        def settle(recipient: str, decision: _Decision) -> None:
            published.append(self._publish_result(queue_id, recipient, decision))

        try:
            mx_hosts = await self._lookup_mx(domain)
            targets = await self._targets(domain, mx_hosts, queue_id)
        except DnsLookupError as exc:
            outcome = Outcome.REFUSED if exc.permanent else Outcome.DEFERRED
            for recipient in recipients:
                settle(recipient, _Decision(outcome, str(exc), "none"))
            return published

        pending = list(recipients)
        last: dict[str, _Decision] = {}
        guard_refusal = ""
        for index, target in enumerate(targets):
            if not pending:
                break
            following = targets[index + 1] if index + 1 < len(targets) else None
            attempt = await self._attempt(target, queue_id, sender, pending, content)
            for recipient, decision in attempt.decided.items():
                settle(recipient, decision)
            pending = [r for r in pending if r not in attempt.decided]
            if attempt.guarded:
                guard_refusal = attempt.failure
            else:
                for recipient in pending:
                    last[recipient] = attempt.soft.get(recipient) or _Decision(
                        Outcome.DEFERRED,
                        attempt.failure,
                        attempt.relay,
                        attempt.session,
                        attempt.failure_command,
                    )
            if pending and following is not None and not attempt.guarded:
                self._tell_skipped(attempt, pending)
            if pending:
                why = attempt.why or "deferred " + ", ".join(
                    f"{r} ({attempt.soft[r].reply if r in attempt.soft else ''})" for r in pending
                )
                self._note(_moving_on(target, why, following), attempt.session)
        for recipient in pending:
            # Only the guard stood in the way: the sender refused, nothing is worth retrying.
            decision = last.get(recipient) or _Decision(Outcome.REFUSED, guard_refusal, "none")
            settle(recipient, decision)
        return published

    def _tell_skipped(self, attempt: _SessionResult, pending: list[str]) -> None:
        """Why delivery moves on from a server that is not the last: one reason per recipient
        a reply left open (Postfix's smtp_rcpt_fail), else the session's (smtp_bulk_fail). A
        refused connection has said so already (``connect to …``)."""
        if attempt.session and attempt.relay == "none":
            return
        open_ones = [attempt.soft[r] for r in pending if r in attempt.soft]
        if open_ones and all(d.command == "RCPT TO" for d in open_ones):
            for decision in open_ones:
                self._observer.skipped(attempt.relay, decision.reply, decision.command)
        elif attempt.failure and attempt.relay != "none":
            self._observer.skipped(attempt.relay, attempt.failure, attempt.failure_command)

    async def _lookup_mx(self, domain: str) -> list[MxHost]:
        """The domain's MX hosts, best first, equal preferences in a per-message random order."""
        await self.ctx.gate.wait(
            PendingStep(StepKind.DNS_LOOKUP, self.host.name, domain, "MX records")
        )
        try:
            answer = await self.resolver.mx(domain, host=self.host.name)
        except Exception as exc:  # the resolver's own errors; classified by what they mean
            self._note_outside_world(domain, exc)
            raise _dns_error(domain, "MX", exc) from None
        if not answer.exchanges:
            raise _dns_error(domain, "MX", None)
        hosts = [MxHost(pref, name.rstrip(".").lower()) for pref, name in answer.exchanges]
        if any(not h.name for h in hosts):
            # RFC 7505: "MX 0 ." announces that the domain accepts no mail at all.
            raise DnsLookupError(
                f"5.1.0 Domain {domain} does not accept mail (nullMX)", permanent=True
            )
        if answer.implicit:
            self._note(
                f"{domain} has no MX record: its own address record is used as an implicit MX "
                "with preference 0 (RFC 5321 §5.1)",
                stage=Stage.DNS,
            )
        return hosts

    def _note_outside_world(self, domain: str, error: BaseException) -> None:
        """Say once why mail to a domain of the real internet only waits in the queue."""
        refused = isinstance(error, DnsTemporaryError) and error.resolution.rcode == "REFUSED"
        if not refused or not self.ctx.first_time(f"outside-world:{domain}"):
            return
        said = f"{domain} is not a domain of this world"
        self._note(
            f"{said}: its DNS server answers only for the "
            "scenario's zones and refuses the rest, so the sender treats it as a DNS failure "
            "and keeps the message queued. Nothing ever leaves this machine.",
            stage=Stage.DNS,
            level="warning",
        )

    def order(self, hosts: Sequence[MxHost], seed: str) -> list[MxHost]:
        """Sort by preference; shuffle each run of equal preference with a seeded generator.

        RFC 5321 §5.1 asks for a random choice among equals so load spreads; seeding it with
        the queue id keeps every run of a scenario reproducible.
        """
        rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
        ordered: list[MxHost] = []
        for _, same in groupby(
            sorted(hosts, key=lambda h: h.preference), key=lambda h: h.preference
        ):
            group = list(same)
            rng.shuffle(group)
            ordered.extend(group)
        return ordered

    async def _targets(self, domain: str, mx_hosts: list[MxHost], seed: str) -> list[_Target]:
        """Every address of every MX host, in the order they will be tried.

        Like Postfix, all addresses are looked up before the first connection; a host whose
        name does not resolve is skipped, and only when none resolves does delivery fail.
        """
        ordered = self.order(mx_hosts, seed=f"{seed}:{domain}")
        ties = [h for h in ordered if sum(o.preference == h.preference for o in ordered) > 1]
        if ties:
            names = ", ".join(h.name for h in ties)
            self._note(
                f"{names} share a preference: RFC 5321 §5.1 says choose among them at random; "
                f"this message tries them in the order {names}",
                stage=Stage.DNS,
            )
        targets: list[_Target] = []
        errors: list[DnsLookupError] = []
        for mx in ordered:
            await self.ctx.gate.wait(
                PendingStep(StepKind.DNS_LOOKUP, self.host.name, mx.name, "address")
            )
            try:
                addresses = await self.resolver.addresses(mx.name, host=self.host.name)
                if not addresses:
                    raise _dns_error(mx.name, "A", None)
            except Exception as exc:
                error = exc if isinstance(exc, DnsLookupError) else _dns_error(mx.name, "A", exc)
                errors.append(error)
                self._note(
                    f"MX host {mx.name} has no usable address ({error}): skipping it",
                    stage=Stage.DNS,
                    level="warning",
                )
                continue
            targets.extend(_Target(mx, address) for address in addresses)
        if not targets:
            raise errors[-1] if errors else _dns_error(domain, "MX", None)
        return targets

    # ----------------------------------------------------------------- one connection

    async def _attempt(
        self, target: _Target, queue_id: str, sender: str, pending: list[str], content: bytes
    ) -> _SessionResult:
        try:
            _, _, port = self.ctx.plan.route(target.address, Service.SMTP)
        except NotInWorldError as exc:
            # The guard: never connect outside the world, and say so in plain words.
            self._note(str(exc), stage=Stage.CONNECT, level="warning")
            return _SessionResult(
                failure=f"5.4.4 {exc}", why="is not a host of this world", guarded=True
            )
        client = SmtpClient(
            self.ctx,
            host_name=self.host.name,
            session=self.ctx.new_session_id(),
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        result = _SessionResult(session=client.session)
        greeting: Reply | None = None
        try:
            greeting = await client.connect(target.mx.name, target.address, port)
            result.relay = client.relay
            self._observer.connected(client.session, client.relay, client.connected_at)
            await self._converse(client, greeting, result, sender, pending, content)
        except SmtpConnectError as exc:
            result.failure = f"4.4.1 {exc}"
            result.why = _connect_failure_words(exc.reason)
            relay = f"{target.mx.name}[{target.address}]:{port}"
            self._observer.connect_failed(relay, exc.reason)
        except SmtpTimeoutError:
            waited = self._timed_out(client)
            result.failure = f"4.4.2 conversation with {client.relay} timed out {waited}"
            result.failure_command = client.last_command if greeting else ""
            result.why = f"broke off the conversation (timed out {waited})"
        except TlsHandshakeError as exc:
            result.failure = f"4.7.5 {exc}"
            result.why = f"failed the TLS handshake ({exc})"
        except SmtpError as exc:
            result.failure = f"4.4.2 {exc}"
            result.why = f"broke off the conversation ({exc})"
        finally:
            await client.close()
        return result

    def _timed_out(self, client: SmtpClient) -> str:
        """The client gave up on a mute server after a short real wait; Postfix would have
        waited smtp_helo_timeout (300 s). Move the world clock on by the difference, say so,
        and return what was being waited for, in Postfix's words."""
        extra = max(0.0, SMTP_HELO_TIMEOUT - self.timeout)
        advance = getattr(self.ctx.clock, "advance", None)
        if advance is not None and extra > 0:
            advance(extra)
            self._note(
                f"the server never answered; the client gave up after {self.timeout:g} s of "
                f"real time, where Postfix waits smtp_helo_timeout = {SMTP_HELO_TIMEOUT:g} s "
                f"(smtp_connect_timeout = 30 s covers only the TCP handshake): the world "
                f"clock moves on by the other {extra:g} s",
                client.session,
                stage=Stage.QUEUE,
            )
        if client.last_reply is None:
            return "while receiving the initial server greeting"
        return f"after {client.last_command or 'a command'}"

    async def _converse(
        self,
        client: SmtpClient,
        greeting: Reply,
        result: _SessionResult,
        sender: str,
        pending: list[str],
        content: bytes,
    ) -> None:
        """Greeting to QUIT on one connection, filling ``result`` as replies decide things."""
        name = client.server_name
        if greeting.code != 220:
            # Postfix's smtp_skip_5xx_greeting (default yes): a 5xx greeting is no verdict
            # on the mail, only on this server, so it too moves on to the next MX.
            result.failure = str(greeting)
            result.why = f"greeted with {greeting} instead of 220"
            if greeting.is_permanent:
                await client.quit()  # RFC 5321 §3.1: after a 554 greeting the client says QUIT
            return
        if not await self._hello(client, result, pending):
            return
        await self._maybe_starttls(client, result, pending)
        if result.failure or result.decided:
            return

        size = len(content)
        limit = client.extensions.size
        if limit and size > limit:
            # Postfix's smtp_xfer: the advertised limit is checked here, MAIL FROM is never
            # sent, and the recipients bounce locally (DSN_BY_LOCAL_MTA: no Remote-MTA).
            host = re.sub(r":\d+$", "", client.relay)
            text = f"5.3.4 message size {size} exceeds size limit {limit} of server {host}"
            client.note(
                f"the message ({size} bytes) is bigger than the {limit} bytes {name} announced "
                "with SIZE: like Postfix's smtp(8), the client does not even send MAIL FROM "
                "and returns the message itself (RFC 1870). The server's own answer, 552 5.3.4, "
                "is what a client that does not check gets (try MAIL FROM:<you@example.org> "
                f"SIZE={size} by hand)",
                stage=Stage.ENVELOPE,
            )
            self._decide_all(result, pending, Outcome.REJECTED, text)
            await client.quit()
            return
        utf8 = not all(a.isascii() for a in (sender, *pending))
        if utf8 and not client.extensions.smtputf8:
            text = f"5.6.7 SMTPUTF8 is required, but was not offered by host {client.relay}"
            self._decide_all(result, pending, Outcome.REJECTED, text)
            await client.quit()
            return
        if self.host.pipelining and client.extensions.pipelining:
            await self._pipelined(client, result, sender, pending, content, utf8)
            return
        reply = await client.mail(sender, size=size, body=body_type(content), smtputf8=utf8)
        if not reply.is_positive:
            self._reply_decides_all(result, pending, reply, client.last_command)
            await client.quit()
            return

        accepted: list[str] = []
        for recipient in pending:
            reply = await client.rcpt(recipient)
            decision = _Decision(
                Outcome.REJECTED, str(reply), result.relay, result.session, client.last_command
            )
            if reply.is_positive:
                accepted.append(recipient)
            elif reply.is_permanent:
                result.decided[recipient] = decision
            else:
                result.soft[recipient] = dataclasses.replace(decision, outcome=Outcome.DEFERRED)
        if not accepted:
            await client.quit()
            return
        reply = await client.data(content)
        if reply.is_positive and reply.code != 354:
            # The server took responsibility: tell the queue now, not after QUIT, so a kill -9
            # in between cannot make it send the message again.
            now = self.ctx.clock.now()
            self._observer.handed_over(result.session, accepted, str(reply), result.relay, now)
            self._decide_all(result, accepted, Outcome.DELIVERED, str(reply), client.last_command)
        else:
            self._reply_decides_all(result, accepted, reply, client.last_command)
        await client.quit()

    async def _pipelined(
        self,
        client: SmtpClient,
        result: _SessionResult,
        sender: str,
        pending: list[str],
        content: bytes,
        utf8: bool,
    ) -> None:
        """Postfix's smtp(8) when PIPELINING is offered (RFC 2920): MAIL FROM, every RCPT TO
        and DATA in one batch, the replies read in order; after 354 the content, the dot and
        QUIT in one write. The 250 to the dot is handed over before the 221 is read."""
        mail = client.mail_line(sender, size=len(content), body=body_type(content), smtputf8=utf8)
        if self.ctx.first_time(f"pipelining:{client.server_name}"):
            client.note(
                f"{client.server_name} offers PIPELINING: MAIL FROM, RCPT TO and DATA go out as "
                "one batch and the replies come back in order, as Postfix's smtp(8) does "
                "(RFC 2920); after 354 the message, the dot and QUIT go in one write",
                stage=Stage.ENVELOPE,
                explain="extension.PIPELINING",
            )
        replies = await client.pipeline([mail, *(f"RCPT TO:<{r}>" for r in pending), "DATA"])
        (mail_command, mail_reply), (data_command, data_reply) = replies[0], replies[-1]
        if not mail_reply.is_positive:
            # The RCPT and DATA replies (503 need MAIL) say nothing about the recipients.
            self._reply_decides_all(result, pending, mail_reply, mail_command)
            await client.quit()
            return
        accepted: list[str] = []
        for recipient, (command, reply) in zip(pending, replies[1:-1], strict=True):
            decision = _Decision(
                Outcome.REJECTED, str(reply), result.relay, result.session, command
            )
            if reply.is_positive:
                accepted.append(recipient)
            elif reply.is_permanent:
                result.decided[recipient] = decision
            else:
                result.soft[recipient] = dataclasses.replace(decision, outcome=Outcome.DEFERRED)
        if not accepted:
            await client.quit()  # the DATA reply (554 no valid recipients) is ignored
            return
        if data_reply.code != 354:
            self._reply_decides_all(result, accepted, data_reply, data_command)
            await client.quit()
            return
        reply = await client.content_then_quit(content)
        if reply.is_positive:
            now = self.ctx.clock.now()
            self._observer.handed_over(result.session, accepted, str(reply), result.relay, now)
            self._decide_all(result, accepted, Outcome.DELIVERED, str(reply), client.last_command)
        else:
            self._reply_decides_all(result, accepted, reply, client.last_command)
        await client.finish_quit()

    async def _hello(self, client: SmtpClient, result: _SessionResult, pending: list[str]) -> bool:
        """EHLO (HELO if EHLO is refused outright); False when the session cannot go on."""
        reply = await client.ehlo()
        if reply.is_permanent:
            reply = await client.helo()
        if reply.code == 250:
            return True
        self._reply_decides_all(result, pending, reply, client.last_command)
        await client.quit()
        return False

    async def _maybe_starttls(
        self, client: SmtpClient, result: _SessionResult, pending: list[str]
    ) -> None:
        name = client.server_name
        if not client.extensions.starttls:
            client.note(
                f"{name} does not offer STARTTLS: continuing in clear (RFC 3207 opportunistic "
                "TLS, Postfix smtp_tls_security_level=may)",
                stage=Stage.STARTTLS,
                level="warning",
            )
            return
        reply = await client.starttls(name)
        if reply.code != 220:
            client.note(
                f"{name} offered STARTTLS but answered {reply}: continuing in clear "
                "(opportunistic TLS)",
                stage=Stage.STARTTLS,
                level="warning",
            )
            return
        verify_error = client.handshake.verify_error if client.handshake else ""
        if verify_error:
            client.note(
                f"the certificate of {name} is not trusted ({verify_error}); with opportunistic "
                "TLS the message is still encrypted, but the server is not authenticated",
                stage=Stage.STARTTLS,
                level="warning",
            )
        await self._hello(client, result, pending)

    # ----------------------------------------------------------------- decisions

    def _reply_decides_all(
        self, result: _SessionResult, recipients: list[str], reply: Reply, command: str
    ) -> None:
        """A 5xx decides every recipient (rejected); a 4xx leaves them for the next MX."""
        if reply.is_permanent:
            self._decide_all(result, recipients, Outcome.REJECTED, str(reply), command)
        else:
            for recipient in recipients:
                result.soft[recipient] = _Decision(
                    Outcome.DEFERRED, str(reply), result.relay, result.session, command
                )
            if not result.failure:
                result.failure = str(reply)
                result.failure_command = command
                result.why = f"answered {reply}"

    @staticmethod
    def _decide_all(
        result: _SessionResult,
        recipients: list[str],
        outcome: Outcome,
        reply: str,
        command: str = "",
    ) -> None:
        for recipient in recipients:
            result.decided[recipient] = _Decision(
                outcome, reply, result.relay, result.session, command
            )

    def _publish_result(
        self, queue_id: str, recipient: str, decision: _Decision
    ) -> RecipientResult:
        event = self.ctx.publish(
            RecipientResult(
                host=self.host.name,
                stage=Stage.DELIVERY,
                session=decision.session,
                side=Side.CLIENT,
                explain=f"outcome.{decision.outcome}",
                recipient=recipient,
                outcome=decision.outcome,
                reply=decision.reply,
                relay=decision.relay,
                queue_id=queue_id,
            )
        )
        assert isinstance(event, RecipientResult)
        self._observer.decided(event, decision.command)
        return event

    def _note(
        self, text: str, session: str = "", *, stage: Stage = Stage.CONNECT, level: str = "info"
    ) -> None:
        self.ctx.note(
            text, host=self.host.name, stage=stage, side=Side.CLIENT, session=session, level=level
        )


def _opportunistic_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def _dns_error(name: str, qtype: str, exc: BaseException | None) -> DnsLookupError:
    """Postfix's words for a failed lookup: 5.4.4 when the name does not exist, else 4.4.3."""
    if exc is None or _means_not_found(exc):
        return DnsLookupError(
            f"5.4.4 Host or domain name not found. Name service error for name={name} "
            f"type={qtype}: Host not found",
            permanent=True,
        )
    return DnsLookupError(
        f"4.4.3 Host or domain name not found. Name service error for name={name} "
        f"type={qtype}: Host not found, try again",
        permanent=False,
    )


def _means_not_found(exc: BaseException) -> bool:
    """Whether a resolver error says 'no such name' (permanent) rather than 'try again'."""
    permanent = getattr(exc, "permanent", None)
    if isinstance(permanent, bool):
        return permanent
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"NXDOMAIN", "NoAnswer", "DomainNotFound", "NameNotFound", "NotFound"})


def _connect_failure_words(reason: str) -> str:
    if reason == "Connection refused":
        return "refused the connection"
    if reason == "Connection timed out":
        return "did not accept the connection in time"
    return f"could not be reached ({reason})"


def _moving_on(target: _Target, why: str, following: _Target | None) -> str:
    """A plain sentence saying why this attempt ended and where delivery goes next."""
    here = target.mx.name
    if following is None:
        return f"{here} {why}; no other MX is left to try"
    if following.mx == target.mx:
        return f"{here} {why}; trying its next address {following.address}"
    return (
        f"{here} {why}; trying the next MX {following.mx.name} "
        f"(preference {following.mx.preference})"
    )
