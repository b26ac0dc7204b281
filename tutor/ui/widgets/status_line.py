"""The status line: mode, speed, filter, what the world waits to do, and how the run ended."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    _shown: object = None

    def show(
        self,
        *,
        playing: bool,
        speed: float,
        event_filter: str,
        shown: int,
        recorded: int,
        waiting_for: str,
        ending: str,
    ) -> None:
        key = (playing, speed, event_filter, shown, recorded, waiting_for, ending)
        if key == self._shown:  # Static.update re-lays out the screen; skip needless ones
            return
        self._shown = key
        text = Text()
        mode = f"▶ play {speed:g}/s" if playing else f"⏸ step ({speed:g}/s)"
        text.append(mode, style="bold")
        text.append(f" · {event_filter} · line {shown}/{recorded}")
        if ending:
            text.append(f" · {ending}", style="bold")
        elif waiting_for:
            text.append(f" · next: {waiting_for}", style="italic")
        self.update(text)
