"""The lifecycle bar: every stage of the email's life, the current one marked three ways."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tutor.ui.lifecycle import MARKERS, BarStage, StageState

STYLES: dict[StageState, str] = {
    StageState.PENDING: "dim",
    StageState.DONE: "",
    StageState.CURRENT: "bold reverse",
    StageState.SKIPPED: "dim strike",
}


def bar_text(states: list[tuple[BarStage, StageState]], fallback: str = "") -> Text:
    """Marker + label per stage; the current one also gets bold, reverse and a 'now' label."""
    text = Text()
    current = next((s.label for s, state in states if state is StageState.CURRENT), "")
    text.append(f"now: {current or fallback or '—'}  ", style="bold")
    for i, (stage, state) in enumerate(states):
        if i:
            text.append(" → ", style="dim")
        text.append(f"{MARKERS[state]} {stage.label}", style=STYLES[state])
    return text


class LifecycleBar(Static):
    """DNS → connect → EHLO → … → bounce/delivery, redrawn whenever the selection moves."""

    DEFAULT_CLASSES = "lifecycle-bar"

    _shown: object = None

    def show(self, states: list[tuple[BarStage, StageState]], fallback: str = "") -> None:
        # Static.update re-lays out the screen; skip it when nothing changed (most events).
        key = (tuple(states), fallback)
        if key != self._shown:
            self._shown = key
            self.update(bar_text(states, fallback))
