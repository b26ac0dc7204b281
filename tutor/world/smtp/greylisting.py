"""Greylisting on a receiving host: postgrey's decision (tutor.policy.greylist) as a Policy.

At RCPT TO the triplet (client network, sender, recipient) is checked on the world clock; the
verdict and its steps go into the trace, postgrey's own log line into the mail log, and a
deferral is answered as Postfix answers postgrey's DEFER_IF_PERMIT, with 450 4.2.0. A message
that passed after being held back gets postgrey's ``X-Greylist`` header at DATA, once,
whichever recipient earned it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tutor.policy.greylist import Greylist, GreylistPolicy
from tutor.scenario import Check, HostSpec, Scenario
from tutor.trace import Side
from tutor.world.maillog.records import Peer, PostgreyAction
from tutor.world.smtp.receiver import Client, Decision, IncomingMessage, Policy

if TYPE_CHECKING:
    from tutor.world.context import WorldContext


class GreylistingPolicy(Policy):
    """One MX's greylist, its state kept in the run directory so a restart remembers it."""

    name = "greylist"

    def __init__(self, ctx: WorldContext, host: HostSpec, greylist: Greylist) -> None:
        self.ctx = ctx
        self.host = host
        self.greylist = greylist
        self._headers: dict[str, str] = {}  # session -> X-Greylist line for the next DATA

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        decision = self.greylist.check(client.address, sender, recipient)
        event = decision.to_verdict().to_event(
            host=self.host.name, session=client.session, explain="policy.greylist"
        )
        self.ctx.publish(dataclasses.replace(event, side=Side.SERVER))
        record = PostgreyAction(
            action="greylist" if decision.deferred else "pass",
            reason=decision.postgrey_reason,
            client=Peer(client.name.strip("[]") if client.name else "", client.address),
            sender=sender,
            recipient=recipient,
            delay=decision.delayed or None,
        )
        self.ctx.maillog.log(record, host=self.host.name, session=client.session)
        if decision.deferred:
            return Decision.refuse(decision.reply)
        if decision.header:
            self._headers[client.session] = decision.header
        return None

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        header = self._headers.pop(client.session, "")
        return Decision(add_headers=(header,)) if header else None


def greylist_policy(ctx: WorldContext, host: HostSpec, scenario: Scenario) -> Policy | None:
    """The greylisting policy of ``host`` when its checks include greylist, else None."""
    if Check.GREYLIST not in host.checks:
        return None
    settings = GreylistPolicy.from_overrides(scenario.timing.greylist, host.name)
    store = ctx.run_dir / "greylist" / f"{host.name}.json"
    return GreylistingPolicy(ctx, host, Greylist(ctx.clock, store, settings))


__all__ = ["GreylistingPolicy", "greylist_policy"]
