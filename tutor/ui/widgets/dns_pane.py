"""Every DNS question and answer so far, laid out the way dig prints them (with TTLs)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.trace import DnsAnswer, DnsQuery, Event, Side


def dig_lines(answer: DnsAnswer) -> list[str]:
    flags = " ".join(answer.flags)
    lines = [
        f";; ->>HEADER<<- status: {answer.rcode}, id: {answer.query_id}  flags: {flags}"
        + ("  (from the resolver's cache)" if answer.cached else ""),
        ";; QUESTION SECTION:",
        f";{answer.qname.rstrip('.')}.\t\tIN\t{answer.qtype}",  # one dot, as dig prints
    ]
    for title, records in (
        ("ANSWER", answer.answer),
        ("AUTHORITY", answer.authority),
        ("ADDITIONAL", answer.additional),
    ):
        if records:
            lines.append(f";; {title} SECTION:")
            lines.extend(records)
    lines.append(
        f";; SERVER: {answer.server} ({answer.transport})  time: {answer.elapsed_ms:.1f} ms"
    )
    return lines


class DnsPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("", id="dns-text")

    def show(self, events: Sequence[Event]) -> None:
        parts: list[Text] = []
        for event in events:
            if event.side is Side.SERVER:
                continue
            if isinstance(event, DnsQuery):
                parts.append(
                    Text(
                        f"; <<>> {event.host} asks @{event.server} <<>> "
                        f"{event.qname} {event.qtype}",
                        style="bold",
                    )
                )
            elif isinstance(event, DnsAnswer):
                parts.extend(Text(line) for line in dig_lines(event))
                parts.append(Text(""))
        static = self.query_one("#dns-text", Static)
        static.update(Group(*parts) if parts else Text("No DNS traffic yet.", style="italic"))
