"""Local delivery on the outbound host: Postfix's virtual(8) for the domains the host serves.

Postfix does not send mail for a domain it hosts over SMTP to itself: the queue manager hands
it to the local delivery agent, which writes the Maildir under the message's own queue id and
logs ``postfix/virtual[…]: ID: to=<alice@…>, relay=virtual, …, status=sent (delivered to
maildir)``. That is where a bounce or delay warning to a local sender goes (issue 14 item 1):
a host that really sent it to itself by MX would log "mail for … loops back to myself".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tutor.scenario import HostSpec
from tutor.trace import Delivery, Outcome, RecipientResult, Side, Stage
from tutor.world.context import WorldContext
from tutor.world.smtp.mailbox import INBOX, Mailboxes
from tutor.world.smtp.receiver import POSTMASTER, domain_of
from tutor.world.smtp.smtpd import prepend_headers

LOCAL_RELAY = "virtual"  # what relay= says for a local delivery
DELIVERED = "2.0.0 delivered to maildir"


@dataclass
class LocalDelivery:
    """The outbound host's mailboxes, for mail whose recipient domain the host serves."""

    ctx: WorldContext
    host: HostSpec
    users: frozenset[str]  # lower-cased addresses with a mailbox here
    mailboxes: Mailboxes

    @classmethod
    def for_host(
        cls, ctx: WorldContext, host: HostSpec, addresses: list[str], mailboxes: Mailboxes
    ) -> LocalDelivery:
        domains = {d.lower() for d in host.domains}
        users = {a.lower() for a in addresses if domain_of(a) in domains}
        users |= {f"{POSTMASTER}@{d}" for d in domains}  # RFC 5321 §4.5.1, as the MX
        return cls(ctx, host, frozenset(users), mailboxes)

    def serves(self, recipient: str) -> bool:
        return domain_of(recipient) in {d.lower() for d in self.host.domains}

    def deliver(
        self,
        queue_id: str,
        sender: str,
        recipient: str,
        content: bytes,
        stored: Callable[[], None] = lambda: None,
    ) -> RecipientResult:
        """Write one recipient's copy (Return-Path, Delivered-To, as virtual(8) adds them).

        ``stored`` is called the moment the Maildir file exists, before anything is published,
        so the queue can persist the delivery first: a kill -9 must not deliver it twice.
        """
        if recipient.lower() not in self.users:
            # virtual(8) for an address its maps do not know.
            return self._result(
                queue_id, recipient, Outcome.REJECTED, f'5.1.1 unknown user: "{recipient}"'
            )
        headers = [f"Return-Path: <{sender}>", f"Delivered-To: {recipient}"]
        path = self.mailboxes.deliver(recipient, prepend_headers(content, headers))
        stored()
        self.ctx.publish(
            Delivery(
                host=self.host.name,
                stage=Stage.DELIVERY,
                side=Side.SERVER,
                recipient=recipient,
                mailbox=str(self.mailboxes.path(recipient)),
                folder=INBOX,
                filename=path.name,
                size=path.stat().st_size,
                headers_added=tuple(headers),
            )
        )
        return self._result(queue_id, recipient, Outcome.DELIVERED, DELIVERED)

    def _result(
        self, queue_id: str, recipient: str, outcome: Outcome, reply: str
    ) -> RecipientResult:
        event = self.ctx.publish(
            RecipientResult(
                host=self.host.name,
                stage=Stage.DELIVERY,
                side=Side.CLIENT,
                explain=f"outcome.{outcome}",
                recipient=recipient,
                outcome=outcome,
                reply=reply,
                relay=LOCAL_RELAY,
                queue_id=queue_id,
            )
        )
        assert isinstance(event, RecipientResult)
        return event


__all__ = ["DELIVERED", "LOCAL_RELAY", "LocalDelivery"]
