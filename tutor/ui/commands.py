"""Command palette entries, built from the same bindings the footer and help screen show."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode


def _commands(node: DOMNode) -> Iterator[tuple[str, str, str]]:
    """(title, help, action) for every described binding of ``node``."""
    seen: set[str] = set()
    for binding in node.BINDINGS:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        if binding.action in seen:
            continue
        seen.add(binding.action)
        key = binding.key_display or binding.key.split(",")[0]
        yield binding.description, f"key: {key}", binding.action


class TutorCommands(Provider):
    """Every action of the current screen and of the app, searchable by its description."""

    def _entries(self) -> list[tuple[str, str, DOMNode, str]]:
        screen = self.app.screen
        entries = [(t, h, screen, a) for t, h, a in _commands(screen)]
        titles = {t for t, _, _, _ in entries}
        entries += [(t, h, self.app, a) for t, h, a in _commands(self.app) if t not in titles]
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
