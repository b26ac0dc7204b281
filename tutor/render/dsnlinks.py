"""Each field of a DSN with the trace event it came from, worded for the transcript and the TUI."""

from __future__ import annotations

from dataclasses import dataclass

from tutor.story import dsn_causes
from tutor.trace import Bounce


@dataclass(frozen=True)
class DsnLink:
    """Some DSN fields of one recipient (or of the whole message) and the event behind them.

    ``seq`` is the trace sequence number of that event (a RecipientResult for the per-recipient
    fields, the QueueChange into "incoming" for Arrival-Date); 0 means the trace has no such
    event and the value came from the queue file alone.
    """

    recipient: str
    seq: int
    source: str
    fields: tuple[str, ...]  # "Status: 5.1.1", in the order the DSN carries them

    @property
    def origin(self) -> str:
        origin = f"event #{self.seq}" if self.seq else "the queue file"
        return origin + (f" ({self.source})" if self.source else "")

    @property
    def text(self) -> str:
        """One line: "bob@example.net: Action: failed; Status: 5.1.1 ← event #42 (…)"."""
        who = f"{self.recipient}: " if self.recipient else ""
        return f"{who}{'; '.join(self.fields)} ← {self.origin}"


def dsn_links(event: Bounce) -> list[DsnLink]:
    """The bounce's links, one per cause (story groups fields that share recipient and event)."""
    return [
        DsnLink(
            cause.recipient,
            cause.seq,
            cause.source,
            tuple(f"{f.field}: {f.value}" if f.value else f.field for f in cause.fields),
        )
        for cause in dsn_causes(event)
    ]


__all__ = ["DsnLink", "dsn_links"]
