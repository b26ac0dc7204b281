"""The receiver's filtering checks (DNSBL, SPF, DKIM, DMARC) adapted to its policy hooks.

The evaluators in tutor/policy answer "what is the verdict and why"; this module decides
*when* a real Postfix MX asks them and what it says back, and publishes every verdict (stage
FILTERING) with its reasons so the learner sees each step:

* ``DnsblPolicy`` looks the client up at connect (the DNS queries appear before the greeting,
  as with postscreen) but, like Postfix with its default ``smtpd_delay_reject = yes``, only
  answers ``554 5.7.1 Service unavailable; Client host [ip] blocked using zone; reason`` at
  RCPT TO.
* ``SpfPolicy`` checks the HELO identity, then the MAIL FROM identity (the order of the
  Postfix SPF policy servers, which skip MAIL FROM when HELO already failed). Like
  ``check_policy_service`` in ``smtpd_recipient_restrictions`` a fail is answered at RCPT TO:
  ``550 5.7.23 <rcpt>: Recipient address rejected: Message rejected due to: ...``.
  An accepted message gets a ``Received-SPF`` header (RFC 7208 §9.1).
* ``DkimDmarcPolicy`` runs at end of DATA, as the OpenDKIM/OpenDMARC milters do: DKIM first
  (DMARC needs its d= results), then DMARC with the SPF result of this transaction.
  p=reject → ``550 5.7.1`` at end of DATA; p=quarantine → delivered into Junk.
* ``AuthResultsPolicy`` adds one ``Authentication-Results`` header (RFC 8601) under the
  host's name summarising whatever ran.

A host that another host relays to (a gateway's internal mailbox server) trusts that relay
when the relay runs checks itself: mail from the relay's address is not checked again, the
way Postfix's ``permit_mynetworks`` lets an internal server accept its gateway's mail. Only
the relay's results count then (RFC 8601 §5: trust the headers of your own ADMD's servers).
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from email.utils import getaddresses

from tutor.policy import dkim as dkim_check
from tutor.policy import dmarc as dmarc_check
from tutor.policy import dnsbl as dnsbl_check
from tutor.policy import spf as spf_check
from tutor.policy.authresults import SpfSummary, build_header
from tutor.policy.dnsapi import ResolverLookup
from tutor.policy.verdict import Action, Verdict
from tutor.scenario import Check, HostSpec, Role, Scenario
from tutor.trace import Side, Stage
from tutor.world.context import WorldContext
from tutor.world.smtp.mailbox import JUNK
from tutor.world.smtp.receiver import Client, Decision, IncomingMessage, Policy

# Sessions whose facts are kept at once; old ones are forgotten (a session that never reached
# DATA leaves no hook to clean up after it).
_MAX_SESSIONS = 1024
SPAM_FLAG = "X-Spam-Flag: YES"  # what a gateway writes so the mailbox server can file to Junk


# --------------------------------------------------------------------------- shared facts


@dataclass
class TransactionFacts:
    """What the checks learned about one session's current transaction, for later checks."""

    dnsbl: Verdict | None = None
    spf: spf_check.SpfResult | None = None
    spf_verdict: Verdict | None = None
    dkim: dkim_check.DkimResult | None = None
    dmarc: dmarc_check.DmarcResult | None = None
    helo: tuple[str, spf_check.SpfResult, Verdict] | None = None  # (name, result, verdict)


@dataclass
class SessionFacts:
    """Facts per SMTP session, shared by one host's policies (bounded, oldest dropped)."""

    _by_session: OrderedDict[str, TransactionFacts] = field(default_factory=OrderedDict)

    def of(self, session: str) -> TransactionFacts:
        facts = self._by_session.get(session)
        if facts is None:
            facts = self._by_session[session] = TransactionFacts()
            while len(self._by_session) > _MAX_SESSIONS:
                self._by_session.popitem(last=False)
        return facts


# --------------------------------------------------------------------------- base


class FilterPolicy(Policy):
    """A check that publishes its verdicts and leaves trusted relays alone."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        facts: SessionFacts,
        trusted: dict[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.facts = facts
        self.trusted = dict(trusted or {})  # client address -> relay host name

    def lookup(self, client: Client) -> ResolverLookup:
        """DNS as this host, in this session: every query lands in the trace."""
        return ResolverLookup(self.ctx.resolver, self.host.name, session=client.session)

    def is_trusted(self, client: Client) -> bool:
        return client.address in self.trusted

    def publish(self, verdict: Verdict, client: Client) -> None:
        self.ctx.publish(
            replace(verdict.to_event(host=self.host.name, session=client.session), side=Side.SERVER)
        )

    def note(self, client: Client, text: str, *, level: str = "info") -> None:
        self.ctx.note(
            text,
            host=self.host.name,
            stage=Stage.FILTERING,
            side=Side.SERVER,
            session=client.session,
            level=level,
        )


def recipient_rejected(reply: str, recipient: str) -> str:
    """Postfix's form of a recipient-restriction reject: the code, then ``<rcpt>: ...``.

    A policy service answers "550 5.7.23 Message rejected due to: ..."; smtpd sends it as
    "550 5.7.23 <bob@example.net>: Recipient address rejected: Message rejected due to: ...".
    """
    code, _, rest = reply.partition(" ")
    enhanced, _, text = rest.partition(" ")
    return f"{code} {enhanced} <{recipient}>: Recipient address rejected: {text}"


# --------------------------------------------------------------------------- trust


class TrustedRelayPolicy(FilterPolicy):
    """The mailbox server behind a gateway: says why it skips the checks for the gateway.

    It also honours the gateway's quarantine decision, carried as ``X-Spam-Flag: YES`` (what
    a Sieve rule on a real mailbox server files into Junk).
    """

    name = "trusted-relay"

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        facts: SessionFacts,
        trusted: dict[str, str],
        relay_checks: dict[str, tuple[Check, ...]],
    ) -> None:
        super().__init__(ctx, host, facts, trusted)
        self.relay_checks = relay_checks  # relay host name -> the checks it runs

    async def on_connect(self, client: Client) -> Decision | None:
        relay = self.trusted.get(client.address)
        if relay is not None:
            self.note(
                client,
                f"{relay} [{client.address}] is this domain's own filtering gateway: it has "
                f"already run its checks ({', '.join(self.relay_checks.get(relay, ()))}), so "
                f"{self.host.name} trusts its results and does not repeat them "
                "(Postfix permit_mynetworks; RFC 8601 §5)",
            )
        return None

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        if not self.is_trusted(client):
            return None
        if any(v.upper() == "YES" for v in header_fields(message.content, "X-Spam-Flag")):
            self.note(client, "the gateway marked this message X-Spam-Flag: YES: filed into Junk")
            return Decision(folder=JUNK)
        return None


# --------------------------------------------------------------------------- DNSBL


class DnsblPolicy(FilterPolicy):
    """Blocklist lookup at connect, reply at RCPT TO (Postfix's delayed reject)."""

    name = "dnsbl"

    async def on_connect(self, client: Client) -> Decision | None:
        if self.is_trusted(client):
            return None
        result = await dnsbl_check.check(client.address, self.host.dnsbl_zones, self.lookup(client))
        verdict = dnsbl_check.dnsbl_verdict(result)
        if verdict.action is Action.REJECT:
            verdict = replace(
                verdict,
                reasons=(
                    *verdict.reasons,
                    "Postfix (smtpd_delay_reject = yes) answers this at RCPT TO, so the log "
                    "shows who the client wanted to write to",
                ),
            )
        self.publish(verdict, client)
        self.facts.of(client.session).dnsbl = verdict
        return None

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        verdict = self.facts.of(client.session).dnsbl
        if verdict is not None and verdict.action is Action.REJECT:
            return Decision.refuse(verdict.reply)
        return None


# --------------------------------------------------------------------------- SPF


class SpfPolicy(FilterPolicy):
    """HELO then MAIL FROM identity at MAIL FROM; a fail is answered at RCPT TO."""

    name = "spf"

    async def on_mail(self, client: Client, sender: str) -> Decision | None:
        facts = self.facts.of(client.session)
        facts.spf = facts.spf_verdict = None
        facts.dkim = facts.dmarc = None
        if self.is_trusted(client):
            return None
        lookup = self.lookup(client)
        if client.helo:
            if facts.helo is None or facts.helo[0] != client.helo:
                # The HELO identity is judged once per EHLO: a session's later messages
                # reuse the result (it cannot change while the name stays the same).
                helo_result = await spf_check.check_helo(
                    client.address, client.helo, lookup=lookup, receiver=self.host.name
                )
                helo_verdict = spf_check.spf_verdict(helo_result)
                self.publish(_labelled(helo_verdict, f"HELO identity {client.helo}"), client)
                facts.helo = (client.helo, helo_result, helo_verdict)
            _, helo, verdict = facts.helo
            if verdict.action is not Action.NONE:
                # Like the Postfix SPF policy servers: a HELO reject ends the check here.
                facts.spf, facts.spf_verdict = helo, verdict
                return None
        result = await spf_check.check_mail_from(
            client.address,
            sender,
            helo=client.helo or client.address,
            lookup=lookup,
            receiver=self.host.name,
        )
        verdict = spf_check.spf_verdict(result)
        label = f"MAIL FROM identity {sender}" if sender else "MAIL FROM <> (null sender)"
        verdict = _labelled(verdict, label)
        if verdict.action is not Action.NONE:
            verdict = replace(
                verdict,
                reasons=(
                    *verdict.reasons,
                    f"{self.host.name} will answer {verdict.reply.split(' ', 2)[0]} at RCPT TO "
                    "(check_policy_service in smtpd_recipient_restrictions)",
                ),
            )
        self.publish(verdict, client)
        facts.spf, facts.spf_verdict = result, verdict
        return None

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        verdict = self.facts.of(client.session).spf_verdict
        if verdict is not None and verdict.action in (Action.REJECT, Action.DEFER):
            return Decision.refuse(recipient_rejected(verdict.reply, recipient))
        return None

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        verdict = self.facts.of(client.session).spf_verdict
        if verdict is None or not verdict.header:
            return None
        return Decision(add_headers=(verdict.header,))


def _labelled(verdict: Verdict, label: str) -> Verdict:
    """The verdict with a first reason line naming the identity checked."""
    return replace(verdict, reasons=(f"{label}:", *verdict.reasons))


# --------------------------------------------------------------------------- DKIM and DMARC


def header_fields(content: bytes, name: str) -> list[str]:
    """The unfolded values of every ``name`` header field, read straight from the bytes.

    A full ``email`` parse of each message costs more than the checks themselves; DMARC only
    needs the From: field, exactly as it arrived.
    """
    head = re.split(rb"\r?\n\r?\n", content, maxsplit=1)[0].decode("utf-8", "replace")
    fields = re.split(r"\r?\n(?![ \t])", head)
    wanted = name.lower() + ":"
    return [
        re.sub(r"\r?\n[ \t]", " ", f[len(wanted) :]).strip()
        for f in fields
        if f[: len(wanted)].lower() == wanted
    ]


def from_domain(content: bytes) -> str:
    """The RFC5322.From domain, or "" when there is no single From address (RFC 7489 §6.6.1)."""
    values = header_fields(content, "From")
    if len(values) != 1:
        return ""
    addresses = [a for _, a in getaddresses(values) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return ""
    return addresses[0].rpartition("@")[2].lower().rstrip(".")


class DkimDmarcPolicy(FilterPolicy):
    """End of DATA: verify DKIM, then evaluate DMARC; reject or quarantine by its policy."""

    name = "dkim-dmarc"

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        facts: SessionFacts,
        trusted: dict[str, str] | None = None,
        *,
        run_dmarc: bool = True,
    ) -> None:
        super().__init__(ctx, host, facts, trusted)
        self.run_dmarc = run_dmarc

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        if self.is_trusted(client):
            return None
        facts = self.facts.of(client.session)
        lookup = self.lookup(client)
        dkim_result = await dkim_check.verify(message.content, lookup)
        facts.dkim = dkim_result
        self.publish(dkim_check.dkim_verdict(dkim_result), client)
        if not self.run_dmarc:
            return None
        domain = from_domain(message.content)
        if not domain:
            self.note(
                client,
                "DMARC: the message has no single From: address, so there is no domain whose "
                "policy could apply (RFC 7489 §6.6.1); DMARC not evaluated",
                level="warning",
            )
            return None
        spf_pair = None
        if facts.spf is not None:
            spf_pair = (facts.spf.domain, str(facts.spf.result))
        # pct= sampling seeded by the queue id: a rerun of a scenario decides the same way.
        result = await dmarc_check.evaluate(
            domain, spf_pair, dkim_result.pairs(), lookup, rng=random.Random(message.queue_id)
        )
        facts.dmarc = result
        verdict = dmarc_check.dmarc_verdict(result)
        if verdict.action is Action.REJECT:
            verdict = _explained(verdict, "the message is refused at end of DATA (550 5.7.1)")
            self.publish(verdict, client)
            return Decision.refuse(verdict.reply)
        if verdict.action is Action.QUARANTINE:
            verdict = _explained(verdict, "the message is accepted but delivered into Junk")
            self.publish(verdict, client)
            extra = (SPAM_FLAG,) if self.host.relay_to else ()
            return Decision(add_headers=extra, folder=JUNK)
        self.publish(verdict, client)
        return None


def _explained(verdict: Verdict, consequence: str) -> Verdict:
    return replace(verdict, reasons=(*verdict.reasons, consequence))


class AuthResultsPolicy(FilterPolicy):
    """Adds the RFC 8601 Authentication-Results header for whatever checks ran."""

    name = "authentication-results"

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        if self.is_trusted(client):
            return None
        facts = self.facts.of(client.session)
        spf = None
        if facts.spf is not None:
            result = facts.spf
            if result.identity is spf_check.Identity.MAILFROM and message.sender:
                spf = SpfSummary(str(result.result), mailfrom=message.sender)
            else:
                spf = SpfSummary(str(result.result), helo=result.helo)
        header = build_header(self.host.name, spf=spf, dkim=facts.dkim, dmarc=facts.dmarc)
        return Decision(add_headers=(header,))


# --------------------------------------------------------------------------- the factory


def trusted_relays(host: HostSpec, scenario: Scenario) -> dict[str, str]:
    """Address -> name of each host that relays to ``host`` and runs checks of its own."""
    return {
        h.address: h.name
        for h in scenario.hosts
        if h.relay_to == host.name and h.checks and h.name != host.name
    }


def build_policies(
    ctx: WorldContext,
    host: HostSpec,
    scenario: Scenario,
    *,
    greylist: Policy | None = None,
) -> list[Policy]:
    """The receiver policies for ``host``, in Postfix's order: DNSBL, greylist, SPF, DKIM/DMARC.

    ``greylist`` is the greylisting policy when the caller has one (it is built with the
    queue's clock elsewhere); it goes where postgrey sits in smtpd_recipient_restrictions.
    """
    if host.role is Role.CLIENT:
        return []
    facts = SessionFacts()
    trusted = trusted_relays(host, scenario)
    checks = set(host.checks)
    policies: list[Policy] = []
    if trusted:
        relay_checks = {name: scenario.host(name).checks for name in trusted.values()}
        policies.append(TrustedRelayPolicy(ctx, host, facts, trusted, relay_checks))
    if Check.DNSBL in checks and host.dnsbl_zones:
        policies.append(DnsblPolicy(ctx, host, facts, trusted))
    if greylist is not None:
        policies.append(greylist)
    if Check.SPF in checks:
        policies.append(SpfPolicy(ctx, host, facts, trusted))
    if Check.DKIM in checks or Check.DMARC in checks:
        policies.append(DkimDmarcPolicy(ctx, host, facts, trusted, run_dmarc=Check.DMARC in checks))
    if checks & {Check.SPF, Check.DKIM, Check.DMARC}:
        policies.append(AuthResultsPolicy(ctx, host, facts, trusted))
    return policies


__all__ = [
    "AuthResultsPolicy",
    "DkimDmarcPolicy",
    "DnsblPolicy",
    "FilterPolicy",
    "SessionFacts",
    "SpfPolicy",
    "TrustedRelayPolicy",
    "build_policies",
    "from_domain",
    "recipient_rejected",
    "trusted_relays",
]
