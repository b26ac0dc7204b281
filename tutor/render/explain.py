"""Explanations of trace events, SMTP commands and replies, read from tutor/data/explanations.toml.

The words live in a data file (STYLE.md: explanations are data, not strings in widgets); this
module only picks the right entries, takes codes and lines apart, and assembles an
``Explanation`` that every view (plain transcript, TUI, quizzes) can show in its own way.

Every event is explained through its explain key: ``explain_event`` asks ``key_of`` for the
key the world gave it ("reply.550", "dns.nxdomain", "outcome.deferred") and ``explain`` turns
the entry that key names into an explanation, with the event for its particulars. Views never
decide for themselves what an event or a line is.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tutor.smtp_keys import smtp_line_key
from tutor.trace import (
    AuthResult,
    DnsAnswer,
    DnsQuery,
    Event,
    Note,
    PolicyVerdict,
    RecipientResult,
    SmtpLine,
    TcpConnect,
    TlsHandshake,
)

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "explanations.toml"

TABLES = (
    "command",
    "reply",
    "reply_class",
    "reply_subject",
    "enhanced_class",
    "enhanced_subject",
    "enhanced",
    "extension",
    "smtp",
    "dns_type",
    "dns",
    "tls",
    "event",
    "outcome",
    "topic",
    "log",
    "queue",
    "bounce",
    "reply_in",
    "policy",
)
_REQUIRED = ("title", "short", "text")
_OPTIONAL_TEXT = ("why_now", "next")


class ExplanationDataError(ValueError):
    """The explanations data file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Entry:
    """One entry of the data file, as written there."""

    title: str
    short: str
    text: str
    why_now: str = ""
    next: str = ""
    rfc: tuple[str, ...] = ()

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p.strip().replace("\n", " ") for p in self.text.split("\n\n") if p.strip())


@dataclass(frozen=True)
class Explanation:
    """What a view shows to explain one line or event.

    ``summary`` is a one-line digest for compact annotations ("550 = ... · 5.1.1 = ...");
    ``breakdown`` takes a code or command apart into labelled pieces.
    """

    title: str
    body: tuple[str, ...] = ()
    breakdown: tuple[tuple[str, str], ...] = ()
    next_step: str = ""
    rfc: tuple[str, ...] = ()
    summary: str = ""

    @property
    def rfc_text(self) -> str:
        return ", ".join(self.rfc)


# --------------------------------------------------------------------------- loading


class Explanations:
    """The parsed data file: ``table -> key -> Entry``."""

    def __init__(self, tables: dict[str, dict[str, Entry]], path: Path) -> None:
        self.tables = tables
        self.path = path

    def get(self, table: str, key: str) -> Entry | None:
        return self.tables.get(table, {}).get(key)

    def lookup(self, dotted: str) -> Entry | None:
        """Resolve an event's ``explain`` key: "table.key" (key may contain dots) or a topic."""
        table, _, key = dotted.partition(".")
        if key and table in self.tables:
            return self.get(table, key) or self.get(table, key.upper())
        return self.get("topic", dotted)


def load_explanations(path: Path) -> Explanations:
    """Parse and validate an explanations file; raise ExplanationDataError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExplanationDataError(f"{path}: cannot read explanations: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ExplanationDataError(f"{path}: not a UTF-8 text file") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in the message; turn it into file:line form.
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = match.group(1) if match else "?"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ExplanationDataError(f"{path}:{line}: invalid TOML: {reason}") from exc

    tables: dict[str, dict[str, Entry]] = {}
    for table, entries in raw.items():
        if table not in TABLES:
            raise ExplanationDataError(
                f"{path}:{_line_of(text, table)}: unknown table [{table}], "
                f"expected one of: {', '.join(TABLES)}"
            )
        if not isinstance(entries, dict):
            raise ExplanationDataError(f"{path}:{_line_of(text, table)}: [{table}] must be a table")
        tables[table] = {
            str(key): _entry(path, text, table, str(key), value) for key, value in entries.items()
        }
    for table in TABLES:
        tables.setdefault(table, {})
    if "generic" not in tables["event"]:
        raise ExplanationDataError(f"{path}:1: missing the fallback entry [event.generic]")
    return Explanations(tables, path)


def _entry(path: Path, text: str, table: str, key: str, value: Any) -> Entry:
    where = f"{path}:{_line_of(text, table, key)}"
    if not isinstance(value, dict):
        raise ExplanationDataError(f"{where}: [{table}.{key}] must be a table")
    for name in _REQUIRED:
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise ExplanationDataError(
                f"{where}: [{table}.{key}] needs a non-empty '{name}' string"
            )
    for name in _OPTIONAL_TEXT:
        if name in value and not isinstance(value[name], str):
            raise ExplanationDataError(f"{where}: [{table}.{key}] '{name}' must be a string")
    rfc = value.get("rfc", [])
    if not isinstance(rfc, list) or not all(isinstance(r, str) for r in rfc):
        raise ExplanationDataError(f"{where}: [{table}.{key}] 'rfc' must be a list of strings")
    unknown = set(value) - {*_REQUIRED, *_OPTIONAL_TEXT, "rfc"}
    if unknown:
        raise ExplanationDataError(
            f"{where}: [{table}.{key}] unknown field(s) {', '.join(sorted(unknown))}"
        )
    return Entry(
        title=value["title"].strip(),
        short=value["short"].strip(),
        text=value["text"].strip(),
        why_now=value.get("why_now", "").strip(),
        next=value.get("next", "").strip(),
        rfc=tuple(rfc),
    )


def _line_of(text: str, table: str, key: str | None = None) -> int:
    """The line of a table header, so schema errors can point at it (1 when not found)."""
    if key is None:
        pattern = rf"^\s*\[{re.escape(table)}[.\]]"
    else:
        quoted = rf'(?:{re.escape(key)}|"{re.escape(key)}")'
        pattern = rf"^\s*\[\s*{re.escape(table)}\s*\.\s*{quoted}\s*\]"
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(pattern, line):
            return number
    return 1


@cache
def explanations() -> Explanations:
    """The shipped explanations, loaded once (a broken file raises ExplanationDataError)."""
    return load_explanations(DATA_FILE)


# --------------------------------------------------------------------------- parsing lines

_REPLY_RE = re.compile(r"^(?P<code>[1-5]\d\d)(?P<sep>[ -]|$)(?P<rest>.*)$", re.DOTALL)
_ENHANCED_RE = re.compile(r"^(?P<cls>[245])\.(?P<subject>\d{1,3})\.(?P<detail>\d{1,3})\b")
_PARAM_RE = re.compile(r"\b([A-Za-z0-9][A-Za-z0-9-]*)(?:=(\S*))?")


@dataclass(frozen=True)
class ParsedReply:
    """An SMTP reply line taken apart."""

    code: str
    last: bool  # "250 " ends a reply, "250-" continues it
    enhanced: str  # "5.1.1" or ""
    text: str  # what follows the codes


def parse_reply(line: str) -> ParsedReply | None:
    """Split "550 5.1.1 <bob@x>: User unknown"; None when the line is not a reply."""
    match = _REPLY_RE.match(line.strip("\r\n"))
    if not match:
        return None
    rest = match.group("rest")
    enhanced = ""
    found = _ENHANCED_RE.match(rest)
    if found:
        enhanced = found.group(0)
        rest = rest[found.end() :].lstrip()
    return ParsedReply(match.group("code"), match.group("sep") != "-", enhanced, rest)


def command_verb(line: str) -> str:
    """The command word of a client line, upper-cased ("mail from:<a>" -> "MAIL")."""
    word = line.strip().split(" ", 1)[0].split(":", 1)[0]
    return word.upper()


# --------------------------------------------------------------------------- free text


def explain_reply(text: str, stage: str = "") -> Explanation:
    """Explain one reply line: its code digit by digit, its enhanced code, and what comes next.

    ``stage`` is the step the reply answers (the trace's stage of the line). Where the same
    code means something particular there, a ``reply_in`` entry leads: 220 to STARTTLS is not
    a greeting, and 250 after the final dot is the moment responsibility changes hands.
    """
    parsed = parse_reply(text)
    if parsed is None:
        return _not_a_reply(text)
    return _reply(parsed, stage)


def _reply(parsed: ParsedReply, stage: str) -> Explanation:
    data = explanations()
    code = parsed.code
    entry = data.get("reply", code)
    context = data.get("reply_in", f"{code}.{_context_of(parsed, stage)}") if stage else None
    cls = data.get("reply_class", code[0])
    subject = data.get("reply_subject", code[1])

    breakdown: list[tuple[str, str]] = []
    if cls:
        breakdown.append((f"reply class {code[0]}", cls.short))
    if subject:
        breakdown.append((f"reply subject {code[1]}", subject.short))
    breakdown.append(
        (f"reply detail {code[2]}", entry.short if entry else "not a code this tutor knows")
    )
    rfc: list[str] = list(entry.rfc if entry else ("RFC 5321 §4.2.1",))
    if context:
        rfc = list(context.rfc) + [r for r in rfc if r not in context.rfc]
    refs = [rfc[0]]  # the summary cites one reference per part, the body all of them
    body: list[str] = list(context.paragraphs) if context else []
    body += list(entry.paragraphs) if entry else []
    if not entry:
        body.append(
            f"{code} is not one of the reply codes this tutor knows; its first digit still "
            f"says what kind of answer it is: {cls.short if cls else 'unknown'}."
        )
        if cls:
            body.extend(cls.paragraphs)

    meaning = context or entry
    summary = f"{code} = {meaning.short if meaning else 'unknown code'}"
    if cls:
        summary += f" ({cls.short}, {code[0]}xx)"

    if parsed.enhanced:
        enhanced = explain_enhanced(parsed.enhanced)
        breakdown.extend(enhanced.breakdown)
        summary += f" · {enhanced.summary}"
        refs.append(enhanced.rfc[0])
        body.extend(enhanced.body)
        rfc.extend(r for r in enhanced.rfc if r not in rfc)

    extension = _extension_of(parsed)
    if extension:
        name, ext = extension
        breakdown.append((name, ext.short))
        summary = f"{name} = {ext.short}"
        body.extend(ext.paragraphs)
        rfc = list(ext.rfc) + [r for r in rfc if r not in ext.rfc]
        refs = [ext.rfc[0]] if ext.rfc else refs

    if code == "334":
        decoded = _b64(parsed.text.strip())
        if decoded is not None:
            breakdown.append(("base64 decoded", repr(decoded)))
            summary += f" · decodes to {decoded!r}"

    summary += " · " + ", ".join(refs)
    title = meaning.title if meaning else f"{code} (unknown reply code)"
    return Explanation(
        title=title,
        body=tuple(body),
        breakdown=tuple(breakdown),
        next_step=(meaning.next if meaning else "") or (cls.next if cls else ""),
        rfc=tuple(rfc),
        summary=summary,
    )


def _context_of(parsed: ParsedReply, stage: str) -> str:
    """The reply_in key's second part: the stage, or the command when the code tells it.

    MAIL and RCPT share the envelope stage; Postfix's 2.1.5 says the 250 answers RCPT TO
    (RFC 5321 §4.1.1.3), not MAIL FROM (§4.1.1.2).
    """
    if stage == "envelope" and parsed.enhanced == "2.1.5":
        return "rcpt"
    return stage


def explain_enhanced(code: str) -> Explanation:
    """Explain an enhanced status code "class.subject.detail" (RFC 3463)."""
    data = explanations()
    match = _ENHANCED_RE.match(code.strip())
    if not match:
        return _generic(f"Not an enhanced status code: {code!r}")
    c, s, d = match.group("cls"), match.group("subject"), match.group("detail")
    cls = data.get("enhanced_class", c)
    subject = data.get("enhanced_subject", s)
    detail = data.get("enhanced", f"{s}.{d}")
    full = f"{c}.{s}.{d}"
    breakdown = [
        (f"status class {c}", cls.short if cls else "unknown class"),
        (f"status subject {s}", subject.short if subject else "unknown subject"),
        (
            f"status detail {d}",
            detail.short if detail else "no registered meaning known to this tutor",
        ),
    ]
    rfc: list[str] = []
    for entry in (detail, subject, cls):
        if entry:
            rfc.extend(r for r in entry.rfc if r not in rfc)
    short = detail.short if detail else (subject.short if subject else "unknown status")
    body = detail.paragraphs if detail else (subject.paragraphs if subject else ())
    if c == "4" and cls:
        # "Persistent transient": the class says why a 4.X.X status can end a delivery for
        # good (a DSN with Action: failed), which the detail alone does not.
        body = (*body, *cls.paragraphs)
    if c == "2":
        # The detail texts describe the problem a 4.x.x/5.x.x code reports; a 2.x.x code
        # reports success in the same area, so say that instead (e.g. 235 2.7.0 after AUTH).
        area = subject.short if subject else "this"
        body = (
            *(cls.paragraphs if cls else ()),
            f"{full}: success in the {area} area ({short}).",
        )
    return Explanation(
        title=f"{full} {detail.title.split(' ', 1)[1]}" if detail else f"{full} (enhanced status)",
        body=tuple(body),
        breakdown=tuple(breakdown),
        rfc=tuple(rfc) or ("RFC 3463 §2",),
        summary=f"{full} = {short}",
    )


def explain_command(line: str) -> Explanation:
    """Explain one client line typed or quoted anywhere: the command, its arguments, parameters.

    Lines of a trace are explained by their key instead (``explain_event``); a line given as
    text alone can only be taken apart, so a lone base64 word counts as an AUTH answer here.
    """
    stripped = line.strip("\r\n")
    verb = command_verb(stripped)
    word = stripped.strip()
    unknown = explanations().get("command", verb) is None
    if unknown and " " not in word and _b64(word) is not None:
        return _auth_response()
    return _command(stripped, verb)


def _command(line: str, verb: str) -> Explanation:
    entry = explanations().get("command", verb)
    if entry is None:
        return _unknown_command(verb)
    breakdown: list[tuple[str, str]] = [(verb, entry.short)]
    body = list(entry.paragraphs)
    rfc = list(entry.rfc)
    argument = line.split(" ", 1)[1] if " " in line else ""
    if verb in ("MAIL", "RCPT"):
        address = re.search(r"<[^>]*>", line)
        if address:
            label = "reverse-path" if verb == "MAIL" else "forward-path"
            path = address.group(0)
            if path == "<>":
                path = "<> (empty: a bounce, which must never cause another bounce)"
            breakdown.append((label, path))
            for name, value in _PARAM_RE.findall(line[address.end() :]):
                breakdown.append(_parameter(name, value, rfc))
    elif verb == "AUTH" and argument:
        mechanism = argument.split(" ", 1)[0].upper()
        breakdown.append(("mechanism", mechanism))
        if " " in argument:
            breakdown.append(("initial response", "base64 credentials (encoded, not encrypted)"))
    elif verb in ("EHLO", "HELO") and argument:
        breakdown.append(("client name", argument.strip()))
    elif verb == "BDAT" and argument:
        parts = argument.split()
        breakdown.append(("chunk size", f"{parts[0]} bytes"))
        if len(parts) > 1 and parts[1].upper() == "LAST":
            breakdown.append(("LAST", "this is the final chunk"))
    summary = f"{verb} = {entry.short}"
    params = [label for label, _ in breakdown[2:] if label.isupper()]
    if params:
        summary += " · " + ", ".join(params)
    summary += " · " + ", ".join(rfc[:2])
    return Explanation(
        title=entry.title,
        body=(*body, *((f"Why now: {entry.why_now}",) if entry.why_now else ())),
        breakdown=tuple(breakdown),
        next_step=entry.next,
        rfc=tuple(rfc),
        summary=summary,
    )


def _unknown_command(verb: str) -> Explanation:
    entry = _required("smtp", "unknown_command")
    title = entry.title[:1].lower() + entry.title[1:]
    return Explanation(
        title=f"{verb or 'empty line'}: {title}",
        body=entry.paragraphs,
        next_step=entry.next,
        rfc=entry.rfc,
        summary=f"{verb or '(empty)'} = {entry.short} · {', '.join(entry.rfc[:2])}",
    )


def _auth_response() -> Explanation:
    explained = _from_entry(_required("smtp", "auth_response"))
    return _with(explained, breakdown=(("base64", "an AUTH answer; not shown decoded"),))


def _not_a_reply(text: str) -> Explanation:
    explained = _from_entry(_required("smtp", "not_a_reply"))
    return _with(explained, breakdown=(("line", repr(text.strip()[:60])),))


def _payload(event: SmtpLine) -> Explanation:
    entry = _required("smtp", "payload")
    header_count = 0
    for line in event.text.split("\n"):
        if not line.strip("\r"):
            break
        if not line[:1].isspace():
            header_count += 1
    return Explanation(
        title=entry.title,
        body=entry.paragraphs,
        breakdown=(
            ("headers", f"{header_count} header field(s) before the blank line"),
            ("size", f"{len(event.data)} bytes"),
            ("end", "a line with a single dot: <CRLF>.<CRLF>"),
        ),
        next_step=entry.next,
        rfc=entry.rfc,
        summary=f"message content: {header_count} headers, blank line, body · {entry.rfc[0]}",
    )


# --------------------------------------------------------------------------- events


def explain_event(event: Event) -> Explanation:
    """The explanation of any trace event: what its key names, with the event's particulars.

    This is the one door every view (transcript, TUI, quizzes) asks. An event the tables know
    nothing about gets a generic explanation, never an exception.
    """
    try:
        return explain(key_of(event), event)
    except Exception as exc:  # a view must never crash on explaining; say what went wrong
        return _generic(f"No explanation available ({type(exc).__name__}: {exc})")


def key_of(event: Event) -> str:
    """The event's explain key: the one the world gave it, else the one its kind would have.

    The world keys every SMTP line, DNS step, outcome, verdict, queue change and log line; a
    trace recorded before SMTP lines carried a key, and the kinds the world does not key
    (TCP, TLS, AUTH results, deliveries, notes), get their key here.
    """
    if event.explain:
        return event.explain
    derive = _UNKEYED.get(type(event))
    return derive(event) if derive else f"event.{event.type}"


def explain(key: str, event: Event | None = None) -> Explanation:
    """The explanation ``key`` names; ``event`` adds its particulars (codes, records, reasons).

    The key's table decides how its entry is taken apart (an SMTP line by its command or
    reply code, a DNS answer with its records, an outcome with the deciding reply); the kind
    of event then adds its general background, the [event.<type>] entry, after the key's own
    words.
    """
    table, _, name = key.partition(".")
    build = _BY_TABLE.get(table)
    lead = build(name, event) if build else _from_key(key)
    background = _event_kind(event.type, event) if event is not None and table != "event" else None
    if lead is None:
        return background or _generic(f"No explanation for {key!r} yet.")
    return _merge(lead, background) if background else lead


def _from_key(key: str) -> Explanation | None:
    entry = explanations().lookup(key)
    return _from_entry(entry) if entry else None


def _command_line(name: str, event: Event | None) -> Explanation:
    verb = name.upper()
    return _command(event.text if isinstance(event, SmtpLine) else verb, verb)


def _reply_line(name: str, event: Event | None) -> Explanation:
    if not isinstance(event, SmtpLine):
        return explain_reply(name)
    parsed = parse_reply(event.text)
    if parsed is None:
        return _not_a_reply(event.text)
    return _reply(dataclasses.replace(parsed, code=name), event.stage.value)


def _other_line(name: str, event: Event | None) -> Explanation | None:
    if name == "payload" and isinstance(event, SmtpLine):
        return _payload(event)
    if name == "auth_response":
        return _auth_response()
    if name == "unknown_command":
        return _unknown_command(command_verb(event.text) if isinstance(event, SmtpLine) else "")
    if name == "not_a_reply":
        return _not_a_reply(event.text if isinstance(event, SmtpLine) else "")
    return _from_key(f"smtp.{name}")


def _dns(name: str, event: Event | None) -> Explanation | None:
    if isinstance(event, DnsAnswer):
        return _dns_answer(name, event)
    base = _from_key(f"dns.{name}")
    if base is None or not isinstance(event, DnsQuery):
        return base
    qtype = explanations().get("dns_type", event.qtype.upper())
    if qtype is None:
        return base
    return _merge(base, _from_entry(qtype), summary=f"? {event.qtype} = {qtype.short}")


def _answer_kind(event: DnsAnswer) -> str:
    """What the answer says: its rcode, or "nodata" for NOERROR without an answer (RFC 2308)."""
    rcode = event.rcode.lower()
    return "nodata" if rcode == "noerror" and not event.answer else rcode


def _dns_answer(name: str, event: DnsAnswer) -> Explanation:
    data = explanations()
    # A cached or truncated answer is still an answer of some kind: the key's own entry says
    # what is special about it and leads, the kind of answer follows.
    special = data.get("dns", name) if name in ("cached", "truncated") else None
    kind = {"cached": _answer_kind(event), "truncated": event.rcode.lower()}.get(name, name)
    kind_entry = data.get("dns", kind)
    type_entry = data.get("dns_type", event.qtype.upper())
    rcode = event.rcode.upper()
    breakdown = [("rcode", f"{rcode}: {kind_entry.short if kind_entry else 'unknown rcode'}")]
    if name == "truncated" and special:
        breakdown.append(("tc", special.short))
    if "aa" in event.flags:
        breakdown.append(("aa", "authoritative answer: from the server responsible for the zone"))
    if event.cached:
        breakdown.append(("cached", "served from the resolver's cache until its TTL runs out"))
    for record in event.answer:
        breakdown.append(("record", record))
    body: list[str] = []
    rfc: list[str] = []
    for entry in (special, kind_entry, type_entry):
        if entry:
            body.extend(entry.paragraphs)
            rfc.extend(r for r in entry.rfc if r not in rfc)
    parts = []
    if kind_entry:
        label = kind.upper() + (f" ({name})" if special else "")
        parts.append(f"{label} = {kind_entry.short}")
    if type_entry:
        parts.append(f"{event.qtype.upper()} = {type_entry.short}")
    summary = " · ".join([*parts, ", ".join(rfc[:2])]) if parts else f"DNS answer {rcode}"
    next_step = next((e.next for e in (special, kind_entry, type_entry) if e and e.next), "")
    aside = {"cached": ", from the cache", "truncated": ", truncated"}.get(name, "")
    return Explanation(
        title=f"DNS answer for {event.qname} {event.qtype}: {rcode}{aside}",
        body=tuple(body),
        breakdown=tuple(breakdown),
        next_step=next_step,
        rfc=tuple(rfc),
        summary=summary,
    )


def _outcome(name: str, event: Event | None) -> Explanation | None:
    base = _from_key(f"outcome.{name}")
    if base is None or not isinstance(event, RecipientResult):
        return base
    if event.reply and parse_reply(event.reply):
        reply = explain_reply(event.reply)
        return _merge(base, reply, summary=f"{base.summary} · {reply.summary}")
    return base


def _tls(name: str, event: Event | None) -> Explanation | None:
    if not isinstance(event, TlsHandshake):
        return _from_key(f"tls.{name}")
    data = explanations()
    if name == "failed":
        base = _from_entry(data.get("tls", "failed"))
        return _with(base, breakdown=(("error", event.verify_error or "handshake failed"),))
    base = _from_entry(data.get("tls", "handshake"))
    verify = _from_entry(data.get("tls", "verified" if event.verified else "not_verified"))
    merged = _merge(base, verify, summary=f"{base.summary} · {verify.summary}")
    if event.implicit:
        merged = _merge(merged, _from_entry(data.get("tls", "implicit")))
    breakdown = [
        ("version", event.version),
        ("cipher", f"{event.cipher} ({event.bits} bits)" if event.bits else event.cipher),
        ("subject", event.subject),
        ("issuer", event.issuer),
        ("names", ", ".join(event.san)),
        ("verified", "yes" if event.verified else f"no: {event.verify_error or 'not checked'}"),
    ]
    return _with(merged, breakdown=tuple((k, v) for k, v in breakdown if v))


def _event_kind(name: str, event: Event | None) -> Explanation | None:
    """An [event.<name>] entry: what a kind of event is, with what this one says."""
    entry = explanations().get("event", name)
    if entry is None:
        return None
    base = _from_entry(entry)
    particulars = _PARTICULARS.get(type(event)) if event is not None else None
    return particulars(base, event) if particulars else base


def _note(base: Explanation, event: Note) -> Explanation:
    return _with(base, body=(event.text, *base.body))


def _connect(base: Explanation, event: TcpConnect) -> Explanation:
    if not event.ok and event.error:
        return _with(base, breakdown=(("error", event.error),))
    return base


def _verdict(base: Explanation, event: PolicyVerdict) -> Explanation:
    check = event.check.lower()
    topic = explanations().get("topic", _TOPIC_OF_CHECK.get(check, check))
    if topic:
        # The one-line summary names the question the check answers, not just "a check".
        rfc = f" · {topic.rfc[0]}" if topic.rfc else ""
        base = _merge(base, _from_entry(topic), summary=f"{check}: {topic.short}{rfc}")
    return _with(base, breakdown=tuple(("reason", r) for r in event.reasons))


_TOPIC_OF_CHECK = {"greylist": "greylisting"}  # a check's name -> its topic entry

# How an explain key's table is taken apart, given the event for its particulars; any other
# table ("log", "queue", "bounce", "policy", "topic", ...) is its entry as written.
_BY_TABLE: dict[str, Callable[[str, Event | None], Explanation | None]] = {
    "command": _command_line,
    "reply": _reply_line,
    "smtp": _other_line,
    "dns": _dns,
    "outcome": _outcome,
    "tls": _tls,
    "event": _event_kind,
}

# What an [event.<type>] entry adds from the event itself.
_PARTICULARS: dict[type[Event], Callable[[Explanation, Any], Explanation]] = {
    Note: _note,
    TcpConnect: _connect,
    PolicyVerdict: _verdict,
}


def _answer_key(event: DnsAnswer) -> str:
    if event.cached:
        return "dns.cached"
    if "tc" in event.flags:
        return "dns.truncated"
    return f"dns.{_answer_kind(event)}"


# The key an event recorded without one gets: what the world gives its kind (tutor.smtp_keys
# for SMTP lines, tutor/world/dns for DNS), or the entry of its kind that fits its result.
_UNKEYED: dict[type[Event], Callable[[Any], str]] = {
    SmtpLine: lambda e: smtp_line_key(e.direction, e.data, stage=e.stage, payload=e.is_payload),
    DnsQuery: lambda e: "dns.query",
    DnsAnswer: _answer_key,
    RecipientResult: lambda e: f"outcome.{e.outcome.value}",
    TcpConnect: lambda e: "event.tcp_connect" if e.ok else "event.tcp_refused",
    TlsHandshake: lambda e: "tls.handshake" if e.ok else "tls.failed",
    AuthResult: lambda e: "event.auth_ok" if e.ok else "event.auth_failed",
}


# --------------------------------------------------------------------------- helpers


def _extension_of(parsed: ParsedReply) -> tuple[str, Entry] | None:
    """An EHLO reply line such as "250-SIZE 10240000" names an extension; find its entry."""
    if parsed.code != "250" or parsed.enhanced:
        return None
    word = parsed.text.split(" ", 1)[0].split("=", 1)[0]
    if not word or word != word.upper():
        return None
    entry = explanations().get("extension", word)
    return (word, entry) if entry else None


def _parameter(name: str, value: str, rfc: list[str]) -> tuple[str, str]:
    upper = name.upper()
    extension = {"SIZE": "SIZE", "BODY": "8BITMIME", "SMTPUTF8": "SMTPUTF8"}.get(upper)
    if upper in ("RET", "ENVID", "NOTIFY", "ORCPT"):
        extension = "DSN"
    entry = explanations().get("extension", extension) if extension else None
    if entry:
        rfc.extend(r for r in entry.rfc if r not in rfc)
    label = f"{upper}={value}" if value else upper
    if upper == "SIZE" and value.isdigit():
        return label, f"the message will be about {int(value):,} bytes"
    return label, entry.short if entry else "ESMTP parameter"


def _b64(text: str) -> str | None:
    if not text or len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isprintable() else None


def _from_entry(entry: Entry | None) -> Explanation:
    if entry is None:
        return _generic("")
    return Explanation(
        title=entry.title,
        body=entry.paragraphs,
        next_step=entry.next,
        rfc=entry.rfc,
        summary=f"{entry.short}" + (f" · {', '.join(entry.rfc[:2])}" if entry.rfc else ""),
    )


def _required(table: str, key: str) -> Entry:
    """An entry the code relies on; a data file without it is a broken install."""
    entry = explanations().get(table, key)
    if entry is None:
        raise ExplanationDataError(f"{explanations().path}: missing the entry [{table}.{key}]")
    return entry


def _generic(detail: str) -> Explanation:
    entry = explanations().get("event", "generic")
    assert entry is not None  # load_explanations insists on it
    body = (detail, *entry.paragraphs) if detail else entry.paragraphs
    return Explanation(title=entry.title, body=body, summary=entry.short)


def _with(
    explanation: Explanation,
    *,
    body: tuple[str, ...] | None = None,
    breakdown: tuple[tuple[str, str], ...] | None = None,
) -> Explanation:
    return Explanation(
        title=explanation.title,
        body=explanation.body if body is None else body,
        breakdown=explanation.breakdown if breakdown is None else breakdown,
        next_step=explanation.next_step,
        rfc=explanation.rfc,
        summary=explanation.summary,
    )


def _merge(first: Explanation, second: Explanation, *, summary: str = "") -> Explanation:
    return Explanation(
        title=first.title,
        body=(*first.body, *(p for p in second.body if p not in first.body)),
        breakdown=(*first.breakdown, *second.breakdown),
        next_step=first.next_step or second.next_step,
        rfc=(*first.rfc, *(r for r in second.rfc if r not in first.rfc)),
        summary=summary or first.summary,
    )
