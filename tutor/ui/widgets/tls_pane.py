"""Each TLS handshake so far: version, cipher, SNI, certificate chain and whether it verified."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.trace import Event, Side, TlsHandshake


def handshake_table(event: TlsHandshake) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    verdict = "✓ verified" if event.verified else f"✗ not verified {event.verify_error}".rstrip()
    rows = [
        ("seen by", f"{event.host} ({event.side}), session {event.session or '—'}"),
        ("result", "handshake ok" if event.ok else "✗ handshake failed"),
        ("mode", "implicit TLS (port 465 style)" if event.implicit else "STARTTLS upgrade"),
        ("version", event.version),
        ("cipher", f"{event.cipher} ({event.bits} bits)" if event.bits else event.cipher),
        ("SNI", event.sni or "—"),
        ("subject", event.subject),
        ("issuer", event.issuer),
        ("SAN", ", ".join(event.san) or "—"),
        ("expires", event.not_after or "—"),
        ("chain", " ← ".join(event.chain) or "—"),
        ("verify", verdict),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


class TlsPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("", id="tls-text")

    def show(self, events: Sequence[Event]) -> None:
        handshakes = [
            e for e in events if isinstance(e, TlsHandshake) and e.side is not Side.SERVER
        ]
        static = self.query_one("#tls-text", Static)
        if not handshakes:
            static.update(Text("No TLS handshake yet.", style="italic"))
            return
        from rich.console import Group

        static.update(Group(*(handshake_table(h) for h in handshakes)))
