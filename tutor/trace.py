"""The trace: typed events for every observable step of the world, the bus, recording and replay.

The trace is the only door between the world and the views (DESIGN.md). Every event is a
frozen dataclass with the common header fields below plus fields of its own; all of them
serialise to one JSON object per line (JSON Lines) and load back to the same dataclass, so a
recorded run can be replayed by any view without the world running. Closed vocabularies are
StrEnums (they compare equal to their strings), nested objects small frozen dataclasses.

The format is a documented contract: docs/trace.md describes every event and field, the
explanation keys, and the compatibility rules this reader follows (unknown fields ignored,
unknown types and values kept as ``UnknownEvent``, newer versions refused, older ones
upgraded). Change a field here and that page changes with it; tests/test_trace.py holds both
to each other and to the golden file of each version.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

from tutor.errors import UserError
from tutor.files import private_opener

TRACE_FORMAT = "smtp-tutor"
TRACE_VERSION = 1

E = TypeVar("E", bound="Event")


class Stage(StrEnum):
    """The lifecycle stage an event belongs to; views group and mark progress by it."""

    DNS = "dns"
    CONNECT = "connect"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    ENVELOPE = "envelope"
    DATA = "data"
    QUIT = "quit"
    FILTERING = "filtering"
    QUEUE = "queue"
    BOUNCE = "bounce"
    DELIVERY = "delivery"
    SCENARIO = "scenario"


# The lifecycle stage each SMTP command belongs to; both ends of a session file lines by it.
COMMAND_STAGES: dict[str, Stage] = {
    "EHLO": Stage.EHLO,
    "HELO": Stage.EHLO,
    "STARTTLS": Stage.STARTTLS,
    "AUTH": Stage.AUTH,
    "MAIL": Stage.ENVELOPE,
    "RCPT": Stage.ENVELOPE,
    "RSET": Stage.ENVELOPE,
    "DATA": Stage.DATA,
    "BDAT": Stage.DATA,
    "QUIT": Stage.QUIT,
}


class Direction(StrEnum):
    """Which way bytes travelled, seen from the client/server pair of one session."""

    CLIENT_TO_SERVER = "c>s"
    SERVER_TO_CLIENT = "s>c"
    NONE = "-"


class Side(StrEnum):
    """Which end of a connection recorded the event (both ends record what they see)."""

    CLIENT = "client"
    SERVER = "server"
    WORLD = "world"


class Outcome(StrEnum):
    """What finally happened to one recipient of one message."""

    DELIVERED = "delivered"
    REJECTED = "rejected"  # permanent failure at the receiving server (5xx)
    DEFERRED = "deferred"  # temporary failure; the queue keeps it
    BOUNCED = "bounced"  # gave up; a DSN went back to the sender
    REFUSED = "refused"  # the sender refused to try (not a host of this world, no MX, ...)


class NoteLevel(StrEnum):
    """How loudly a Note speaks: views mark warnings and errors."""

    INFO = "info"
    WARNING = "warning"  # something a learner should notice (continuing in clear, a retry)
    ERROR = "error"  # something went wrong inside the world (a server error, a bug)


class PolicyCheck(StrEnum):
    """The receiving-side checks that publish a PolicyVerdict."""

    SPF = "spf"
    DKIM = "dkim"
    DMARC = "dmarc"
    DNSBL = "dnsbl"
    GREYLIST = "greylist"


class PolicyResult(StrEnum):
    """A check's own result word, as its RFC (or postgrey) spells it.

    SPF: the seven of RFC 7208 §2.6; DKIM: pass, fail, none, permerror, temperror (RFC 8601
    §2.7.1); DMARC: pass, fail, none, temperror (RFC 7489 §11.2); DNSBL: listed, not-listed;
    greylisting: new, early-retry, pass, known, whitelisted.
    """

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"
    LISTED = "listed"
    NOT_LISTED = "not-listed"
    NEW = "new"  # greylist: first sight of the triplet, deferred
    EARLY_RETRY = "early-retry"  # greylist: retried before the delay was over, deferred
    KNOWN = "known"  # greylist: the triplet passed before, accepted at once
    WHITELISTED = "whitelisted"  # greylist: the client is on the auto-whitelist


class PolicyAction(StrEnum):
    """What a check asks the receiver to do with the message (the strongest one wins)."""

    NONE = "none"  # carry on; the result is only recorded (e.g. in a header)
    DEFER = "defer"  # 4xx: try again later (greylisting, DNS temperror)
    QUARANTINE = "quarantine"  # accept, but deliver into Junk (DMARC p=quarantine)
    REJECT = "reject"  # 5xx: refuse the message


class QueueState(StrEnum):
    """Where a message is in the sender's queue; REMOVED means it left the queue for good."""

    INCOMING = "incoming"  # just arrived, not yet tried
    ACTIVE = "active"  # being delivered right now
    DEFERRED = "deferred"  # waiting for its next attempt
    HOLD = "hold"  # parked by an operator
    REMOVED = "removed"  # every recipient is done (delivered or bounced)


class BounceAction(StrEnum):
    """The RFC 3464 §2.3.3 Action of a DSN this world sends."""

    FAILED = "failed"  # a non-delivery report: the message is given up
    DELAYED = "delayed"  # a delay warning: still trying


@dataclass(frozen=True, kw_only=True)
class WorldHost:
    """One host of the world as the run started it (ScenarioStarted's ``hosts``)."""

    name: str
    address: str = ""
    role: str = ""  # client | outbound | mx | gateway (the scenario's roles)
    # Listening service -> port of this run, e.g. {"smtp": 45075, "submission": 58103};
    # empty for a client, or for a host that is down.
    ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DsnFieldLink:
    """One field of a DSN and the trace event its value was taken from (Bounce's ``links``).

    ``seq`` is that event's sequence number: a RecipientResult for the per-recipient fields,
    the QueueChange into "incoming" for Arrival-Date; 0 when the trace has no such event and
    the value came from the queue file alone. ``recipient`` is empty for per-message fields.
    """

    recipient: str = ""
    field: str  # "Action", "Status", "Remote-MTA", "Diagnostic-Code", "Arrival-Date", ...
    value: str = ""
    seq: int = 0
    source: str = ""  # in words: "the reply to RCPT TO in session s2 at ..."


@dataclass(frozen=True, kw_only=True)
class Event:
    """Common header of every event.

    ``host`` is the world host that observed the event; ``session`` groups the events of one
    connection (empty when not tied to one); ``explain`` is a key into the explanation tables
    that views use to annotate the event.
    """

    type: ClassVar[str] = "event"
    seq: int = 0
    time: float = 0.0
    host: str = ""
    stage: Stage = Stage.SCENARIO
    session: str = ""
    side: Side = Side.WORLD
    explain: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with the event type first."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _to_jsonable(value)
        return out


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, StrEnum):
        return str(value)
    if dataclasses.is_dataclass(value):  # a nested WorldHost, DsnFieldLink: a JSON object
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- display safety

# Characters that would act on a terminal instead of showing: C0 and C1 controls, DEL, and the
# bidirectional overrides that reorder what a reader sees.
_UNSAFE = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    **{c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
    0x09: "\\t",
    0x0D: "\\r",
    0x0A: "\\n",
}


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: every control character visibly escaped.

    Anything a client sends (an EHLO name, a line typed into nc, an AUTH user name) can carry
    ESC sequences that retitle, clear or recolour the terminal of whoever reads the transcript
    (on a shared lab box, the instructor's). Views print what this returns.
    """
    if text.isprintable():
        return text
    return text.translate(_UNSAFE)


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True, kw_only=True)
class ScenarioStarted(Event):
    """The world is up; the run of a scenario begins."""

    type: ClassVar[str] = "scenario_started"
    name: str
    title: str = ""
    hosts: tuple[WorldHost, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ScenarioFinished(Event):
    """The run ended; ``ok`` says whether it ended as the scenario expected."""

    type: ClassVar[str] = "scenario_finished"
    name: str
    ok: bool
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # recipient -> its outcome
    mismatches: tuple[str, ...] = ()
    # Recipients the scenario no longer expects anything of: a what-if changed the story in a
    # way it could not predict (the preferred MX of a one-MX domain went down, say).
    unjudged: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Note(Event):
    """A plain statement by the world that a learner should see (e.g. 'continuing in clear')."""

    type: ClassVar[str] = "note"
    text: str
    level: NoteLevel = NoteLevel.INFO


# --------------------------------------------------------------------------- DNS


@dataclass(frozen=True, kw_only=True)
class DnsQuery(Event):
    """A DNS question sent by a resolver (side=client) or received by the server (side=server)."""

    type: ClassVar[str] = "dns_query"
    qname: str
    qtype: str
    server: str  # "address:port"
    transport: str = "udp"
    query_id: int = 0


@dataclass(frozen=True, kw_only=True)
class DnsAnswer(Event):
    """A DNS response: rcode, flags and the records of each section as zone-file text."""

    type: ClassVar[str] = "dns_answer"
    qname: str
    qtype: str
    server: str
    rcode: str  # NOERROR, NXDOMAIN, REFUSED, SERVFAIL, ...
    flags: tuple[str, ...] = ()  # e.g. ("qr", "aa", "tc")
    answer: tuple[str, ...] = ()
    authority: tuple[str, ...] = ()
    additional: tuple[str, ...] = ()
    transport: str = "udp"
    query_id: int = 0
    cached: bool = False  # served from the resolver's TTL cache, not the wire
    elapsed_ms: float = 0.0


# --------------------------------------------------------------------------- TCP / TLS


@dataclass(frozen=True, kw_only=True)
class TcpConnect(Event):
    """A TCP connection attempt and its result, as the connecting or accepting side saw it."""

    type: ClassVar[str] = "tcp_connect"
    src: str  # "address:port" (the port is 0 when the attempt failed before binding)
    dst: str
    dst_host: str = ""
    ok: bool = True
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class TcpClose(Event):
    """A TCP connection ended."""

    type: ClassVar[str] = "tcp_close"
    src: str
    dst: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class TlsHandshake(Event):
    """A finished (or failed) TLS handshake with what each side could see of it."""

    type: ClassVar[str] = "tls_handshake"
    ok: bool
    version: str = ""
    cipher: str = ""
    bits: int = 0
    sni: str = ""
    subject: str = ""
    issuer: str = ""
    san: tuple[str, ...] = ()
    not_after: str = ""
    chain: tuple[str, ...] = ()  # subjects, leaf first
    verified: bool = False
    verify_error: str = ""
    implicit: bool = False  # port-465 style, TLS from the first byte


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True, kw_only=True)
class SmtpLine(Event):
    """Exact bytes of one SMTP command or reply line (with CRLF), or the whole DATA payload.

    Both ends record the line: the client with side=client, the server with side=server.
    ``sender``/``receiver`` are host names; ``encrypted`` is true once TLS is up on the channel.
    """

    type: ClassVar[str] = "smtp_line"
    direction: Direction
    data: bytes
    sender: str
    receiver: str
    encrypted: bool = False
    is_payload: bool = False  # the message content sent after 354, ending with CRLF.CRLF

    @property
    def text(self) -> str:
        """The line without its line ending, decoded for display: control bytes a client sent
        (ESC, BEL, a bare CR, NUL...) come out visibly escaped, never raw (``printable``);
        the exact bytes stay in ``data``."""
        return printable(self.data.decode("utf-8", "replace").rstrip("\r\n"))


@dataclass(frozen=True, kw_only=True)
class AuthResult(Event):
    """The outcome of an AUTH exchange (the credentials themselves are never recorded)."""

    type: ClassVar[str] = "auth_result"
    mechanism: str
    username: str
    ok: bool


@dataclass(frozen=True, kw_only=True)
class RecipientResult(Event):
    """The sender's view of one recipient after a delivery attempt."""

    type: ClassVar[str] = "recipient_result"
    recipient: str
    outcome: Outcome
    reply: str = ""  # the deciding reply, e.g. "550 5.1.1 <x@y>: Recipient address rejected"
    relay: str = ""  # "mx1.example.net[127.0.0.11]:PORT" or "none"
    queue_id: str = ""


@dataclass(frozen=True, kw_only=True)
class Delivery(Event):
    """A message written into a recipient's mailbox by the receiving host."""

    type: ClassVar[str] = "delivery"
    recipient: str
    mailbox: str  # path of the Maildir
    folder: str = "INBOX"  # INBOX or Junk
    filename: str = ""
    size: int = 0
    headers_added: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PolicyVerdict(Event):
    """One policy check's result with the steps that led to it (SPF, DKIM, DMARC, DNSBL, ...)."""

    type: ClassVar[str] = "policy_verdict"
    check: PolicyCheck
    result: PolicyResult
    reasons: tuple[str, ...] = ()
    action: PolicyAction = PolicyAction.NONE


@dataclass(frozen=True, kw_only=True)
class QueueChange(Event):
    """A message moved between queue states (incoming, active, deferred, hold) or left the queue."""

    type: ClassVar[str] = "queue_change"
    queue_id: str
    state: QueueState
    reason: str = ""
    next_attempt: float | None = None


@dataclass(frozen=True, kw_only=True)
class Bounce(Event):
    """A delivery status notification was generated for a message."""

    type: ClassVar[str] = "bounce"
    queue_id: str
    dsn_queue_id: str
    recipients: tuple[str, ...]
    action: BounceAction = BounceAction.FAILED
    links: tuple[DsnFieldLink, ...] = ()  # where each field of the DSN came from


@dataclass(frozen=True, kw_only=True)
class LogLine(Event):
    """One line of the world's mail log (Postfix syslog format)."""

    type: ClassVar[str] = "log_line"
    program: str
    text: str
    # The record's parts as a log analyser names them (kind, queue_id, to, status, relay,
    # delay, reply_code, ...): readers use these instead of parsing ``text`` back.
    fields: dict[str, Any] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        ScenarioStarted,
        ScenarioFinished,
        Note,
        DnsQuery,
        DnsAnswer,
        TcpConnect,
        TcpClose,
        TlsHandshake,
        SmtpLine,
        AuthResult,
        RecipientResult,
        Delivery,
        PolicyVerdict,
        QueueChange,
        Bounce,
        LogLine,
    )
}


class TraceFormatError(UserError, ValueError):
    """A recorded trace file could not be read; the message names file and line."""


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """An event this reader cannot interpret, kept opaque rather than refused (docs/trace.md).

    A newer tutor wrote it: a type this reader does not know, or a known type with a value
    outside one of its vocabularies (a new stage, a new policy result). The header fields are
    read where they can be; ``data`` is the JSON object as read, and ``to_json`` writes it back,
    so a replayed and re-recorded trace loses nothing. It is never published by the world.
    """

    type: ClassVar[str] = "unknown"
    original_type: str  # the "type" the file gave
    problem: str = ""  # why it is opaque: "unknown event type 'arc_verdict'", ...
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # The bus restamps seq and time when a recorded trace is published again.
        return {**self.data, "seq": self.seq, "time": self.time}


def event_from_json(obj: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON object (the inverse of ``Event.to_json``).

    The compatibility rules of docs/trace.md: fields this reader does not know are ignored; an
    unknown event type, or a value outside a vocabulary, gives an ``UnknownEvent``; anything
    else malformed (not an object, no type, a required field missing, a wrong JSON type)
    raises ValueError or TypeError.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"an event is a JSON object, not {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("the event has no type")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return _opaque(obj, f"unknown event type {kind!r}")
    try:
        return _build(cls, obj)
    except _UnknownValue as exc:
        return _opaque(obj, str(exc))


class _UnknownValue(ValueError):
    """A value outside a vocabulary this reader knows: the event is kept opaque, not refused."""


Convert = Callable[[Any], Any]
_READERS: dict[type, tuple[tuple[str, Convert | None], ...]] = {}


def _build(cls: type[Any], obj: Any) -> Any:
    """An event (or a nested WorldHost, DsnFieldLink) from its JSON object."""
    if not isinstance(obj, dict):
        raise TypeError(f"{cls.__name__} is a JSON object, not {type(obj).__name__}")
    kwargs: dict[str, Any] = {}
    for name, convert in _readers(cls):
        if name in obj:
            try:
                kwargs[name] = obj[name] if convert is None else convert(obj[name])
            except TypeError as exc:
                raise TypeError(f"{name}: {exc}") from None
    return cls(**kwargs)


def _readers(cls: type[Any]) -> tuple[tuple[str, Convert | None], ...]:
    """Each field of a dataclass with the function that rebuilds it from JSON (None: as is)."""
    readers = _READERS.get(cls)
    if readers is None:
        hints = get_type_hints(cls)
        readers = tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))
        _READERS[cls] = readers
    return readers


def _converter(hint: Any) -> Convert | None:
    """How to rebuild (and check) a value of type ``hint`` from JSON; None: taken as it is."""
    if hint is bytes:
        return _bytes_from_json
    if hint in _PLAIN:
        return functools.partial(_plain_from_json, _PLAIN[hint])
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return functools.partial(_enum_from_json, hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return functools.partial(_build, hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        return functools.partial(_tuple_from_json, _converter(args[0]))
    if origin is dict:
        return functools.partial(_dict_from_json, _converter(args[1]))
    if origin is types.UnionType:  # X | None
        inner = [a for a in args if a is not type(None)]
        convert = _converter(inner[0]) if len(inner) == 1 else None
        return None if convert is None else functools.partial(_optional_from_json, convert)
    return None


# JSON has one number type: a float field may be written as 1, an int field never as 1.5.
_PLAIN: dict[Any, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}


def _plain_from_json(accepted: tuple[type, ...], value: Any) -> Any:
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        raise TypeError(f"expected {accepted[-1].__name__}, not {type(value).__name__}")
    return value


def _bytes_from_json(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"bytes are a latin-1 string, not {type(value).__name__}")
    return value.encode("latin-1")


def _enum_from_json(enum: type[StrEnum], value: Any) -> StrEnum:
    try:
        return enum(value)
    except ValueError:
        raise _UnknownValue(f"{value!r} is not a {enum.__name__} this reader knows") from None


def _tuple_from_json(convert: Convert | None, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return tuple(value) if convert is None else tuple(convert(v) for v in value)


def _dict_from_json(convert: Convert | None, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, not {type(value).__name__}")
    return dict(value) if convert is None else {k: convert(v) for k, v in value.items()}


def _optional_from_json(convert: Convert, value: Any) -> Any:
    return None if value is None else convert(value)


def _opaque(obj: dict[str, Any], problem: str) -> UnknownEvent:
    """An UnknownEvent with the header fields that can be read (the others keep defaults)."""
    header: dict[str, Any] = {}
    for name, convert in _readers(Event):
        if name in obj:
            try:
                header[name] = obj[name] if convert is None else convert(obj[name])
            except (ValueError, TypeError):
                continue
    return UnknownEvent(**header, original_type=str(obj["type"]), problem=problem, data=dict(obj))


# --------------------------------------------------------------------------- the bus


def event_with(event: E, **changes: Any) -> E:
    """A copy of ``event`` with ``changes``: ``dataclasses.replace`` for events, made cheap.

    Every line, DNS answer and verdict is copied at least once on its way into the trace (the
    bus stamps seq and time; servers stamp host, session and side), tens of thousands of times
    in a busy run. ``dataclasses.replace`` re-runs ``__init__`` with every field as a keyword,
    about five times the cost of copying the instance dict. Events are frozen dataclasses with
    no ``__post_init__`` and no init=False fields, so the copy is the same object replace
    would build; a subclass that does define ``__post_init__`` still goes through replace.
    """
    cls = type(event)
    if hasattr(cls, "__post_init__"):
        return dataclasses.replace(event, **changes)
    for name in changes:
        if name not in cls.__dataclass_fields__ or name == "type":
            raise TypeError(f"{cls.__name__} has no field {name!r}")
    copy = object.__new__(cls)
    state = copy.__dict__
    state.update(event.__dict__)
    state.update(changes)
    return copy


Subscriber = Callable[[Event], None]


class Trace:
    """The ordered record of a run; publishing assigns the sequence number and time.

    Subscribers are called synchronously, in publish order, from the event loop that runs the
    world; a view that needs to do slow work hands the event to its own queue.
    """

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.events: list[Event] = []
        self._subscribers: list[Subscriber] = []
        self._now = now or (lambda: 0.0)
        self._publishing = False

    def set_clock(self, now: Callable[[], float]) -> None:
        self._now = now

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event from now on; returns an unsubscribe function."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> Event:
        """Stamp the event with its sequence number (and time, if unset) and deliver it.

        Subscribers are readers: one that publishes from inside ``publish`` would make the
        order of events depend on who subscribed first, so it is refused outright.
        """
        if self._publishing:
            raise RuntimeError(f"publish from inside a trace subscriber: {type(event).__name__}")
        stamped = event_with(event, seq=len(self.events) + 1, time=event.time or self._now())
        self.events.append(stamped)
        self._deliver(stamped)
        return stamped

    def replay(self, event: Event) -> None:
        """Append an already stamped event (a recorded one) as it is and deliver it."""
        self.events.append(event)
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        self._publishing = True
        try:
            for subscriber in list(self._subscribers):
                subscriber(event)
        finally:
            self._publishing = False

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        """Who listens (a test proves the world itself is never one of them)."""
        return tuple(self._subscribers)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        # A bus is a bus even before its first event; without this, ``trace or Trace()``
        # would silently swap an empty trace (with its subscribers) for a new one.
        return True

    def of_type(self, cls: type[Event]) -> list[Any]:
        """All events of one type, in order (handy for tests and views)."""
        return [e for e in self.events if isinstance(e, cls)]


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class TraceHeader:
    """First line of a recorded trace."""

    scenario: str
    started: str
    version: int = TRACE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "trace": TRACE_FORMAT,
            "version": self.version,
            "scenario": self.scenario,
            "started": self.started,
        }


class TraceRecorder:
    """Writes every published event to a JSON Lines file as it happens (a crash keeps the rest)."""

    def __init__(self, stream: IO[str], header: TraceHeader) -> None:
        self._stream = stream
        self._write(header.to_json())

    def __call__(self, event: Event) -> None:
        self._write(event.to_json())

    def _write(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._stream.flush()


KEPT_TRACE_NAME = "trace.jsonl"  # what `--keep DIR` leaves in DIR besides mailboxes and logs


def record_run(
    trace: Trace, header: TraceHeader, files: ExitStack, *, record: Path | None, keep: Path | None
) -> None:
    """Record a run as it happens to ``--record FILE`` and/or ``DIR/trace.jsonl`` of ``--keep``.

    The files stay open in ``files`` (the caller closes them when the run ends), so every
    view that runs a world records the same way.
    """
    for target in (record, keep / KEPT_TRACE_NAME if keep else None):
        if target is not None:
            stream = files.enter_context(  # closed by files
                open(target, "w", encoding="utf-8", opener=private_opener)  # noqa: SIM115
            )
            trace.subscribe(TraceRecorder(stream, header))


def write_trace(path: Path, header: TraceHeader, events: Iterable[Event]) -> None:
    """Write a whole trace at once."""
    with path.open("w", encoding="utf-8") as stream:
        recorder = TraceRecorder(stream, header)
        for event in events:
            recorder(event)


# Reading an older version: UPGRADES[n] turns an event object of version n into one of
# version n + 1, so every version ever written keeps reading (docs/trace.md, "Versions").
# Version 1 is the first, so there is nothing to upgrade yet.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def upgrade_event(obj: Any, version: int) -> Any:
    """An event object of trace ``version`` as the current version writes it."""
    for step in range(version, TRACE_VERSION):
        obj = UPGRADES[step](obj)
    return obj


def read_trace(path: Path) -> tuple[TraceHeader, list[Event]]:
    """Load a recorded trace; raise TraceFormatError naming the file and line on bad input."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"{path}: not a UTF-8 text file") from exc
    if not lines[0].strip():
        raise TraceFormatError(f"{path}:1: empty file, expected a smtp-tutor trace")
    try:
        first = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise TraceFormatError(f"{path}:1: not JSON ({exc.msg})") from exc
    if not isinstance(first, dict) or first.get("trace") != TRACE_FORMAT:
        raise TraceFormatError(f"{path}:1: not a smtp-tutor trace (missing trace header)")
    version = first.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TraceFormatError(f"{path}:1: trace version {version!r} is not one smtp-tutor writes")
    if version > TRACE_VERSION:
        raise TraceFormatError(
            f"{path}:1: trace version {version} is newer than this smtp-tutor reads "
            f"(version {TRACE_VERSION}); replay it with the smtp-tutor that recorded it, or newer"
        )
    header = TraceHeader(
        scenario=str(first.get("scenario", "")),
        started=str(first.get("started", "")),
        version=version,
    )
    events: list[Event] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            events.append(event_from_json(upgrade_event(json.loads(line), version)))
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise TraceFormatError(f"{path}:{number}: bad event: {exc}") from exc
    return header, events
