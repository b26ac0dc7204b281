"""The scenario picker: shipped scenarios with their descriptions, and what-if toggles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, OptionList, SelectionList
from textual.widgets.option_list import Option

from tutor.scenario import WHAT_IFS, ScenarioError, load_scenario, shipped_scenarios

FIRST_SCENARIO = "hello"


@dataclass(frozen=True)
class ScenarioChoice:
    name: str
    title: str
    description: str


def scenario_choices(paths: list[Path] | None = None) -> list[ScenarioChoice]:
    """Shipped scenarios, each loaded for its title; a broken file is listed with its error."""
    choices = []
    for path in _lesson_order(paths if paths is not None else shipped_scenarios()):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            choices.append(ScenarioChoice(path.stem, "(cannot be loaded)", str(exc)))
            continue
        choices.append(ScenarioChoice(path.stem, scenario.title, scenario.description))
    return choices


def _lesson_order(paths: list[Path]) -> list[Path]:
    """The first lesson, hello, on top (so the list opens at its start on it); then A to Z."""
    return sorted(paths, key=lambda path: (path.stem != FIRST_SCENARIO, path.stem))


def _what_if_prompt(label: str, on: bool) -> str:
    # The checkbox differs only by colour; the words say it too.
    return f"{'ON ' if on else 'off'}  {label}"


class PickerScreen(Screen[None]):
    """Pick what to run, free of any lesson (the lessons are on the start screen: Escape)."""

    BINDINGS = [
        Binding("enter", "start", "Start run", show=True, priority=False),
        Binding("tab", "app.focus_next", "Next field", show=False),
        Binding("escape", "app.lessons", "Back to the lessons", key_display="esc"),
    ]

    class Chosen(Message):
        def __init__(self, name: str, what_ifs: frozenset[str]) -> None:
            super().__init__()
            self.name = name
            self.what_ifs = what_ifs

    def __init__(self, selected: str | None = None, what_ifs: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.choices = scenario_choices()
        self.selected = selected
        self.initial_what_ifs = what_ifs

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="picker"):
            with Vertical(id="scenario-column"):
                yield Label("Scenario", classes="picker-heading")
                options = []
                for choice in self.choices:
                    prompt = Text.assemble(
                        (choice.name, "bold"), f"  {choice.title}\n", (choice.description, "dim")
                    )
                    options.append(Option(prompt, id=choice.name))
                yield OptionList(*options, id="scenarios")
            with Vertical(id="what-if-column"):
                yield Label("What if… (before the run)", classes="picker-heading")
                yield SelectionList[str](
                    *(
                        (_what_if_prompt(w.label, w.key in self.initial_what_ifs), w.key, on)
                        for w in WHAT_IFS
                        for on in (w.key in self.initial_what_ifs,)
                    ),
                    id="what-ifs",
                )
                yield Button("Start ▶", id="start", variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "smtp-tutor"
        self.sub_title = "pick a scenario"
        scenarios = self.query_one("#scenarios", OptionList)
        names = [c.name for c in self.choices]
        scenarios.highlighted = names.index(self.selected) if self.selected in names else 0
        scenarios.focus()
        # Highlighting before the first layout scrolled by option heights not measured yet (the
        # list opened in the middle, the highlight out of sight): scroll once it has its size.
        self.call_after_refresh(self._scroll_to_choice)

    def _scroll_to_choice(self) -> None:
        scenarios = self.query_one("#scenarios", OptionList)
        if scenarios.highlighted:
            scenarios.scroll_to_highlight(top=True)
        else:
            scenarios.scroll_home(animate=False)

    @property
    def chosen_name(self) -> str | None:
        scenarios = self.query_one("#scenarios", OptionList)
        if scenarios.highlighted is None:
            return None
        return self.choices[scenarios.highlighted].name

    @property
    def chosen_what_ifs(self) -> frozenset[str]:
        return frozenset(self.query_one("#what-ifs", SelectionList).selected)

    def action_start(self) -> None:
        name = self.chosen_name
        if name is not None:
            self.post_message(self.Chosen(name, self.chosen_what_ifs))

    @on(OptionList.OptionSelected, "#scenarios")
    def _scenario_selected(self) -> None:
        self.action_start()

    @on(SelectionList.SelectionToggled, "#what-ifs")
    def _what_if_toggled(self, message: SelectionList.SelectionToggled) -> None:
        what_ifs = message.selection_list
        for index, what_if in enumerate(WHAT_IFS):
            chosen = what_if.key in what_ifs.selected
            what_ifs.replace_option_prompt_at_index(index, _what_if_prompt(what_if.label, chosen))

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()
