"""The traffic log: one line per revealed event, the selected one is the one being explained."""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.trace import Event
from tutor.ui.lines import event_line, host_labels


class TrafficLog(OptionList):
    """An OptionList whose options are events; syncs incrementally so a step adds one option."""

    class Picked(Message):
        """The learner moved the highlight (mouse or arrow keys) to another event."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.indexes: list[int] = []  # option position -> index into the recorded events
        self._syncing = False
        self._synced_position: int | None = None

    def sync(self, events: Sequence[Event], visible: list[int], cursor: int) -> None:
        """Show exactly ``visible`` (indexes into ``events``) with ``cursor`` highlighted."""
        self._syncing = True
        try:
            if visible[: len(self.indexes)] != self.indexes:
                self.clear_options()
                self.indexes = []
                self._synced_position = None
            new = visible[len(self.indexes) :]
            if new:
                labels = host_labels(events)
                self.add_options([Option(event_line(events[i], labels), id=str(i)) for i in new])
                self.indexes.extend(new)
            if cursor in self.indexes:
                position = self.indexes.index(cursor)
                self._synced_position = position
                if self.highlighted != position:
                    self.highlighted = position
                self.scroll_to_highlight()
        finally:
            self._syncing = False

    def on_resize(self) -> None:
        # A pane beside or below grew (the lesson pane asks a question): keep the line in view.
        if self.highlighted is not None:
            self.scroll_to_highlight()

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        message.stop()
        # The highlight messages of our own sync() arrive later, through the message queue: a
        # stale one must not drag the cursor back (it would undo steps taken meanwhile).
        index = message.option_index
        if index != self.highlighted or index == self._synced_position:
            return
        if index >= len(self.indexes):
            return
        self.post_message(self.Picked(self.indexes[message.option_index]))
