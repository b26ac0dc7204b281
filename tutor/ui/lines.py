"""One traffic-log line per event: host and direction markers, then the highlighted content.

The wording of a line comes from the project's plain transcript (tutor.render.transcript), so
the TUI, `run --plain` and exports say the same thing; the colours come from the project's
pygments lexer for SMTP transcripts. Markers (-> <- ~> <~, [TLS], ✗) carry the meaning, colour
only helps.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.syntax import Syntax

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
    PolicyVerdict,
    QueueChange,
    RecipientResult,
    ScenarioFinished,
    ScenarioStarted,
    SmtpLine,
    TcpClose,
    TcpConnect,
    TlsHandshake,
)


def short(host: str) -> str:
    """The first label of a host name: enough to tell hosts apart in an 80-column log."""
    return host.split(".", 1)[0] if host else "?"


def arrow(event: SmtpLine) -> str:
    """swaks-style direction marker; a tilde once the channel is encrypted."""
    if event.direction is Direction.CLIENT_TO_SERVER:
        return "~>" if event.encrypted else "->"
    return "<~" if event.encrypted else "<-"


def payload_summary(event: SmtpLine) -> str:
    lines = event.data.decode("utf-8", "replace").split("\r\n")
    first = next((line for line in lines if line), "")
    return f"{first}  … ({len(lines) - 1} lines, {len(event.data)} bytes of message)"


def event_body(event: Event) -> str:
    """What the event says, in one line, without the host/direction prefix."""
    if isinstance(event, SmtpLine):
        return payload_summary(event) if event.is_payload else event.text
    if isinstance(event, DnsQuery):
        return f";; QUESTION {event.qname}. IN {event.qtype}  @{event.server} ({event.transport})"
    if isinstance(event, DnsAnswer):
        records = " | ".join(event.answer) if event.answer else "(no answer records)"
        cached = " (cached)" if event.cached else ""
        return f";; ANSWER {event.rcode}{cached} {event.qname} {event.qtype}: {records}"
    if isinstance(event, TcpConnect):
        if event.ok:
            return f"TCP connect {event.src} -> {event.dst} ({event.dst_host or '?'}) ok"
        return f"TCP connect -> {event.dst} ({event.dst_host or '?'}) ✗ {event.error}"
    if isinstance(event, TcpClose):
        return f"TCP close {event.src} - {event.dst} {event.reason}".rstrip()
    if isinstance(event, TlsHandshake):
        if not event.ok:
            return f"TLS handshake ✗ {event.verify_error}"
        verified = "verified" if event.verified else f"NOT verified {event.verify_error}"
        return f"TLS {event.version} {event.cipher} cert {event.subject} ({verified})"
    if isinstance(event, AuthResult):
        return f"AUTH {event.mechanism} as {event.username}: {'ok' if event.ok else '✗ failed'}"
    if isinstance(event, RecipientResult):
        return f"{event.recipient}: {event.outcome} {event.reply}".rstrip()
    if isinstance(event, Delivery):
        return f"delivered to {event.recipient} ({event.folder}, {event.size} bytes)"
    if isinstance(event, QueueChange):
        return f"queue {event.queue_id}: {event.state} {event.reason}".rstrip()
    if isinstance(event, Bounce):
        return f"bounce {event.action} for {', '.join(event.recipients)} (DSN {event.dsn_queue_id})"
    if isinstance(event, PolicyVerdict):
        return f"{event.check}: {event.result} -> {event.action}"
    if isinstance(event, LogLine):
        return f"{event.program}: {event.text}"
    if isinstance(event, Note):
        mark = {"warning": "⚠ ", "error": "✗ "}.get(event.level, "")
        return f"{mark}{event.text}"
    if isinstance(event, ScenarioStarted):
        return f"scenario {event.name} started: {event.title}"
    if isinstance(event, ScenarioFinished):
        outcomes = ", ".join(f"{r} {o}" for r, o in event.outcomes.items())
        verdict = "as expected" if event.ok else "NOT as expected"
        return f"ScenarioFinished ({verdict}): {outcomes}"
    return event.type


def event_prefix(event: Event) -> str:
    """Who talks to whom, padded so the content column lines up."""
    if isinstance(event, SmtpLine):
        return f"{short(event.sender):>8} {arrow(event)} {short(event.receiver):<8}"
    if isinstance(event, DnsQuery):
        return f"{short(event.host):>8} ?> {'dns':<8}"
    if isinstance(event, DnsAnswer):
        return f"{short(event.host):>8} <? {'dns':<8}"
    if isinstance(event, TcpConnect):
        return f"{short(event.host):>8} {'=>' if event.ok else 'x>'} {short(event.dst_host):<8}"
    return f"{short(event.host):>8} {'**':2} {'':<8}"


@lru_cache(maxsize=1)
def _highlighters() -> tuple[Syntax, Syntax]:
    """rich Syntax objects for the project's two lexers, coloured with its transcript style.

    Imported on first use: pygments is not needed to draw the first frame.
    """
    from rich.syntax import PygmentsSyntaxTheme, Syntax

    from tutor.render.lexer import SmtpSessionLexer, SmtpTranscriptLexer, TranscriptStyle

    theme = PygmentsSyntaxTheme(TranscriptStyle)
    session = Syntax("", SmtpSessionLexer(), theme=theme, background_color="default")  # type: ignore[arg-type]
    transcript = Syntax("", SmtpTranscriptLexer(), theme=theme, background_color="default")  # type: ignore[arg-type]
    return session, transcript


def _lex(syntax: Syntax, text: str) -> Text:
    highlighted = syntax.highlight(text)
    highlighted.rstrip()
    highlighted.no_wrap = True
    return highlighted


def highlight(text: str) -> Text:
    """Colour one SMTP command or reply (or anything else) with the project's session lexer."""
    return _lex(_highlighters()[0], text)


def highlight_transcript(text: str, *, wrap: bool = False) -> Text:
    """Colour lines in the plain-transcript format with the project's transcript lexer."""
    highlighted = _lex(_highlighters()[1], text)
    highlighted.no_wrap = not wrap
    return highlighted


def transcript_lines(event: Event, width: int = 1000) -> list[str]:
    """The plain transcript's lines for the event (its wording is shared with `run --plain`)."""
    from tutor.render.transcript import render_event

    return render_event(event, show_server_side=True, width=width)


_TAGGED = re.compile(r"^\[([a-z]+)\]\s+")


def tagged_content(event: Event) -> tuple[str, Text] | None:
    """(tag, highlighted content) of a "[tag] text" transcript line, continuation lines joined."""
    lines = transcript_lines(event)
    if not lines:
        return None
    match = _TAGGED.match(lines[0])
    if match is None:
        return None
    content = highlight_transcript(lines[0])[match.end() :]
    for more in lines[1:]:
        extra = _TAGGED.match(more)
        if extra is None:
            continue
        content.append(" · ", style="dim")
        content.append_text(highlight_transcript(more)[extra.end() :])
    return match.group(1), content


def event_line(event: Event, *, tag_encrypted: bool = True) -> Text:
    """The traffic-log line for one event: seq, who to whom, then the highlighted content."""
    line = Text(f"{event.seq:>3} ", style="dim", no_wrap=True, overflow="ellipsis")
    if isinstance(event, SmtpLine):
        # Lex marker and text together so the marker gets the lexer's client/server colours.
        lexed = highlight(f"{arrow(event)} {event_body(event)}")
        line.append(f"{short(event.sender):>8} ", style="bold")
        line.append_text(lexed[:2])
        line.append(f" {short(event.receiver):<8}", style="bold")
        line.append_text(lexed[2:])
        if tag_encrypted and event.encrypted:
            line.append(" [TLS]", style="italic")
        return line
    tagged = tagged_content(event)
    if tagged is None:
        line.append(event_prefix(event), style="bold")
        line.append(" ")
        line.append_text(highlight(event_body(event)))
        return line
    tag, content = tagged
    line.append(f"{short(event.host):>8} ", style="bold")
    line.append(f"[{tag}]".ljust(12), style="bold")
    line.append_text(content)
    return line
