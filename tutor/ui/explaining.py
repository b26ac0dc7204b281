"""Lay out the shared explanation of an event for the TUI's explain pane.

The words come from tutor.render.explain, the one function every view asks (the same answer
`run --plain --explain` prints); this module only lays them out: title, what it is, the code
broken down, what happens next, RFC.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from tutor.render.explain import explain_event
from tutor.trace import Event
from tutor.ui.lines import event_body, highlight


def _transcript(event: Event, width: int) -> RenderableType:
    """The event as the plain transcript prints it (all lines: payloads, DNS records, TLS)."""
    from tutor.ui.lines import highlight_transcript, transcript_lines

    lines = transcript_lines(event, width=max(40, width))
    if not lines:
        return highlight(event_body(event))
    return highlight_transcript("\n".join(lines), wrap=True)


def explanation_renderable(event: Event | None, width: int = 80) -> RenderableType:
    if event is None:
        return Text("Select a line to see what it means.", style="italic")
    explained = explain_event(event)  # never raises: a gap in the tables reads as generic
    parts: list[RenderableType] = [_transcript(event, width)]
    if explained.title:
        parts.insert(0, Text(explained.title, style="bold underline"))
    parts.extend(Text(paragraph) for paragraph in explained.body)
    if explained.breakdown:
        parts.append(Text("Breakdown", style="bold"))
        parts.extend(Text(f"  • {label}: {value}") for label, value in explained.breakdown)
    if explained.next_step:
        parts.append(Text.assemble(("Next: ", "bold"), explained.next_step))
    if explained.rfc:
        parts.append(Text.assemble(("See: ", "bold"), explained.rfc_text))
    return Group(*parts)
