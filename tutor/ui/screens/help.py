"""The help screen: the prose in help.md plus a key table built from the live bindings."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP_FILE = Path(__file__).resolve().parent.parent / "help.md"


def keys_table(bindings: list[Binding]) -> str:
    """A Markdown table of keys, so help never disagrees with the footer and palette."""
    rows = ["| key | what it does |", "| --- | --- |"]
    for binding in bindings:
        if not binding.description:
            continue
        keys = binding.key_display or " / ".join(binding.key.split(","))
        rows.append(f"| `{keys}` | {binding.description} |")
    return "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        text = HELP_FILE.read_text(encoding="utf-8")
        text += "\n\n## Keys\n\n" + keys_table(self.bindings) + "\n"
        with VerticalScroll(id="help-scroll"):
            yield Markdown(text, id="help-text")
