"""Both sides of the selected step: the client's record, the server's record, the mail log."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.trace import Event
from tutor.ui.lines import event_line, host_labels
from tutor.ui.linking import linked_view


def _who(event: Event) -> str:
    return f"{event.side} side ({event.host}), session {event.session or '—'}"


class BothSidesPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("", id="both-sides-text")

    def show(self, events: Sequence[Event], index: int) -> None:
        static = self.query_one("#both-sides-text", Static)
        if not 0 <= index < len(events):
            static.update(Text("Select a line to see both ends of it.", style="italic"))
            return
        view = linked_view(events, index)
        labels = host_labels(events)
        parts = [
            Text(
                _who(view.selected),
                style="bold",
            ),
            event_line(view.selected, labels),
        ]
        if view.peer is not None:
            parts += [
                Text(""),
                Text(
                    _who(view.peer),
                    style="bold",
                ),
                event_line(view.peer, labels),
            ]
        else:
            parts += [Text(""), Text("No record of this step from the other end.", style="italic")]
        if view.log_lines:
            parts += [Text(""), Text("mail log", style="bold")]
            parts += [Text(f"{line.program}: {line.text}") for line in view.log_lines]
        static.update(Group(*parts))
