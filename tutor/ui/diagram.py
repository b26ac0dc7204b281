"""A textbook sequence diagram of the run: hosts as columns, one arrow per command or reply.

Pure text (box-drawing characters), so it can be shown in the TUI, exported and tested without
a screen. Line styles carry meaning without colour: ─ plain TCP, ═ inside TLS, ┈ DNS (UDP),
✗ a connection that failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.story import is_server_copy
from tutor.trace import (
    Delivery,
    DnsAnswer,
    DnsQuery,
    Event,
    ScenarioStarted,
    SmtpLine,
    TcpConnect,
    TlsHandshake,
)
from tutor.ui.lines import host_labels

DNS_COLUMN = "dns"


@dataclass(frozen=True)
class DiagramRow:
    """One row of the diagram and the event it draws (None for the header rows)."""

    text: str
    seq: int | None = None


def columns_for(events: Sequence[Event]) -> list[str]:
    """Host columns in the order mail flows: client, outbound, DNS, then receivers."""
    names: list[str] = []
    for event in events:
        if isinstance(event, ScenarioStarted):
            by_role = {"client": 0, "outbound": 1, "gateway": 3, "mx": 4}
            hosts = sorted(event.hosts, key=lambda h: by_role.get(h.role, 5))
            names = [h.name for h in hosts]
            break
    for event in events:
        for name in _hosts_of(event):
            if name and name not in names and name != DNS_COLUMN:
                names.append(name)
    if any(isinstance(e, DnsQuery | DnsAnswer) for e in events) or names:
        position = 2 if len(names) >= 2 else len(names)
        names.insert(position, DNS_COLUMN)
    return names


def _hosts_of(event: Event) -> tuple[str, ...]:
    if isinstance(event, SmtpLine):
        return (event.sender, event.receiver)
    if isinstance(event, TcpConnect):
        return (event.host, event.dst_host)
    return ()


def _arrow_for(event: Event) -> tuple[str, str, str, str] | None:
    """(from, to, label, line style) for events the diagram draws, from the client's records."""
    if is_server_copy(event):
        return None
    if isinstance(event, SmtpLine):
        label = f"message ({len(event.data)} bytes)" if event.is_payload else event.text
        style = "═" if event.encrypted else "─"
        return (event.sender, event.receiver, label, style)
    if isinstance(event, DnsQuery):
        return (event.host, DNS_COLUMN, f"{event.qname} {event.qtype}?", "┈")
    if isinstance(event, DnsAnswer):
        label = f"{event.rcode} {len(event.answer)} rr" if event.answer else event.rcode
        return (DNS_COLUMN, event.host, label, "┈")
    if isinstance(event, TcpConnect):
        return (
            event.host,
            event.dst_host,
            "SYN" if event.ok else "refused",
            "─" if event.ok else "x",
        )
    if isinstance(event, TlsHandshake):
        peer = event.sni or event.subject.removeprefix("CN=")
        return (event.host, peer, f"TLS {event.version}" if event.ok else "TLS failed", "═")
    return None


def sequence_diagram(events: Sequence[Event], width: int = 80) -> list[DiagramRow]:
    """Rows of the diagram for ``events`` laid out in ``width`` columns."""
    columns = columns_for(events)
    short = host_labels(events)
    if not columns:
        return [DiagramRow("(nothing yet)")]
    span = max(8, (width - 1) // len(columns))
    centres = {name: span * i + span // 2 for i, name in enumerate(columns)}
    total = span * len(columns)

    def lifelines() -> list[str]:
        row = [" "] * total
        for x in centres.values():
            row[x] = "│"
        return row

    header = [" "] * total
    for name, x in centres.items():
        label = short(name)[: span - 1]
        start = max(0, min(total - len(label), x - len(label) // 2))
        header[start : start + len(label)] = label
    rows = [DiagramRow("".join(header).rstrip()), DiagramRow("".join(lifelines()).rstrip())]

    for event in events:
        if isinstance(event, Delivery) and event.host in centres:
            row = lifelines()
            text = f"✉ {event.recipient} ({event.folder})"
            x = centres[event.host]
            start = max(0, min(total - len(text), x - len(text) // 2))
            row[start : start + len(text)] = text
            rows.append(DiagramRow("".join(row).rstrip(), event.seq))
            continue
        drawn = _arrow_for(event)
        if drawn is None:
            continue
        src, dst, label, style = drawn
        if src not in centres or dst not in centres or src == dst:
            continue
        rows.append(
            DiagramRow(_arrow_row(lifelines(), centres[src], centres[dst], label, style), event.seq)
        )
    return rows


def _arrow_row(row: list[str], a: int, b: int, label: str, style: str) -> str:
    left, right = min(a, b), max(a, b)
    failed = style == "x"
    line_char = "─" if failed else style
    for x in range(left + 1, right):
        row[x] = line_char
    if failed:
        row[right if b > a else left] = "✗"
    else:
        row[right - 1 if b > a else left + 1] = "▶" if b > a else "◀"
    room = right - left - 4
    if room > 0:
        text = label if len(label) <= room else label[: room - 1] + "…"
        start = left + 2
        row[start : start + len(text)] = text
    return "".join(row).rstrip()
