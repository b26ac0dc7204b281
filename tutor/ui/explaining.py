"""Turn the shared explanation tables' answer for an event into something the TUI can show.

The words come from tutor.render.explain (data shared with `run --plain --explain`); this
module only lays them out: title, what it is, the code broken down, what happens next, RFC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from tutor.trace import Event
from tutor.ui.lines import event_body, highlight


def _explain(event: Event) -> Any | None:
    try:
        from tutor.render.explain import explain_event
    except ImportError:  # the explanation tables land separately
        return None
    try:
        return explain_event(event)
    except Exception:  # a gap in the tables must not take the screen down
        return None


def _as_lines(value: Any) -> Iterable[str]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, dict):
        return (f"{k}: {v}" for k, v in value.items())
    if isinstance(value, Iterable):
        return (
            ": ".join(str(part) for part in item) if isinstance(item, tuple) else str(item)
            for item in value
        )
    return (str(value),)


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
    parts: list[RenderableType] = [_transcript(event, width)]
    found = _explain(event)
    if found is None:
        parts.append(Text(f"({event.type}, stage {event.stage})", style="dim"))
        return Group(*parts)
    title = getattr(found, "title", "")
    if title:
        parts.insert(0, Text(str(title), style="bold underline"))
    parts.extend(Text(paragraph) for paragraph in _as_lines(getattr(found, "body", ())))
    breakdown = list(_as_lines(getattr(found, "breakdown", ())))
    if breakdown:
        parts.append(Text("Breakdown", style="bold"))
        parts.extend(Text(f"  • {line}") for line in breakdown)
    next_step = getattr(found, "next_step", "")
    if next_step:
        parts.append(Text.assemble(("Next: ", "bold"), str(next_step)))
    rfc = getattr(found, "rfc", "")
    if rfc:
        parts.append(Text.assemble(("See: ", "bold"), ", ".join(_as_lines(rfc))))
    return Group(*parts)
