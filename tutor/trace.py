"""The trace: typed events for every observable step of the world, the bus, recording and replay.

The trace is the only door between the world and the views (DESIGN.md). Every event is a
frozen dataclass with the common header fields below plus fields of its own; all of them
serialise to one JSON object per line (JSON Lines) and load back to the same dataclass, so a
recorded run can be replayed by any view without the world running.

Trace format, version 1:
    line 1:  {"trace": "smtp-tutor", "version": 1, "scenario": NAME, "started": ISO-TIME}
    line 2+: {"type": EVENT-TYPE, "seq": N, "time": T, "host": ..., "stage": ..., ...}
Bytes fields (exact protocol bytes) are written as latin-1 strings under the same key, which is
lossless for every byte value and readable for the ASCII that SMTP mostly is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

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
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True, kw_only=True)
class ScenarioStarted(Event):
    """The world is up; the run of a scenario begins."""

    type: ClassVar[str] = "scenario_started"
    name: str
    title: str = ""
    hosts: tuple[dict[str, Any], ...] = ()  # {name, address, role, ports}


@dataclass(frozen=True, kw_only=True)
class ScenarioFinished(Event):
    """The run ended; ``ok`` says whether it ended as the scenario expected."""

    type: ClassVar[str] = "scenario_finished"
    name: str
    ok: bool
    outcomes: dict[str, str] = field(default_factory=dict)  # recipient -> Outcome
    mismatches: tuple[str, ...] = ()
    # Recipients the scenario no longer expects anything of: a what-if changed the story in a
    # way it could not predict (the preferred MX of a one-MX domain went down, say).
    unjudged: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Note(Event):
    """A plain statement by the world that a learner should see (e.g. 'continuing in clear')."""

    type: ClassVar[str] = "note"
    text: str
    level: str = "info"  # info | warning | error


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
        """The line without its line ending, decoded for display."""
        return self.data.decode("utf-8", "replace").rstrip("\r\n")


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
    check: str
    result: str
    reasons: tuple[str, ...] = ()
    action: str = "none"  # none | defer | quarantine | reject


@dataclass(frozen=True, kw_only=True)
class QueueChange(Event):
    """A message moved between queue states (incoming, active, deferred, hold) or left the queue."""

    type: ClassVar[str] = "queue_change"
    queue_id: str
    state: str
    reason: str = ""
    next_attempt: float | None = None


@dataclass(frozen=True, kw_only=True)
class Bounce(Event):
    """A delivery status notification was generated for a message."""

    type: ClassVar[str] = "bounce"
    queue_id: str
    dsn_queue_id: str
    recipients: tuple[str, ...]
    action: str = "failed"  # failed | delayed
    # Where each DSN field came from: {"recipient", "field", "value", "seq"}, seq being the
    # event (a RecipientResult, the QueueChange of arrival) the field was taken from.
    links: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class LogLine(Event):
    """One line of the world's mail log (Postfix syslog format)."""

    type: ClassVar[str] = "log_line"
    program: str
    text: str


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


class TraceFormatError(ValueError):
    """A recorded trace file could not be read; the message names file and line."""


def event_from_json(obj: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON dict (the inverse of ``Event.to_json``)."""
    cls = EVENT_TYPES.get(obj.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {obj.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in obj:
            continue
        kwargs[f.name] = _from_jsonable(f.type, obj[f.name])
    return cls(**kwargs)


def _from_jsonable(annotation: Any, value: Any) -> Any:
    ann = str(annotation)
    if ann == "bytes":
        return value.encode("latin-1")
    if ann == "Stage":
        return Stage(value)
    if ann == "Direction":
        return Direction(value)
    if ann == "Side":
        return Side(value)
    if ann == "Outcome":
        return Outcome(value)
    if ann.startswith("tuple") and isinstance(value, list):
        return tuple(value)
    return value


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

    def set_clock(self, now: Callable[[], float]) -> None:
        self._now = now

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event from now on; returns an unsubscribe function."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> Event:
        """Stamp the event with its sequence number (and time, if unset) and deliver it."""
        stamped = event_with(event, seq=len(self.events) + 1, time=event.time or self._now())
        self.events.append(stamped)
        for subscriber in list(self._subscribers):
            subscriber(stamped)
        return stamped

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
            stream = files.enter_context(open(target, "w", encoding="utf-8"))  # noqa: SIM115 (closed by files)
            trace.subscribe(TraceRecorder(stream, header))


def write_trace(path: Path, header: TraceHeader, events: Iterable[Event]) -> None:
    """Write a whole trace at once."""
    with path.open("w", encoding="utf-8") as stream:
        recorder = TraceRecorder(stream, header)
        for event in events:
            recorder(event)


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
    if first.get("version") != TRACE_VERSION:
        raise TraceFormatError(
            f"{path}:1: trace version {first.get('version')!r}, this tutor reads {TRACE_VERSION}"
        )
    header = TraceHeader(
        scenario=str(first.get("scenario", "")), started=str(first.get("started", ""))
    )
    events: list[Event] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            events.append(event_from_json(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise TraceFormatError(f"{path}:{number}: bad event: {exc}") from exc
    return header, events
