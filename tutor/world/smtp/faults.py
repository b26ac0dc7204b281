"""Temporary faults of a receiving host as a receiver Policy: 451/452 at RCPT or DATA, silence.

Each fault answers the way the software that causes it in real life answers:

* ``rcpt-451``: ``451 4.3.0 <rcpt>: Temporary lookup failure`` — Postfix smtpd when a lookup
  table (the virtual mailbox map, say) cannot be read.
* ``rcpt-452``: ``452 4.5.3 Error: too many recipients`` — Postfix smtpd over
  smtpd_recipient_limit; RFC 5321 section 4.5.3.1.10 asks clients to send the rest later.
* ``data-451``: ``451 4.3.0 Error: queue file write error`` — Postfix cleanup when it cannot
  write the queue file, after the whole message was sent.
* ``mailbox-full``: ``452 4.2.2 <rcpt>: Recipient address rejected: Mailbox is full`` — a Postfix
  MX asking Dovecot's quota-status service (quota_status_overquota with a 4xx code, so senders
  keep retrying instead of bouncing at once).
* ``timeout``: the connection is accepted and the server never says a word. The world's client
  gives up after a short real wait (``CLIENT_TIMEOUT``); the queue runner then moves the world
  clock on to where Postfix would have given up (smtp_helo_timeout, 300 s) and says so.

``greet-421`` and ``down`` live in the receiver and the world (they are not per recipient).
Every fault stops once the world clock is ``fault_clears_after`` seconds past the moment the
host started (0 = never), and RCPT-level faults hit only ``fault_users`` when the host lists any.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tutor.scenario import Fault, HostSpec, Scenario
from tutor.trace import Side, Stage
from tutor.world.smtp.receiver import Client, Decision, IncomingMessage, Policy, fault_holds

if TYPE_CHECKING:
    from tutor.world.context import WorldContext

# How long the world's SMTP client really waits for a mute server: short, so a class does not
# sit through Postfix's five minutes; the world clock is advanced by the rest afterwards.
CLIENT_TIMEOUT = 1.5
# What Postfix's smtp(8) would have waited (its defaults), by what it was waiting for.
SMTP_CONNECT_TIMEOUT = 30.0
SMTP_HELO_TIMEOUT = 300.0
# A mute server keeps the socket open at most this long (real seconds); the client leaves first.
MUTE_FOR = 60.0

_RCPT_FAULTS = (Fault.RCPT_451, Fault.RCPT_452, Fault.MAILBOX_FULL)


def rcpt_reply(fault: Fault, recipient: str) -> str:
    """The reply a RCPT-level fault sends, in the words of the software behind it."""
    if fault is Fault.RCPT_451:
        return f"451 4.3.0 <{recipient}>: Temporary lookup failure"
    if fault is Fault.RCPT_452:
        return "452 4.5.3 Error: too many recipients"
    if fault is Fault.MAILBOX_FULL:
        return f"452 4.2.2 <{recipient}>: Recipient address rejected: Mailbox is full"
    raise ValueError(f"{fault} is not a RCPT-level fault")


DATA_451_REPLY = "451 4.3.0 Error: queue file write error"


class FaultPolicy(Policy):
    """The host's temporary faults, consulted last at each stage (after the real checks)."""

    name = "faults"

    def __init__(self, ctx: WorldContext, host: HostSpec) -> None:
        self.ctx = ctx
        self.host = host
        self.started = ctx.clock.now()
        self.users = frozenset(u.lower() for u in host.fault_users)

    def active(self) -> bool:
        """Whether the faults still hold on the world clock."""
        return fault_holds(self.host, self.started, self.ctx.clock.now())

    def hits(self, recipient: str) -> bool:
        return not self.users or recipient.lower() in self.users

    async def on_connect(self, client: Client) -> Decision | None:
        if Fault.TIMEOUT in self.host.faults and self.active():
            self._note(client, "accepted the connection and says nothing (fault: timeout)")
            # Cancelled when the client hangs up (aiosmtpd cancels the session's handler).
            await asyncio.sleep(MUTE_FOR)
            return Decision.refuse(f"421 4.4.2 {self.host.name} Error: timeout exceeded")
        return None

    async def on_rcpt(self, client: Client, sender: str, recipient: str) -> Decision | None:
        if not self.active() or not self.hits(recipient):
            return None
        for fault in _RCPT_FAULTS:
            if fault in self.host.faults:
                return Decision.refuse(rcpt_reply(fault, recipient))
        return None

    async def on_data(self, client: Client, message: IncomingMessage) -> Decision | None:
        hit = any(self.hits(r) for r in message.recipients)
        if Fault.DATA_451 in self.host.faults and self.active() and hit:
            return Decision.refuse(DATA_451_REPLY)
        return None

    def _note(self, client: Client, text: str) -> None:
        self.ctx.note(
            f"{self.host.name} {text}",
            host=self.host.name,
            stage=Stage.CONNECT,
            side=Side.SERVER,
            session=client.session,
        )


_POLICY_FAULTS = frozenset({*_RCPT_FAULTS, Fault.DATA_451, Fault.TIMEOUT})


def fault_policies(ctx: WorldContext, host: HostSpec) -> list[Policy]:
    """The fault policy for ``host`` when it has any fault this module implements."""
    return [FaultPolicy(ctx, host)] if host.faults & _POLICY_FAULTS else []


def client_timeout(scenario: Scenario) -> float | None:
    """The outbound MTA's real read timeout: short when some host plays mute, else the default."""
    if any(Fault.TIMEOUT in h.faults for h in scenario.hosts):
        return CLIENT_TIMEOUT
    return None


__all__ = [
    "CLIENT_TIMEOUT",
    "DATA_451_REPLY",
    "SMTP_CONNECT_TIMEOUT",
    "SMTP_HELO_TIMEOUT",
    "FaultPolicy",
    "client_timeout",
    "fault_policies",
    "rcpt_reply",
]
