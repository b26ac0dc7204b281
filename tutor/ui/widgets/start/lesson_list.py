"""Every lesson of the course, two lines each; ``▶`` marks the highlighted one, ``✓`` done ones."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.ui.course import LessonRow, LessonState


def row_prompt(row: LessonRow, highlighted: bool) -> Text:
    text = Text()
    text.append("▶ " if highlighted else "  ", style="bold")
    text.append(f"{row.state.glyph} {row.number}. ", style="bold")
    text.append(row.lesson.title, style="bold" if highlighted else "")
    text.append(f"\n      {row.summary()}", style="italic" if row.state is LessonState.NEW else "")
    return text


class LessonList(OptionList):
    BINDINGS = [Binding("enter", "select", "Open lesson")]

    def __init__(self, rows: Sequence[LessonRow], *, id: str | None = None) -> None:
        # Set before the options: the list highlights its first option while it is built.
        self.rows = list(rows)
        self._marked: int | None = None
        super().__init__(*(Option(row_prompt(row, False), id=row.lesson.id) for row in rows), id=id)

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        # The glyph, not only the shading, says which lesson Enter opens.
        if self._marked is not None and self._marked < len(self.rows):
            self.replace_option_prompt_at_index(
                self._marked, row_prompt(self.rows[self._marked], False)
            )
        if highlighted is not None and highlighted < len(self.rows):
            prompt = row_prompt(self.rows[highlighted], True)
            self.replace_option_prompt_at_index(highlighted, prompt)
        self._marked = highlighted

    @property
    def row(self) -> LessonRow | None:
        if self.highlighted is None or self.highlighted >= len(self.rows):
            return None
        return self.rows[self.highlighted]
