"""Put in order: move the item under the cursor up or down, answer with Enter."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from tutor.learn.questions import OrderItem
from tutor.ui.widgets.lesson.messages import AnswerGiven, HintAsked, SkipAsked


class OrderInput(Widget, can_focus=True):
    """``▶`` marks the item under the cursor; [ and ] (or shift+↑/↓) move it."""

    DEFAULT_CSS = """
    OrderInput { height: auto; }
    """

    BINDINGS = [
        Binding("left_square_bracket,shift+up", "move(-1)", "Move item", key_display="[ ]"),
        Binding("right_square_bracket,shift+down", "move(1)", "Move item down", show=False),
        Binding("enter", "answer", "Answer"),
        Binding("h", "hint", "Hint"),
        Binding("k", "skip", "Skip"),
        Binding("up", "cursor(-1)", "Previous item", show=False),
        Binding("down", "cursor(1)", "Next item", show=False),
    ]

    def __init__(self, items: tuple[OrderItem, ...], order: tuple[str, ...]) -> None:
        super().__init__()
        self.items = {item.key: item for item in items}
        self.order = list(order)  # item keys as the learner has them now
        self.cursor = 0

    def render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for index, key in enumerate(self.order):
            here = index == self.cursor
            style = "bold" if here else ""
            table.add_row(
                Text(f"{'▶' if here else ' '} {index + 1}.", style=style),
                Text(self.items[key].text, style=style),
            )
        return table

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(len(self.order) - 1, self.cursor + delta))
        self.refresh()

    def action_move(self, delta: int) -> None:
        target = self.cursor + delta
        if not 0 <= target < len(self.order):
            return
        self.order[self.cursor], self.order[target] = self.order[target], self.order[self.cursor]
        self.cursor = target
        self.refresh()

    def action_answer(self) -> None:
        self.post_message(AnswerGiven(tuple(self.order)))

    def action_hint(self) -> None:
        self.post_message(HintAsked())

    def action_skip(self) -> None:
        self.post_message(SkipAsked())
