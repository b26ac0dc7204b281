"""The run as a sequence diagram (hosts as columns), with the selected step marked."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static

from tutor.trace import Event
from tutor.ui.diagram import sequence_diagram


class SequencePane(ScrollableContainer):
    def compose(self) -> ComposeResult:
        yield Static("", id="sequence-text")

    def show(self, events: Sequence[Event], selected_seq: int | None) -> None:
        width = max(40, self.size.width - 2)
        text = Text(no_wrap=True, overflow="crop")
        selected_row = 0
        for number, row in enumerate(sequence_diagram(events, width)):
            if number:
                text.append("\n")
            chosen = row.seq is not None and row.seq == selected_seq
            if chosen:
                selected_row = number
            text.append(("▸" if chosen else " ") + row.text, style="bold reverse" if chosen else "")
        static = self.query_one("#sequence-text", Static)
        static.update(text)
        self.scroll_to(y=max(0, selected_row - self.size.height // 2), animate=False)
