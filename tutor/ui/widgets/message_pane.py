"""The message as it grows: headers top to bottom, each marked with the host that added it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.story import message_state, shaping_events
from tutor.trace import Event
from tutor.ui.lines import host_labels


class MessagePane(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Event, ...] | None = None  # shaping_events() of what is shown

    def compose(self) -> ComposeResult:
        yield Static("", id="message-text")

    def show(self, events: Sequence[Event]) -> None:
        shaping = shaping_events(events)
        if shaping == self._shown:
            return  # steps that did not touch the message leave it as it is
        self._shown = shaping
        static = self.query_one("#message-text", Static)
        state = message_state(events)
        short = host_labels(events)
        if state is None:
            static.update(Text("The message appears here once DATA has been sent.", style="italic"))
            return
        parts = [Text("path: " + " → ".join(state.hops), style="bold"), Text("")]
        for header in state.headers:
            line = Text()
            mark = f"+{short(header.added_by)}" if header.added_by else "author"
            line.append(f"[{mark:>8}] ", style="bold" if header.added_by else "dim")
            line.append(f"{header.name}: ", style="bold")
            line.append(header.value)
            parts.append(line)
        parts += [Text(""), Text(state.body_preview), Text(f"({state.size} bytes)", style="dim")]
        static.update(Group(*parts))
