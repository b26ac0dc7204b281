"""The explanation of the selected line: what it is, why now, the code broken down, what next."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.trace import Event
from tutor.ui.explaining import explanation_renderable


class ExplanationPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(explanation_renderable(None), id="explanation-text")

    def show(self, event: Event | None) -> None:
        self.query_one("#explanation-text", Static).update(
            explanation_renderable(event, width=self.size.width - 2)
        )
        self.scroll_home(animate=False)
