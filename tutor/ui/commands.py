"""Command palette entries, built from the same bindings the footer and help screen show."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen


def _own_bindings(node: DOMNode) -> Iterator[Binding]:
    """The described bindings of ``node``'s tutor classes, a subclass's first.

    A subclass (the lesson screen over the run screen) inherits its bases' bindings, and one of
    its own for the same keys replaces the base's. Textual's own bases (Screen, Input, App)
    are left out: their bindings are plumbing, not what the tutor offers.
    """
    taken: set[str] = set()
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("tutor."):
            continue
        for binding in cls.__dict__.get("BINDINGS", ()):
            if not isinstance(binding, Binding):
                continue
            keys = set(binding.key.split(","))
            if keys <= taken:
                continue
            taken |= keys
            if binding.description:
                yield binding


def described_bindings(screen: Screen[object]) -> list[tuple[DOMNode, Binding]]:
    """(node, binding) for every action the learner can take on ``screen``: the focused
    widget's and its containers' (an answer's hint and skip), the screen's, the app's."""
    nodes: list[DOMNode] = []
    focused = screen.focused
    while focused is not None and focused is not screen:
        nodes.append(focused)
        focused = focused.parent  # type: ignore[assignment]
    nodes += [screen, screen.app]
    found: list[tuple[DOMNode, Binding]] = []
    titles: set[str] = set()
    for node in nodes:
        actions: set[str] = set()
        for binding in _own_bindings(node):
            if binding.action in actions or binding.description in titles:
                continue
            actions.add(binding.action)
            titles.add(binding.description)
            found.append((node, binding))
    return found


class TutorCommands(Provider):
    """Every action of the screen the palette was opened from, and of the app, searchable by
    its description. ``self.screen`` is that screen: while the palette is open, the app's
    active screen is the palette itself, whose bindings offer nothing."""

    def _entries(self) -> list[tuple[str, str, DOMNode, str]]:
        entries = []
        for node, binding in described_bindings(self.screen):
            key = binding.key_display or binding.key.split(",")[0]
            # The footer has room for a word; the palette, for what the action does.
            title = binding.tooltip or binding.description
            entries.append((title, f"key: {key}", node, binding.action))
        return entries

    async def discover(self) -> Hits:
        for title, help_text, node, action in self._entries():
            yield DiscoveryHit(title, partial(node.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, node, action in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(node.run_action, action),
                    help=help_text,
                )
