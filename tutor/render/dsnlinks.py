"""Each field of a DSN with the trace event it came from, grouped for the transcript and the TUI."""

from __future__ import annotations

from dataclasses import dataclass

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
    """The bounce's links, fields that share recipient, event and source grouped together.

    Grouped because a recipient's Action, Status, Remote-MTA and Diagnostic-Code all come from
    one reply: one line (or one jump target) per cause reads better than one per field.
    """
    grouped: dict[tuple[str, int, str], list[str]] = {}
    for link in event.links:
        text = f"{link.field}: {link.value}" if link.value else link.field
        grouped.setdefault((link.recipient, link.seq, link.source), []).append(text)
    return [
        DsnLink(recipient, seq, source, tuple(fields))
        for (recipient, seq, source), fields in grouped.items()
    ]


__all__ = ["DsnLink", "dsn_links"]
