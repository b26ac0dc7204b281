"""What the outbound MTA tells whoever handed it a message, as each fact becomes known.

The queue manager must persist a delivery the moment the server takes the message (a kill -9
between the final 250 and QUIT must not send it twice) and log each attempt as Postfix's
smtp(8) does. The MTA tells it those facts by direct calls — never by the queue reading the
trace — so the queue's safety cannot depend on how a line is worded or shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tutor.trace import RecipientResult


class DeliveryObserver(Protocol):
    """Told about one delivery attempt of one message, in the order things happen."""

    def connected(self, session: str, relay: str, time: float) -> None:
        """A TCP connection to ``relay`` (Postfix's name[addr]:port) is up."""

    def connect_failed(self, relay: str, reason: str) -> None:
        """A connection to ``relay`` could not be made (refused, timed out, ...)."""

    def skipped(self, relay: str, reply: str, command: str) -> None:
        """A server that is not the last one to try failed temporarily (``reply`` to
        ``command``, "" for the greeting) and delivery moves on to the next one."""

    def handed_over(
        self, session: str, recipients: Sequence[str], reply: str, relay: str, time: float
    ) -> None:
        """The server answered the end of DATA with 2xx: it now has ``recipients``' copy."""

    def decided(self, result: RecipientResult, command: str) -> None:
        """A recipient's result of this attempt is final; ``command`` is the SMTP command
        whose reply decided it, in Postfix's words ("RCPT TO", "end of DATA"), or ""."""


class NoObserver:
    """For a caller that only wants the results (tests, a one-off delivery)."""

    def connected(self, session: str, relay: str, time: float) -> None:
        pass

    def connect_failed(self, relay: str, reason: str) -> None:
        pass

    def skipped(self, relay: str, reply: str, command: str) -> None:
        pass

    def handed_over(
        self, session: str, recipients: Sequence[str], reply: str, relay: str, time: float
    ) -> None:
        pass

    def decided(self, result: RecipientResult, command: str) -> None:
        pass
