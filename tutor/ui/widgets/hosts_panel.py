"""The hosts of the world: name, address, role and listening ports of this run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from textual.widgets import Static

ROLE_MARKS = {"client": "⌨", "outbound": "⇪", "mx": "✉", "gateway": "⛨"}


def hosts_table(hosts: Sequence[dict[str, Any]], dns: str = "") -> Table:
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
    table.add_column("host", no_wrap=True, ratio=3)
    table.add_column("address", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("ports", overflow="fold", ratio=2)
    for host in hosts:
        role = str(host.get("role", ""))
        ports = host.get("ports") or {}
        down = "down" if role != "client" and not ports else ""
        port_text = " ".join(f"{k}:{v}" for k, v in ports.items()) or down or "—"
        table.add_row(
            str(host.get("name", "")),
            str(host.get("address", "")),
            f"{ROLE_MARKS.get(role, '')} {role}",
            port_text,
        )
    if dns:
        table.add_row("DNS server", dns, "⚲ dns", "")
    return table


class HostsPanel(Static):
    """Filled from the ScenarioStarted event, so it shows the real ports of this run."""

    def show(self, hosts: Sequence[dict[str, Any]], dns: str = "") -> None:
        self.update(hosts_table(hosts, dns) if hosts else "starting the world…")
