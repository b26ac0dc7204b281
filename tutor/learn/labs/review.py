"""`lab review`: the learner's own sessions as the server saw them, with the first mistake marked.

Each line the server recorded is shown with its exact bytes made visible (control bytes
escaped, a bare LF named: what a client sends never reaches a terminal raw) and the tutor's
one-line explanation of it. The first protocol mistake in each session is marked with what
went wrong and where the RFC says so: a bare LF (nc without -C), MAIL before EHLO, an address
without angle brackets, RCPT to a stranger (relay denied), AUTH before STARTTLS, no EHLO after
STARTTLS, a message never ended by a lone dot, commands out of order, unknown commands, a
connection dropped without QUIT.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tutor.story import Exchange, Prompt, exchanges, sessions_from_outside
from tutor.trace import Event, SmtpLine, TcpConnect, TlsHandshake


def visible(data: bytes | str) -> str:
    """Client text made safe and exact for a terminal: control bytes and stray CRs escaped."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\n":
            out.append("\\n")
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def _split_ending(data: bytes) -> tuple[bytes, str]:
    if data.endswith(b"\r\n"):
        return data[:-2], "CRLF"
    if data.endswith(b"\n"):
        return data[:-1], "LF"
    return data, ""


@dataclass(frozen=True)
class ReviewLine:
    seq: int
    direction: str  # "c>s" or "s>c"
    text: str  # visible() of the line without its ending
    ending: str  # CRLF, LF (bare) or "" (none)
    encrypted: bool
    payload: bool  # a line of the message content
    explanation: str


@dataclass(frozen=True)
class Mistake:
    seq: int  # the line it is about (the mark goes after that line's reply)
    after_seq: int  # where the mark is printed
    title: str
    detail: str
    rfc: str


@dataclass(frozen=True)
class ReviewedSession:
    id: str
    client: str
    server: str
    started: float
    lines: tuple[ReviewLine, ...]
    notes: tuple[tuple[int, str], ...]  # (after seq, "[tls] TLSv1.3 ...") between lines
    mistake: Mistake | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewedSession:
        mistake = data.get("mistake")
        return cls(
            id=data["id"],
            client=data["client"],
            server=data["server"],
            started=float(data["started"]),
            lines=tuple(ReviewLine(**line) for line in data["lines"]),
            notes=tuple((int(seq), str(text)) for seq, text in data["notes"]),
            mistake=Mistake(**mistake) if mistake else None,
        )


# --------------------------------------------------------------------------- building


def _explanation(event: SmtpLine) -> str:
    try:
        from tutor.render.explain import explain_event

        found = explain_event(event)
    except Exception:  # an explanation is a nicety: the review goes on without it
        return ""
    return found.summary or found.title


def _lines(events: Sequence[Event]) -> list[ReviewLine]:
    lines = []
    for event in events:
        if not isinstance(event, SmtpLine):
            continue
        explanation = _explanation(event)
        if event.is_payload:
            pieces = event.data.split(b"\n")
            rest = pieces.pop() if pieces else b""
            for piece in pieces:
                body, ending = _split_ending(piece + b"\n")
                lines.append(
                    ReviewLine(
                        event.seq,
                        str(event.direction),
                        visible(body),
                        ending,
                        event.encrypted,
                        True,
                        explanation,
                    )
                )
                explanation = ""  # one explanation for the whole message
            if rest:
                lines.append(
                    ReviewLine(
                        event.seq,
                        str(event.direction),
                        visible(rest),
                        "",
                        event.encrypted,
                        True,
                        explanation,
                    )
                )
            continue
        body, ending = _split_ending(event.data)
        lines.append(
            ReviewLine(
                event.seq,
                str(event.direction),
                visible(body),
                ending,
                event.encrypted,
                False,
                explanation,
            )
        )
    return lines


def _notes(events: Sequence[Event]) -> list[tuple[int, str]]:
    notes = []
    for event in events:
        if isinstance(event, TlsHandshake):
            if event.ok:
                notes.append((event.seq, f"[tls] {event.version} {event.cipher}: now encrypted"))
            else:
                notes.append((event.seq, f"[tls] handshake failed: {event.verify_error}"))
        elif isinstance(event, TcpConnect) and event.ok:
            notes.append((event.seq, f"[tcp] {event.src} connected to {event.dst}"))
    return notes


_BEFORE_EHLO = {"MAIL", "RCPT", "DATA", "AUTH", "BDAT"}
_ALLOWED_BEFORE_EHLO_AGAIN = {"EHLO", "HELO", "QUIT", "NOOP", "RSET"}


def _ending_of(event: SmtpLine | None) -> str:
    return _split_ending(event.data)[1] if event is not None else ""


def _bare_lf_in(data: bytes) -> bool:
    return any(not piece.endswith(b"\r") for piece in data.split(b"\n")[:-1])


def first_mistake(events: Sequence[Event], found: Sequence[Exchange]) -> Mistake | None:
    """The first protocol mistake of one session the server recorded, or None."""
    by_seq = {e.seq: e for e in events if isinstance(e, SmtpLine)}
    tls_at = [e.seq for e in events if isinstance(e, TlsHandshake) and e.ok]
    said_hello_at: int | None = None

    def mark(exchange: Exchange, title: str, detail: str, rfc: str) -> Mistake:
        seq = exchange.command_seq or 0
        return Mistake(seq, exchange.reply_seq or seq, title, detail, rfc)

    for index, exchange in enumerate(found):
        if exchange.prompt is Prompt.GREETING or exchange.command_seq is None:
            continue
        line = by_seq.get(exchange.command_seq)
        seq = exchange.command_seq
        tls_up = any(t < seq for t in tls_at)
        verb = exchange.verb
        if exchange.prompt is Prompt.CONTENT:
            if line is not None and _bare_lf_in(line.data):
                return mark(
                    exchange,
                    "bare LF in the message",
                    "lines of the message end in LF alone; SMTP lines end in CR LF",
                    "RFC 5321 §2.3.8",
                )
            continue
        if _ending_of(line) == "LF":
            return mark(
                exchange,
                "bare LF line ending (nc without -C?)",
                f"{verb or 'this line'} ended in LF alone; SMTP lines end in CR LF. This "
                "server lets it pass for commands, but the message itself only ends at "
                "CR LF . CR LF, so with bare LFs it never ends. Use nc -C (macOS: nc -c)",
                "RFC 5321 §2.3.8, §4.1.1.4",
            )
        if verb in ("EHLO", "HELO"):
            if exchange.code is not None and exchange.code < 400:
                said_hello_at = seq
            continue
        tls_since_hello = (
            bool(tls_at)
            and tls_up
            and (said_hello_at is None or max(t for t in tls_at if t < seq) > said_hello_at)
        )
        if tls_since_hello and verb not in _ALLOWED_BEFORE_EHLO_AGAIN:
            return mark(
                exchange,
                "no EHLO after STARTTLS",
                f"{verb} came right after the TLS handshake; the server forgets everything "
                "it knew of the client at STARTTLS, so the client must say EHLO again",
                "RFC 3207 §4.2",
            )
        if verb in _BEFORE_EHLO and said_hello_at is None:
            return mark(
                exchange,
                f"{verb} before EHLO",
                f"{verb} was sent before the client introduced itself; a session starts "
                "with EHLO (or HELO)",
                "RFC 5321 §4.1.4",
            )
        if verb in ("MAIL", "RCPT"):
            argument = exchange.command.split(":", 1)[1].strip() if ":" in exchange.command else ""
            if argument and not argument.startswith("<"):
                return mark(
                    exchange,
                    "an address without angle brackets",
                    f"{verb} gave {visible(argument)!s}; the path is written <address>. This "
                    "server accepts it as Postfix does by default, stricter ones refuse it",
                    "RFC 5321 §4.1.2",
                )
        if verb == "AUTH" and not tls_up:
            return mark(
                exchange,
                "AUTH before STARTTLS",
                "credentials were offered in clear; a submission server only offers AUTH "
                "inside TLS, and a client must not send a password over a plain connection",
                "RFC 4954 §4, RFC 3207 §4",
            )
        reply = exchange.reply_text.casefold()
        if verb == "RCPT" and ("relay access denied" in reply or exchange.code == 554):
            return mark(
                exchange,
                "RCPT to a stranger: relay denied",
                "an MX accepts mail only for the domains it serves; for any other address "
                "you must talk to that domain's own MX (no open relay)",
                "RFC 5321 §3.6.2, §7.1",
            )
        if verb == "DATA" and exchange.code == 354:
            after = found[index + 1] if index + 1 < len(found) else None
            if after is None or after.prompt is not Prompt.CONTENT or not after.reply:
                return mark(
                    exchange,
                    "the message never ended with a lone dot",
                    "after 354 the server reads the message until a line holding only '.' "
                    "(CR LF . CR LF); none came before the session ended",
                    "RFC 5321 §4.1.1.4",
                )
        if exchange.code == 503:
            return mark(
                exchange,
                f"{verb} out of order",
                "a mail transaction goes EHLO, MAIL, RCPT (one or more), DATA",
                "RFC 5321 §4.1.4",
            )
        if exchange.code in (500, 502):
            return mark(exchange, "a command the server does not know", "", "RFC 5321 §4.2.4")
        if exchange.code == 501:
            return mark(exchange, "a syntax error in the arguments", "", "RFC 5321 §4.1.1")
    commands = [e for e in found if e.prompt is Prompt.COMMAND]
    if commands and commands[-1].verb != "QUIT":
        last = found[-1]
        seq = last.reply_seq or last.command_seq or 0
        return Mistake(
            seq,
            seq,
            "no QUIT",
            "the connection was dropped without QUIT; a client ends a session with QUIT "
            "and waits for the 221",
            "RFC 5321 §4.1.1.10",
        )
    return None


def review_sessions(events: Sequence[Event]) -> list[ReviewedSession]:
    """Every session from outside the world that carried SMTP, oldest first."""
    reviewed = []
    for session in sessions_from_outside(events):
        own = session.events
        found = tuple(exchanges(events, session.id))
        if not found:
            continue  # a port probe, a DNS-only tool: nothing was said
        reviewed.append(
            ReviewedSession(
                id=session.id,
                client=visible(session.client),
                server=session.server,
                started=session.started,
                lines=tuple(_lines(own)),
                notes=tuple(_notes(own)),
                mistake=first_mistake(own, found),
            )
        )
    return reviewed


# --------------------------------------------------------------------------- printing

_MARKERS = {("c>s", False): "->", ("s>c", False): "<-", ("c>s", True): "~>", ("s>c", True): "<~"}


def render_review(sessions: Sequence[ReviewedSession], *, explain: bool = True) -> list[str]:
    """The review as plain lines (client text already made visible)."""
    if not sessions:
        return [
            "No session of yours has reached this lab's world yet.",
            "Connect with one of the commands `smtp-tutor lab start` printed, then review again.",
        ]
    out: list[str] = []
    for session in sessions:
        when = time.strftime("%H:%M:%S", time.localtime(session.started))
        verdict = (
            f"first mistake: {session.mistake.title}" if session.mistake else "no protocol mistake"
        )
        out.append(
            f"── session {session.id} at {when}: {session.client} → {session.server} ({verdict})"
        )
        notes = list(session.notes)
        marked = False
        for number, line in enumerate(session.lines):
            while notes and notes[0][0] < line.seq:
                out.append(f"          {notes.pop(0)[1]}")
            marker = _MARKERS[(line.direction, line.encrypted)]
            ending = "" if line.ending in ("CRLF", "") or line.direction == "s>c" else "  [bare LF]"
            body = f"│ {line.text}" if line.payload else line.text
            out.append(f"  {marker} {body}{ending}")
            if explain and line.explanation:
                out.append(f"        · {visible(line.explanation)}")
            following = session.lines[number + 1].seq if number + 1 < len(session.lines) else None
            mistake = session.mistake
            if mistake and not marked and line.seq >= mistake.after_seq and following != line.seq:
                marked = True
                out.append(f"  ✗ first mistake: {mistake.title} ({mistake.rfc})")
                if mistake.detail:
                    out.append(f"    {mistake.detail}")
        for _, text in notes:
            out.append(f"          {text}")
        if session.mistake and not marked:
            out.append(f"  ✗ first mistake: {session.mistake.title} ({session.mistake.rfc})")
            if session.mistake.detail:
                out.append(f"    {session.mistake.detail}")
        out.append("")
    return out
