"""The queue so far: each message's retry timeline; the selected bounce's DSN fields as links."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tutor.render.dsnlinks import DsnLink, dsn_links
from tutor.render.timeline import render_timeline
from tutor.story import build_timelines
from tutor.trace import Bounce, BounceAction, Event

NOTHING_QUEUED = "No message has entered the queue yet at this step."
# Until the pane has been laid out it has no width; the wide side panel is about this wide.
FALLBACK_WIDTH = 44


def link_prompt(link: DsnLink, width: int = FALLBACK_WIDTH) -> Text:
    """A link as the learner reads it: the event it points at, the cause, one field per line.

    Wrapped here, with a hanging indent, so a long Diagnostic-Code stays under its field.
    """
    text = Text()
    text.append(f"→ #{link.seq}" if link.seq else "· no event", style="bold")
    text.append(f"  {link.recipient or 'the message'}")
    for line in textwrap.wrap(f"from {link.source or link.origin}", width - 4):
        text.append(f"\n    {line}", style="italic")
    for field in link.fields:
        for line in textwrap.wrap(field, width - 4, subsequent_indent="  "):
            text.append(f"\n    {line}")
    return text


class QueuePane(VerticalScroll):
    """Redrawn for the events up to the selection, so stepping back shows the queue as it was."""

    class LinkFollowed(Message):
        """The learner chose a DSN link: select the trace event numbered ``seq``."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._events: Sequence[Event] = ()
        self._selected: Event | None = None
        self._link_seqs: list[int] = []  # option position -> the seq it points at (0: none)
        self._links_of: Bounce | None = None
        self._wrapped_at = 0  # the width the text was wrapped to

    def compose(self) -> ComposeResult:
        yield Static("", id="queue-links-heading")
        yield OptionList(id="queue-links")
        yield Static("", id="queue-text")

    @property
    def links(self) -> OptionList:
        return self.query_one("#queue-links", OptionList)

    def show(self, events: Sequence[Event], selected: Event | None) -> None:
        self._events, self._selected = events, selected
        self._show_links(selected)
        self._show_timelines(events)

    def on_resize(self, _: Resize) -> None:
        if self._width() != self._wrapped_at:
            self._show_links(self._selected, rewrap=True)
            self._show_timelines(self._events)

    def _width(self) -> int:
        width = self.scrollable_content_region.width
        return width - 1 if width >= 20 else FALLBACK_WIDTH

    def _show_links(self, selected: Event | None, *, rewrap: bool = False) -> None:
        heading = self.query_one("#queue-links-heading", Static)
        links = self.links
        bounce = selected if isinstance(selected, Bounce) else None
        heading.display = links.display = bounce is not None
        same = bounce is self._links_of
        if same and not rewrap:
            return  # keep the learner's place in the list across redraws
        keep = links.highlighted if same else None  # nor lose it when the pane is resized
        self._links_of = bounce
        if bounce is None:
            self._link_seqs = []
            links.clear_options()
            return
        kind = "delay warning" if bounce.action == BounceAction.DELAYED else "non-delivery report"
        heading.update(
            Text.assemble(
                (f"DSN {bounce.dsn_queue_id}", "bold"),
                f" ({kind} for {bounce.queue_id}): where each field came from. ",
                ("Enter on a link selects that event in the log.", "italic"),
            )
        )
        found = dsn_links(bounce)
        self._link_seqs = [link.seq for link in found]
        links.clear_options()
        width = self._width()
        links.add_options(
            Option(link_prompt(link, width - 2), disabled=not link.seq) for link in found
        )
        if keep is not None and keep < len(found):
            links.highlighted = keep

    def _show_timelines(self, events: Sequence[Event]) -> None:
        static = self.query_one("#queue-text", Static)
        timelines = build_timelines(events)
        if not timelines:
            static.update(Text(NOTHING_QUEUED, style="italic"))
            return
        width = self._wrapped_at = self._width()
        parts: list[Text] = []
        for timeline in timelines:
            if parts:
                parts.append(Text(""))
            for line in render_timeline(timeline, width, stacked=True):
                bold = line.startswith(("Retry timeline", "attempt "))
                parts.append(Text(line, style="bold" if bold else ""))
        static.update(Group(*parts))

    def focus_links(self) -> bool:
        """Put the keyboard on the first link that points at an event; False if there is none."""
        links = self.links
        for position in range(links.option_count):
            if not links.get_option_at_index(position).disabled:
                links.focus()
                links.highlighted = position
                return True
        return False

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        index = message.option_index
        if 0 <= index < len(self._link_seqs) and self._link_seqs[index]:
            self.post_message(self.LinkFollowed(self._link_seqs[index]))
