"""The hosts of the world: name, address, role and listening ports of this run."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from tutor.trace import WorldHost

PORT_LABELS = {"submission": "sub", "submissions": "subs"}
ROLE_MARKS = {"client": "⌨", "outbound": "⇪", "mx": "✉", "gateway": "⛨", "dns": "⚲"}


def hosts_text(hosts: Sequence[WorldHost], dns: str = "") -> Text:
    """One line per host (mark, name, address, role), its ports indented on the next line.

    Two lines per host keep everything readable in a 40-column side pane.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    rows = list(hosts)
    if dns:
        rows.append(WorldHost(name="DNS server", address=dns, role="dns"))
    for number, host in enumerate(rows):
        if number:
            text.append("\n")
        text.append(f"{ROLE_MARKS.get(host.role, ' ')} ")
        text.append(host.name, style="bold")
        text.append(f"  {host.address}  {host.role}", style="")
        if host.ports:
            text.append(
                "\n    "
                + " · ".join(f"{PORT_LABELS.get(k, k)} {v}" for k, v in host.ports.items()),
                style="dim",
            )
        elif host.role not in ("client", "dns"):
            text.append("\n    ✗ down: connections refused")
    return text


class HostsPanel(Static):
    """Filled from the ScenarioStarted event, so it shows the real ports of this run."""

    _shown: object = None

    def show(self, hosts: Sequence[WorldHost], dns: str = "") -> None:
        key = (repr(hosts), dns)
        if key == self._shown:
            return
        self._shown = key
        self.update(hosts_text(hosts, dns) if hosts else "starting the world…")
