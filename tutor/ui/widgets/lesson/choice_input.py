"""Single and multiple choice: each choice has a key letter; a glyph marks cursor and pick."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

from tutor.learn.questions import Choice
from tutor.ui.lesson_text import choice_letters
from tutor.ui.widgets.lesson.messages import AnswerGiven, HintAsked, SkipAsked


class ChoiceInput(Widget, can_focus=True):
    """Pick by letter (or move with the arrows and press space), answer with Enter.

    ``(•)`` / ``( )`` for one choice, ``[x]`` / ``[ ]`` for several, ``▶`` the cursor: the
    pick shows without colour.
    """

    DEFAULT_CSS = """
    ChoiceInput { height: auto; }
    """

    BINDINGS = [
        Binding("space", "pick_cursor", "Pick", key_display="a-z/space"),
        Binding("enter", "answer", "Answer"),
        Binding("h", "hint", "Hint"),
        Binding("k", "skip", "Skip"),
        Binding("up", "cursor(-1)", "Previous choice", show=False),
        Binding("down", "cursor(1)", "Next choice", show=False),
    ]

    def __init__(self, choices: tuple[Choice, ...], *, multiple: bool) -> None:
        super().__init__()
        self.choices = choices
        self.multiple = multiple
        self.letters = choice_letters(len(choices))
        self.cursor = 0
        self.picked: list[str] = []  # choice keys, in the order picked

    @property
    def letter_of(self) -> dict[str, str]:
        """Choice key -> the letter shown for it."""
        return {c.key: letter for c, letter in zip(self.choices, self.letters, strict=True)}

    def render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for index, (letter, choice) in enumerate(zip(self.letters, self.choices, strict=True)):
            chosen = choice.key in self.picked
            box = ("[x]" if chosen else "[ ]") if self.multiple else ("(•)" if chosen else "( )")
            here = index == self.cursor
            style = "bold" if here or chosen else ""
            table.add_row(
                Text(f"{'▶' if here else ' '} {letter}) {box}", style=style),
                Text(choice.text, style=style),
            )
        return table

    def on_key(self, event: events.Key) -> None:
        if event.character is not None and event.character in self.letters:
            event.stop()
            event.prevent_default()
            self.pick(self.letters.index(event.character))

    def pick(self, index: int) -> None:
        self.cursor = index
        key = self.choices[index].key
        if not self.multiple:
            self.picked = [key]
        elif key in self.picked:
            self.picked.remove(key)
        else:
            self.picked.append(key)
        self.refresh(layout=True)

    def action_pick_cursor(self) -> None:
        self.pick(self.cursor)

    def action_cursor(self, delta: int) -> None:
        self.cursor = max(0, min(len(self.choices) - 1, self.cursor + delta))
        self.refresh()

    def action_answer(self) -> None:
        if not self.picked:
            self.notify("Pick a choice first: press its letter.", timeout=2)
            return
        if self.multiple:
            self.post_message(AnswerGiven(frozenset(self.picked)))
        else:
            self.post_message(AnswerGiven(self.picked[0]))

    def action_hint(self) -> None:
        self.post_message(HintAsked())

    def action_skip(self) -> None:
        self.post_message(SkipAsked())
