"""One traffic-log line per event: host and direction markers, then the highlighted content.

The wording of a line comes from the project's plain transcript (tutor.render.transcript), so
the TUI, `run --plain` and exports say the same thing; the colours come from the project's
pygments lexer for SMTP transcripts. Markers (-> <- ~> <~, [TLS], ✗) carry the meaning, colour
only helps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.syntax import Syntax

from tutor.render.runverdict import run_verdict
from tutor.trace import (
    Direction,
    DnsAnswer,
    DnsQuery,
    Event,
    ScenarioFinished,
    ScenarioStarted,
    SmtpLine,
    TcpConnect,
)


class HostLabels:
    """Short names for one world's hosts, for the few columns a log or diagram gives a host.

    A host goes by its first label (``mx1`` for mx1.example.net) when no other host of the
    world shares it. Hosts that do share it (smtp.example.com and smtp.example.org, a forger
    and the provider it impersonates) get the first label, an ellipsis and the first label
    that tells them apart (``smtp…com``, ``smtp…org``), so two hosts never look like one.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._labels: dict[str, str] = {}
        unique = sorted({n for n in names if n})
        for name in unique:
            parts = name.split(".")
            twins = [o.split(".") for o in unique if o != name and o.split(".")[0] == parts[0]]
            if not twins:
                continue
            differs = next(
                (i for i in range(1, len(parts)) if all(t[i : i + 1] != [parts[i]] for t in twins)),
                None,
            )
            self._labels[name] = f"{parts[0]}…{parts[differs]}" if differs else name

    def __call__(self, host: str) -> str:
        if not host:
            return "?"
        return self._labels.get(host) or host.split(".", 1)[0]


FIRST_LABELS = HostLabels()


@lru_cache(maxsize=8)
def _labels_for(names: tuple[str, ...]) -> HostLabels:
    return HostLabels(names)


def host_labels(events: Sequence[Event]) -> HostLabels:
    """The labels of the world whose run ``events`` records (its first event names the hosts)."""
    started = events[0] if events else None
    if not isinstance(started, ScenarioStarted):
        return FIRST_LABELS
    return _labels_for(tuple(h.name for h in started.hosts))


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
    """What the event says, in one line, without the host/direction prefix.

    An SMTP line is its own bytes; every other event says what the plain transcript says
    (tutor.render.transcript), its tagged lines joined, so the spotlight and the explain pane
    never word an event differently from the traffic log and `run --plain`.
    """
    if isinstance(event, SmtpLine):
        return payload_summary(event) if event.is_payload else event.text
    banner = _banner(event)
    if banner:
        return banner
    tagged = tagged_content(event)
    return tagged[1].plain if tagged else event.type


def _banner(event: Event) -> str:
    """The one-line form of a run's first and last event, which the transcript draws as rules."""
    if isinstance(event, ScenarioStarted):
        return f"scenario {event.name} started: {event.title}"
    if isinstance(event, ScenarioFinished):
        outcomes = ", ".join(f"{r} {o}" for r, o in event.outcomes.items())
        return f"finished, {run_verdict(event)}: {outcomes}"
    return ""


def event_prefix(event: Event, short: HostLabels = FIRST_LABELS) -> str:
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


# Token colours for the TUI, one palette per background. The pygments style that serves the
# terminal and HTML export paints a background of its own and leans on the terminal's ANSI
# palette, which made grey-on-black runs in the TUI; here every colour is explicit and nothing
# paints a background, so lines read on the tutor's own light, dark and projector themes.
_PALETTES: dict[bool, dict[str, str]] = {
    True: {  # dark backgrounds
        "MARK_CLIENT": "bold #5fd7ff",
        "MARK_CLIENT_TLS": "bold #87ff87",
        "MARK_SERVER": "bold #87afff",
        "MARK_SERVER_TLS": "bold #afffaf",
        "REPLY_SUCCESS": "#87d787",
        "REPLY_INTERMEDIATE": "#5fd7ff",
        "REPLY_TRANSIENT": "bold #ffd75f",
        "REPLY_PERMANENT": "bold #ff8787",
        "COMMAND": "bold #ffffff",
        "HOST": "#5fd7d7",
        "ADDRESS": "#d7afff",
        "PARAMETER": "#afafff",
        "TAG": "bold",
        "RECORD_TYPE": "#afafff",
        "HEADING": "bold",
        "EXPLANATION": "italic #bcbcbc",
    },
    False: {  # light backgrounds
        "MARK_CLIENT": "bold #005f87",
        "MARK_CLIENT_TLS": "bold #005f00",
        "MARK_SERVER": "bold #00008b",
        "MARK_SERVER_TLS": "bold #006400",
        "REPLY_SUCCESS": "#006400",
        "REPLY_INTERMEDIATE": "#005f87",
        "REPLY_TRANSIENT": "bold #875f00",
        "REPLY_PERMANENT": "bold #af0000",
        "COMMAND": "bold #000000",
        "HOST": "#005f5f",
        "ADDRESS": "#5f0087",
        "PARAMETER": "#00005f",
        "TAG": "bold",
        "RECORD_TYPE": "#00005f",
        "HEADING": "bold",
        "EXPLANATION": "italic #4e4e4e",
    },
}
_dark_background = True


def use_dark_palette(dark: bool) -> None:
    """Called by the app when the theme changes: new lines are coloured for that background."""
    global _dark_background
    _dark_background = dark


@lru_cache(maxsize=2)
def _highlighters(dark: bool = True) -> tuple[Syntax, Syntax]:
    """rich Syntax objects for the project's two lexers, coloured for a dark or light background.

    Imported on first use: pygments is not needed to draw the first frame.
    """
    from rich.style import Style
    from rich.syntax import ANSISyntaxTheme, Syntax

    from tutor.render import lexer

    theme = ANSISyntaxTheme(
        {getattr(lexer, name): Style.parse(style) for name, style in _PALETTES[dark].items()}
    )
    session = Syntax("", lexer.SmtpSessionLexer(), theme=theme, background_color="default")  # type: ignore[arg-type]
    transcript = Syntax("", lexer.SmtpTranscriptLexer(), theme=theme, background_color="default")  # type: ignore[arg-type]
    return session, transcript


def _lex(syntax: Syntax, text: str) -> Text:
    highlighted = syntax.highlight(text)
    highlighted.rstrip()
    highlighted.no_wrap = True
    return highlighted


def highlight(text: str) -> Text:
    """Colour one SMTP command or reply (or anything else) with the project's session lexer."""
    return _lex(_highlighters(_dark_background)[0], text)


def highlight_transcript(text: str, *, wrap: bool = False) -> Text:
    """Colour lines in the plain-transcript format with the project's transcript lexer."""
    highlighted = _lex(_highlighters(_dark_background)[1], text)
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


def event_line(
    event: Event, short: HostLabels = FIRST_LABELS, *, tag_encrypted: bool = True
) -> Text:
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
        line.append(event_prefix(event, short), style="bold")
        line.append(" ")
        line.append_text(highlight(event_body(event)))
        return line
    tag, content = tagged
    line.append(f"{short(event.host):>8} ", style="bold")
    line.append(f"[{tag}]".ljust(12), style="bold")
    line.append_text(content)
    return line
