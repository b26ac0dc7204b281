"""The review: every question of a lesson with every choice explained, one scrolling page."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class ReviewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,a", "dismiss", "Close the review", key_display="esc")]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.review_title = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="review-scroll"):
            yield Static(self.review_title, id="review-title")
            yield Static(self.body, id="review-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#review-scroll", VerticalScroll).focus()
