"""Projector mode's centrepiece: the current stage and the current line, big and centred."""

from __future__ import annotations

from rich.align import Align
from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tutor.trace import Event
from tutor.ui.lines import FIRST_LABELS, HostLabels, event_body, event_prefix, highlight


class Spotlight(Static):
    def show(self, stage_label: str, event: Event | None, short: HostLabels = FIRST_LABELS) -> None:
        stage = Text(f"▶ {stage_label or 'ready'} ◀", style="bold reverse")
        if event is None:
            line = Text("press space to take the first step", style="italic")
            who = Text("")
        else:
            who = Text(event_prefix(event, short).strip(), style="bold")
            line = highlight(event_body(event))
            line.stylize("bold")
        self.update(Group(Align.center(stage), Text(""), Align.center(who), Align.center(line)))
