"""A lab as data: its task, starting state, requirements (checks of a few kinds), hints, solution.

A lab folder (``labs/<id>/``) holds ``task.md`` (what the student reads), ``lab.toml`` (all the
rest, read by ``loader.py``) and any files copied into the student's working directory. The
shapes here are what the loader builds and what the runner, the checks and the authoring check
read; none of them knows about files, sockets or the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class CheckKind(StrEnum):
    """The generic kinds of requirement; every lab's checks are made of these."""

    MAILBOX = "mailbox"  # a message in a mailbox with given headers / body / route
    SESSION = "session"  # a session from outside the world with given commands in order
    DNS_ANSWER = "dns-answer"  # what the world's DNS serves for a name and type, asked on the wire
    DNS_QUERY = "dns-query"  # the learner asked the world's DNS a question (dig)
    LOG = "log"  # a mail-log record with given fields
    QUEUE = "queue"  # the sender's queue: empty, or a recipient in a given state


class StepKind(StrEnum):
    """What one step of a reference solution (or a near-miss) does, the way a student would."""

    SMTP = "smtp"  # a session typed by hand: `nc -C`, or `openssl s_client -starttls smtp`
    DIG = "dig"  # one DNS question to the lab's DNS server


class TlsMode(StrEnum):
    """How an SMTP step connects."""

    NONE = "none"  # nc -C: plain TCP, every line typed
    STARTTLS = "starttls"  # openssl s_client -starttls smtp: EHLO + STARTTLS done by the tool


class ShowHosts(StrEnum):
    """What `lab start` tells the student about the world's hosts."""

    HOSTS = "hosts"  # names, roles, addresses and ports: the whole map
    ADDRESSES = "addresses"  # only which address listens on which port: finding names is the task


# "MAIL", "RCPT 250", "AUTH 5xx", ". 250" (the message content, answered after its lone dot)
_COMMAND_PATTERN = re.compile(r"^\s*([A-Za-z]+|\.)\s*(?:\s(\d{3}|[2-5]xx))?\s*$")


@dataclass(frozen=True)
class CommandPattern:
    """One command a session must contain, and optionally the reply it must have got."""

    verb: str  # upper case; "." is the message content ending with the lone dot
    code: str = ""  # "", "250" or "2xx"

    @classmethod
    def parse(cls, text: str) -> CommandPattern | None:
        match = _COMMAND_PATTERN.match(text)
        if not match:
            return None
        return cls(match.group(1).upper(), (match.group(2) or "").lower())

    def code_matches(self, code: int | None) -> bool:
        if not self.code:
            return True
        if code is None:
            return False
        if self.code.endswith("xx"):
            return str(code)[0] == self.code[0]
        return str(code) == self.code

    @property
    def word(self) -> str:
        return "the message (ending with a lone dot)" if self.verb == "." else self.verb

    def __str__(self) -> str:
        return f"{self.word} answered {self.code}" if self.code else self.word


@dataclass(frozen=True)
class Requirement:
    """What every requirement has: a stable id, what it asks in words, the fresh message."""

    id: str
    text: str  # shown at `lab check`: "bob@example.net has your message"
    fresh: str  # the authoring check: a fresh world's message must contain this


@dataclass(frozen=True)
class MailboxRequirement(Requirement):
    recipient: str
    subject: str = ""
    headers: tuple[tuple[str, str], ...] = ()  # (field, text it must contain), any case
    body_contains: str = ""
    received_by: str = ""  # the host named in the newest Received header's "by"
    received_with: str = ""  # its "with" protocol, e.g. ESMTPS (RFC 3848)
    folder: str = "INBOX"  # INBOX, Junk or any
    kind: CheckKind = CheckKind.MAILBOX


@dataclass(frozen=True)
class SessionRequirement(Requirement):
    host: str  # the world host that served the session
    commands: tuple[CommandPattern, ...]
    service: str = ""  # "smtp", "submission": the port the session came in on ("" any)
    tls: bool | None = None  # True: every command from MAIL on went inside TLS
    kind: CheckKind = CheckKind.SESSION


@dataclass(frozen=True)
class DnsAnswerRequirement(Requirement):
    name: str
    rdtype: str
    contains: tuple[str, ...] = ()  # records (rdata text) the answer must hold
    absent: tuple[str, ...] = ()  # records it must not hold
    rcode: str = "NOERROR"
    kind: CheckKind = CheckKind.DNS_ANSWER


@dataclass(frozen=True)
class DnsQueryRequirement(Requirement):
    name: str
    rdtype: str
    kind: CheckKind = CheckKind.DNS_QUERY


@dataclass(frozen=True)
class LogRequirement(Requirement):
    fields: tuple[tuple[str, str], ...]  # each record field that must match (as text)
    host: str = ""
    kind: CheckKind = CheckKind.LOG


@dataclass(frozen=True)
class QueueRequirement(Requirement):
    empty: bool | None = None
    recipient: str = ""
    state: str = ""  # incoming | active | deferred | hold
    kind: CheckKind = CheckKind.QUEUE


AnyRequirement = (
    MailboxRequirement
    | SessionRequirement
    | DnsAnswerRequirement
    | DnsQueryRequirement
    | LogRequirement
    | QueueRequirement
)


@dataclass(frozen=True)
class Step:
    """One thing a student does: a session typed by hand, or a dig."""

    kind: StepKind
    say: str = ""  # why, in words, shown by `lab solution` above the commands
    host: str = ""  # smtp: the world host to connect to
    service: str = "smtp"  # smtp: which of its ports
    tls: TlsMode = TlsMode.NONE
    crlf: bool = True  # False: nc without -C (lines end in a bare LF)
    lines: tuple[str, ...] = ()  # smtp: what is typed, one line each; DATA's lines and "."
    name: str = ""  # dig: the name asked
    rdtype: str = ""  # dig: the type asked
    timeout: float = 3.0  # smtp: how long to wait for each reply


@dataclass(frozen=True)
class NearMiss:
    """A plausible wrong attempt the authoring check makes: it must fail ``fails``."""

    name: str
    fails: tuple[str, ...]  # requirement ids
    message: str  # every failed requirement's message contains this ("" any)
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    order: int
    summary: str
    folder: Path
    lab_file: Path
    task: str  # task.md
    scenario: str  # a shipped scenario's name, or a path (resolved against the folder)
    what_ifs: tuple[str, ...]
    files: tuple[str, ...]  # copied into the student's working directory
    show: ShowHosts
    tools: tuple[str, ...]  # the clients the task expects: nc, dig, openssl, swaks
    requirements: tuple[AnyRequirement, ...]
    hints: tuple[str, ...]
    solution_text: str
    solution: tuple[Step, ...]
    near_misses: tuple[NearMiss, ...] = field(default=())
    rfcs: tuple[str, ...] = ()

    def requirement(self, requirement_id: str) -> AnyRequirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)
