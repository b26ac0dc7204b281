"""The DSNs of a run: each one's fields (Action, Status, Diagnostic-Code, ...) and their causes.

The world records, on every Bounce, each field it wrote into the DSN (RFC 3464 §2.2, §2.3)
and the trace event its value came from (a DsnFieldLink): a RecipientResult for the
per-recipient fields, the QueueChange of arrival for Arrival-Date. Story looks fields up by
name and recipient, so a quiz can ask "Which Status: does the DSN carry?", and groups them by
cause, so a view can link each group to the event behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tutor.trace import Bounce, BounceAction, DsnFieldLink, Event


@dataclass(frozen=True)
class DsnCause:
    """Fields of one recipient (or of the message) that share one cause, in DSN order.

    Grouped because a recipient's Action, Status, Remote-MTA and Diagnostic-Code all come from
    one reply: one line (or one jump target) per cause reads better than one per field.
    """

    recipient: str
    seq: int
    source: str
    fields: tuple[DsnFieldLink, ...]


@dataclass(frozen=True)
class Dsn:
    """One delivery status notification the world generated, with its fields."""

    queue_id: str  # the message it reports on
    dsn_queue_id: str  # the DSN's own queue id
    action: BounceAction  # failed: a non-delivery report; delayed: a delay warning
    recipients: tuple[str, ...]
    fields: tuple[DsnFieldLink, ...]  # in the order the DSN carries them
    seq: int  # the Bounce event

    def value(self, name: str, recipient: str = "") -> str | None:
        """The value of field ``name`` (any case) for ``recipient`` ('' for per-message)."""
        wanted = name.casefold()
        for found in self.fields:
            if found.field.casefold() == wanted and found.recipient == recipient:
                return found.value
        return None


def dsn_causes(bounce: Bounce) -> tuple[DsnCause, ...]:
    """The bounce's fields grouped by (recipient, event, source), first appearance first."""
    grouped: dict[tuple[str, int, str], list[DsnFieldLink]] = {}
    for found in bounce.links:
        grouped.setdefault((found.recipient, found.seq, found.source), []).append(found)
    return tuple(
        DsnCause(recipient, seq, source, tuple(fields))
        for (recipient, seq, source), fields in grouped.items()
    )


def dsns(events: Iterable[Event]) -> tuple[Dsn, ...]:
    """Every DSN of the run, in the order they were generated."""
    return tuple(
        Dsn(
            queue_id=e.queue_id,
            dsn_queue_id=e.dsn_queue_id,
            action=e.action,
            recipients=tuple(e.recipients),
            fields=tuple(e.links),
            seq=e.seq,
        )
        for e in events
        if isinstance(e, Bounce)
    )
