"""The plain-text transcript of a trace: swaks-like lines with hosts and direction markers.

Markers carry the meaning and colour only repeats it (a transcript must read the same on a
projector in black and white, in a log file, or with NO_COLOR set):

    ->  client to server, clear text        <-  server to client, clear text
    ~>  client to server, inside TLS        <~  server to client, inside TLS
    │   message content (the DATA payload)  !!  something went wrong / a warning
    ↳   an explanation of the line above (explain mode)

Both ends of a connection record every SMTP line, so by default only the client's copy is
printed; a session that only a server saw (a student's nc session during ``serve``) is
printed from the server's side. ``TranscriptRenderer`` holds that bookkeeping;
``render_event`` formats one event without it.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from pygments import highlight
from pygments.formatter import Formatter
from pygments.formatters import Terminal256Formatter, TerminalFormatter

from tutor.render.dsnlinks import dsn_links
from tutor.render.explain import explain_event
from tutor.render.lexer import TERMINAL_COLOURS, SmtpTranscriptLexer, TranscriptStyle
from tutor.render.runverdict import AS_EXPECTED, NOT_AS_EXPECTED, run_verdict
from tutor.render.timeline import compact_span
from tutor.story import DnsQuestions, SessionBook, is_server_copy, session_book
from tutor.story.session import CONNECTION_RECORDS
from tutor.trace import (
    AuthResult,
    Bounce,
    Delivery,
    Direction,
    DnsAnswer,
    DnsQuery,
    Event,
    LogLine,
    Note,
    NoteLevel,
    Outcome,
    PolicyAction,
    PolicyVerdict,
    QueueChange,
    RecipientResult,
    ScenarioFinished,
    ScenarioStarted,
    Side,
    SmtpLine,
    TcpClose,
    TcpConnect,
    TlsHandshake,
    TraceHeader,
    UnknownEvent,
)

WIDTH = 80
CONTENT_COLUMN = 10  # every line's content starts here: tags and SMTP markers line up
MAX_PAYLOAD_LINES = 40


def marker(direction: Direction, encrypted: bool) -> str:
    """The two-character direction marker of an SMTP line (swaks' convention)."""
    if direction == Direction.SERVER_TO_CLIENT:
        return "<~" if encrypted else "<-"
    return "~>" if encrypted else "->"


# --------------------------------------------------------------------------- one event


def render_event(
    event: Event,
    *,
    explain: bool = False,
    show_server_side: bool = False,
    width: int = WIDTH,
    max_payload_lines: int = MAX_PAYLOAD_LINES,
) -> list[str]:
    """The transcript lines of one event (no trailing newlines).

    Without ``show_server_side`` a server-side copy of a two-ended event (SMTP line, TCP, TLS,
    DNS) renders as nothing; ``TranscriptRenderer`` is smarter and keeps server-only sessions.
    """
    if not show_server_side and is_server_copy(event):
        return []
    return _format(event, explain=explain, width=width, max_payload_lines=max_payload_lines)


def _format(event: Event, *, explain: bool, width: int, max_payload_lines: int) -> list[str]:
    formatter = _FORMATTERS.get(type(event), _format_unknown)
    lines = formatter(event, width, max_payload_lines)
    if explain and lines and _worth_explaining(event):
        lines.extend(_explanation_lines(event, width))
    return lines


def _worth_explaining(event: Event) -> bool:
    if event.explain:
        return True
    if isinstance(event, TcpConnect):
        return not event.ok
    return isinstance(event, SmtpLine | DnsAnswer | TlsHandshake | RecipientResult | AuthResult)


def _explanation_lines(event: Event, width: int) -> list[str]:
    summary = explain_event(event).summary
    if not summary:
        return []
    indent = " " * (CONTENT_COLUMN - 2)
    # a no-break space keeps "RFC 5321 §4.2.2" on one line; textwrap only breaks at ASCII space
    glued = re.sub(r"RFC (\d+)( §)?", lambda m: m.group(0).replace(" ", "\u00a0"), summary)
    lines = textwrap.wrap(
        glued,
        width=width,
        initial_indent=f"{indent}↳ ",
        subsequent_indent=f"{indent}  ",
        break_on_hyphens=False,
    )
    return [line.replace("\u00a0", " ") for line in lines]


def _tagged(tag: str, text: str, width: int) -> list[str]:
    """A "[tag]     text" line, wrapped under the content column."""
    head = f"[{tag}]".ljust(CONTENT_COLUMN - 1) + " "
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=head,
        subsequent_indent=" " * (CONTENT_COLUMN + 2),
        break_on_hyphens=False,
        break_long_words=True,
    ) or [head.rstrip()]


def _smtp_prefix(mark: str) -> str:
    return f"  {mark}".ljust(CONTENT_COLUMN)


def _format_smtp(event: SmtpLine, width: int, max_payload_lines: int) -> list[str]:
    mark = marker(event.direction, event.encrypted)
    prefix = _smtp_prefix(mark)
    if event.is_payload:
        return _format_payload(event, prefix, width, max_payload_lines)
    text = event.text
    room = width - CONTENT_COLUMN
    if len(text) <= room:
        return [prefix + text]
    # Protocol lines are never cut: the rest continues under a "⋯" so no byte is hidden. Breaks
    # fall after a space where one is near the end, so words stay whole.
    lines: list[str] = []
    rest = text
    while rest:
        if len(rest) <= room:
            chunk, rest = rest, ""
        else:
            space = rest.rfind(" ", room // 2, room)
            cut = space + 1 if space > 0 else room
            chunk, rest = rest[:cut], rest[cut:]
        lines.append(prefix + chunk if not lines else f"{prefix}⋯ {chunk}")
        if len(lines) == 1:
            room -= 2
    return lines


def _format_payload(event: SmtpLine, prefix: str, width: int, max_lines: int) -> list[str]:
    text = event.data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.rstrip("\r") for line in lines]
    room = width - CONTENT_COLUMN - 2
    out: list[str] = []
    shown = lines
    if len(lines) > max_lines:
        # keep the end-of-data dot visible: it is part of the protocol, not of the message
        shown = [*lines[: max_lines - 1]]
    for line in shown:
        if len(line) > room:
            line = line[: room - 1] + "…"
        out.append(f"{prefix}│ {line}" if line else f"{prefix}│")
    if len(lines) > max_lines:
        hidden = len(lines) - len(shown) - 1
        out.append(f"{prefix}│ … {hidden} more line(s) of content, {len(event.data)} bytes in all")
        out.append(f"{prefix}│ {lines[-1]}")
    return out


def _format_dns_query(event: DnsQuery, width: int, _: int) -> list[str]:
    if event.side == Side.SERVER:
        text = f"{event.host} got ? {event.qname} {event.qtype} ({event.transport})"
    else:
        text = f"{event.host} ? {event.qname} {event.qtype} → {event.server} {event.transport}"
    return _tagged("dns", text, width)


def _format_dns_answer(event: DnsAnswer, width: int, _: int) -> list[str]:
    flags = " ".join(f for f in event.flags if f != "qr")
    head = f"← {event.rcode}" + (f" {flags}" if flags else "")
    if event.cached:
        head += " (cached)"
    if event.answer:
        lines: list[str] = []
        for record in event.answer:
            lines.extend(_tagged("dns", f"{head}: {record}", width))
        return lines
    if event.rcode == "NOERROR":
        text = f"{head}: no {event.qtype} records for {event.qname} (NODATA)"
    elif event.rcode == "NXDOMAIN":
        text = f"{head}: {event.qname} does not exist"
    else:
        text = f"{head}: no answer for {event.qname} {event.qtype}"
    lines = _tagged("dns", text, width)
    for record in event.authority:
        lines.extend(_tagged("dns", f"  authority: {record}", width))
    return lines


def _address(endpoint: str) -> str:
    """Drop the port of "127.0.0.12:41000": a client's ephemeral port is noise here."""
    return endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint


def _format_tcp_connect(event: TcpConnect, width: int, _: int) -> list[str]:
    if event.side == Side.SERVER:
        text = f"{event.host} {event.dst} ← {event.src} accepted"
        return _tagged("tcp", text, width)
    target = f"{event.dst_host} {event.dst}" if event.dst_host else event.dst
    source = f"{event.host} {_address(event.src)}".strip()
    if event.ok:
        return _tagged("tcp", f"{source} → {target} connected", width)
    return _tagged("tcp", f"{source} → {target} !! REFUSED: {event.error or 'failed'}", width)


def _format_tcp_close(event: TcpClose, width: int, _: int) -> list[str]:
    reason = f" ({event.reason})" if event.reason else ""
    return _tagged("tcp", f"{event.host} closed {event.src} ↔ {event.dst}{reason}", width)


def _format_tls(event: TlsHandshake, width: int, _: int) -> list[str]:
    if not event.ok:
        reason = event.verify_error or "unknown reason"
        return _tagged("tls", f"!! handshake FAILED: {reason}", width)
    kind = "implicit TLS, " if event.implicit else ""
    bits = f" ({event.bits} bits)" if event.bits else ""
    lines = _tagged("tls", f"{kind}{event.version} {event.cipher}{bits}", width)
    if event.subject or event.issuer:
        lines.extend(_tagged("tls", f"subject {event.subject}  issuer {event.issuer}", width))
    if event.side == Side.SERVER:
        # The server presented the certificate; SMTP servers do not ask clients for one, so
        # there is nothing for it to verify (the client's side says whether it trusted ours).
        lines.extend(_tagged("tls", "certificate presented by this server", width))
    elif event.verified:
        lines.extend(_tagged("tls", "✓ certificate verified", width))
    else:
        reason = event.verify_error or "not checked"
        lines.extend(_tagged("tls", f"!! certificate NOT verified: {reason}", width))
    return lines


def _format_auth(event: AuthResult, width: int, _: int) -> list[str]:
    if event.ok:
        return _tagged("auth", f"{event.username} authenticated with {event.mechanism}", width)
    return _tagged(
        "auth", f"!! authentication FAILED for {event.username} ({event.mechanism})", width
    )


def _format_result(event: RecipientResult, width: int, _: int) -> list[str]:
    text = f"{event.recipient}: {event.outcome.value}"
    if event.relay:
        text += f" via {event.relay}"
    if event.reply:
        text += f" ({event.reply})"
    if event.outcome != Outcome.DELIVERED:
        text = "!! " + text if event.outcome != Outcome.DEFERRED else text
    return _tagged("result", text, width)


def _short_path(path: str, keep: int = 2) -> str:
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return path if len(parts) <= keep else "…/" + "/".join(parts[-keep:])


def _format_delivery(event: Delivery, width: int, _: int) -> list[str]:
    where = _short_path(event.mailbox)
    if event.folder not in ("", "INBOX") and not where.endswith(f".{event.folder}"):
        where += f"/.{event.folder}"  # Maildir++ subfolder, where the file really is
    if event.filename:
        where += f"/new/{event.filename}"
    size = f", {event.size} bytes" if event.size else ""
    lines = _tagged("mailbox", f"{event.recipient} ← Maildir {where} ({event.folder}{size})", width)
    # The headers the receiving host added on delivery: what a student finds in the mailbox.
    for header in event.headers_added:
        name, _, value = header.partition(":")
        first = " ".join(value.split())
        lines += textwrap.wrap(
            f"+ {name}:{' ' if first else ''}{first}",
            width=width,
            initial_indent=" " * (CONTENT_COLUMN + 2),
            subsequent_indent=" " * (CONTENT_COLUMN + 4),
            break_on_hyphens=False,
        )
    return lines


def _format_note(event: Note, width: int, _: int) -> list[str]:
    if event.level == NoteLevel.WARNING:
        return _tagged("warn", f"!! {event.text}", width)
    if event.level == NoteLevel.ERROR:
        return _tagged("error", f"!! {event.text}", width)
    return _tagged("note", event.text, width)


def _format_policy(event: PolicyVerdict, width: int, _: int) -> list[str]:
    action = "" if event.action == PolicyAction.NONE else f" → {event.action}"
    lines = _tagged("policy", f"{event.check} = {event.result}{action}", width)
    for reason in event.reasons:
        lines.extend(_tagged("policy", f"  · {reason}", width))
    return lines


def _format_queue(event: QueueChange, width: int, _: int) -> list[str]:
    text = f"{event.queue_id} → {event.state}"
    if event.reason:
        text += f": {event.reason}"
    if event.next_attempt is not None:
        delay = event.next_attempt - event.time if event.time else 0
        text += f" (next attempt in {compact_span(delay)})" if delay > 0 else ""
    return _tagged("queue", text, width)


def _format_bounce(event: Bounce, width: int, _: int) -> list[str]:
    who = ", ".join(event.recipients)
    text = f"!! {event.queue_id} {event.action} for {who} → DSN {event.dsn_queue_id} to the sender"
    lines = _tagged("bounce", text, width)
    for link in dsn_links(event):
        lines.extend(_tagged("bounce", f"  · {link.text}", width))
    return lines


def _format_log(event: LogLine, width: int, _: int) -> list[str]:
    return _tagged("log", f"{event.program}: {event.text}", width)


def _format_started(event: ScenarioStarted, width: int, _: int) -> list[str]:
    title = f" — {event.title}" if event.title else ""
    lines = [_rule(f"══ scenario {event.name}{title} ", width, "═")]
    for host in event.hosts:
        port_text = "".join(f" {service}={port}" for service, port in host.ports.items())
        lines.extend(_tagged("run", f"{host.name} {host.address} ({host.role}){port_text}", width))
    return lines


def _format_finished(event: ScenarioFinished, width: int, _: int) -> list[str]:
    words = run_verdict(event)
    verdict = {AS_EXPECTED: f"{AS_EXPECTED} ✓", NOT_AS_EXPECTED: f"!! {NOT_AS_EXPECTED}"}.get(
        words, words
    )
    lines = [_rule(f"══ finished {event.name}: {verdict} ", width, "═")]
    for recipient, outcome in event.outcomes.items():
        unjudged = " (not judged)" if recipient in event.unjudged else ""
        lines.extend(_tagged("run", f"{recipient}: {outcome}{unjudged}", width))
    for mismatch in event.mismatches:
        lines.extend(_tagged("run", f"!! {mismatch}", width))
    return lines


def _format_opaque(event: UnknownEvent, width: int, _: int) -> list[str]:
    # A newer tutor wrote it (docs/trace.md, "Compatibility"): say so rather than guess.
    text = f"{event.original_type} event, not known to this tutor: {event.problem}"
    return _tagged("unknown", text, width)


def _format_unknown(event: Event, width: int, _: int) -> list[str]:
    return _tagged(event.type, f"{event.host} {event.stage.value}".strip(), width)


def _rule(text: str, width: int, fill: str = "─") -> str:
    return text + fill * max(2, width - len(text))


_FORMATTERS = {
    SmtpLine: _format_smtp,
    DnsQuery: _format_dns_query,
    DnsAnswer: _format_dns_answer,
    TcpConnect: _format_tcp_connect,
    TcpClose: _format_tcp_close,
    TlsHandshake: _format_tls,
    AuthResult: _format_auth,
    RecipientResult: _format_result,
    Delivery: _format_delivery,
    Note: _format_note,
    PolicyVerdict: _format_policy,
    QueueChange: _format_queue,
    Bounce: _format_bounce,
    LogLine: _format_log,
    ScenarioStarted: _format_started,
    ScenarioFinished: _format_finished,
    UnknownEvent: _format_opaque,
}


def render_replay_banner(
    header: TraceHeader, width: int = WIDTH, *, closing: bool = False
) -> list[str]:
    """A banner that makes it impossible to mistake a replay for live traffic.

    ``closing=True`` gives the matching banner for the end of the replay.
    """
    if closing:
        text = f"END OF REPLAY of scenario {header.scenario} (recorded {header.started})"
    else:
        text = (
            f"REPLAY of a recorded run (scenario {header.scenario}, recorded {header.started})"
            " — no traffic is happening now"
        )
    inner = width - 4
    body = textwrap.wrap(text, width=inner) or [""]
    return [
        "╔" + "═" * (width - 2) + "╗",
        *(f"║ {line.ljust(inner)} ║" for line in body),
        "╚" + "═" * (width - 2) + "╝",
    ]


# --------------------------------------------------------------------------- a whole trace


@dataclass
class TranscriptRenderer:
    """Turns a stream of events into transcript lines, deciding whose copy of each line to show.

    Both ends of a world connection record it under one session id (``tutor.story.session``),
    so the server's records of a session a world client recorded are copies, and are dropped.
    Server-side records of a session no client has recorded yet are held back until that is
    decided: the first command the server receives decides it, because a world client reports
    its connection (and each command) before the server can have read anything from it. A
    connection from an address no world host has (a learner's nc or swaks under ``serve``)
    cannot have a twin: it is shown from the server's side at once, greeting included, without
    waiting for the first command.
    """

    explain: bool = False
    show_server_side: bool = False
    show_log: bool = False
    width: int = WIDTH
    max_payload_lines: int = MAX_PAYLOAD_LINES
    # Sessions a world client recorded, when the whole trace is known up front.
    client_sessions: frozenset[str] = frozenset()
    _book: SessionBook = field(default_factory=SessionBook)
    _dns: DnsQuestions = field(default_factory=DnsQuestions)
    _server_only: set[str] = field(default_factory=set)
    _pending: dict[str, list[Event]] = field(default_factory=dict)
    _shown_before: set[str] = field(default_factory=set)
    _current: str = ""

    def feed(self, event: Event) -> list[str]:
        """The lines to print now for this event (maybe none, maybe held-back ones too)."""
        if isinstance(event, LogLine) and not self.show_log:
            return []
        self._book.add(event)
        if self.show_server_side:
            return self._emit(event)
        if isinstance(event, DnsQuery | DnsAnswer):
            # a question from outside the world's resolver (dig) has no client copy: shown
            return [] if self._dns.is_copy(event) else self._emit(event)
        if not event.session or not isinstance(event, CONNECTION_RECORDS):
            return self._emit(event)
        session = event.session
        if event.side != Side.SERVER:
            self._drop_copies()
            return self._emit(event)
        if session in self.client_sessions or self._book.seen_by_client(session):
            return []
        if session in self._server_only or self._book.known_from_outside(session):
            self._server_only.add(session)
            return self._emit(event)
        self._pending.setdefault(session, []).append(event)
        received_command = (
            isinstance(event, SmtpLine) and event.direction == Direction.CLIENT_TO_SERVER
        )
        if received_command or isinstance(event, TcpClose):
            return self._release(session)
        return []

    def _drop_copies(self) -> None:
        """Forget held-back server records of sessions a world client has now recorded."""
        for session in [s for s in self._pending if self._book.seen_by_client(s)]:
            del self._pending[session]

    def flush(self) -> list[str]:
        """Everything still held back (call at the end of a trace)."""
        lines: list[str] = []
        for session in list(self._pending):
            lines.extend(self._release(session))
        return lines

    def _release(self, session: str) -> list[str]:
        self._server_only.add(session)
        lines: list[str] = []
        for held in self._pending.pop(session, []):
            lines.extend(self._emit(held))
        return lines

    def _emit(self, event: Event) -> list[str]:
        body = _format(
            event,
            explain=self.explain,
            width=self.width,
            max_payload_lines=self.max_payload_lines,
        )
        if not body:
            return body
        if not (event.session and isinstance(event, CONNECTION_RECORDS)):
            # another host's line came in between: say so when the conversation resumes
            self._current = ""
            return body
        if event.session != self._current:
            self._current = event.session
            again = " (continued)" if event.session in self._shown_before else ""
            self._shown_before.add(event.session)
            client, server = self._book.names(event.session)
            names = f"{client or '?'} → {server or '?'}"
            body = [_rule(f"── session {event.session}{again}: {names} ", self.width), *body]
        return body


def render_transcript(
    events: Iterable[Event],
    *,
    explain: bool = False,
    show_server_side: bool = False,
    show_log: bool = False,
    width: int = WIDTH,
) -> Iterator[str]:
    """All transcript lines of a finished (or recorded) trace, in order."""
    events = list(events)
    # A whole trace is known in advance, so which sessions a client recorded is known up front.
    book = session_book(events)
    clients = frozenset(e.session for e in events if e.session and book.seen_by_client(e.session))
    renderer = TranscriptRenderer(
        explain=explain,
        show_server_side=show_server_side,
        show_log=show_log,
        width=width,
        client_sessions=clients,
    )
    for event in events:
        yield from renderer.feed(event)
    yield from renderer.flush()


# --------------------------------------------------------------------------- printing


def should_colour(stream: IO[str]) -> bool:
    """Colour only for a terminal that wants it (https://no-color.org, TERM=dumb)."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("TERM", "") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def terminal_formatter() -> Formatter:
    """Terminal256Formatter where the terminal says it has 256 colours, else 16 colours."""
    term = os.environ.get("TERM", "")
    if "256" in term or os.environ.get("COLORTERM", "") in ("truecolor", "24bit"):
        return Terminal256Formatter(style=TranscriptStyle)
    return TerminalFormatter(colorscheme=TERMINAL_COLOURS)


class TranscriptPrinter:
    """Prints events as they are published: ``trace.subscribe(TranscriptPrinter(sys.stdout, ...))``.

    Call ``close()`` when the run ends to print anything still held back.
    """

    def __init__(
        self,
        stream: IO[str],
        color: bool,
        explain: bool = False,
        *,
        show_server_side: bool = False,
        show_log: bool = False,
        width: int = WIDTH,
    ) -> None:
        self._stream = stream
        self._renderer = TranscriptRenderer(
            explain=explain, show_server_side=show_server_side, show_log=show_log, width=width
        )
        self._lexer = SmtpTranscriptLexer(stripnl=False, ensurenl=True)
        self._formatter = terminal_formatter() if color else None
        self.width = width

    def __call__(self, event: Event) -> None:
        self.write_lines(self._renderer.feed(event))

    def close(self) -> None:
        self.write_lines(self._renderer.flush())

    def print_banner(self, header: TraceHeader) -> None:
        self.write_lines(render_replay_banner(header, self.width))

    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        if self._formatter is not None:
            text = highlight(text, self._lexer, self._formatter)
        try:
            self._stream.write(text)
        except UnicodeEncodeError:
            # a console without UTF-8 (old Windows code pages): degrade glyphs, keep the text
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            self._stream.write(text.encode(encoding, "replace").decode(encoding))
        self._stream.flush()
