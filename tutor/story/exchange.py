"""Which host answered what to which command: a session as (command, reply) exchanges.

A quiz asks "What did the MX answer to RCPT TO:<green@example.net>?" or "Put this session's
commands in order"; a lesson waits "until the MX answers RCPT for bob". Each needs the
session's lines folded into exchanges: the command (or the greeting, or the message content)
and the whole reply that answered it. Replies answer commands in order (RFC 5321 §4.1.1;
with PIPELINING several commands may be sent before the first reply, RFC 2920 §3.1), so
commands wait in a queue and each complete reply answers the oldest one.

The client's records are read where the client recorded the session; a session only a
server saw (a learner's nc) is read from the server's records.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tutor.story.session import session_book
from tutor.trace import Direction, Event, Side, SmtpLine

_CONTINUED = re.compile(r"^\d{3}-")  # "250-PIPELINING": more lines of this reply follow
_CODE = re.compile(r"^(\d{3})(?:[ -]|$)")


class Prompt(StrEnum):
    """What a reply answered."""

    GREETING = "greeting"  # nothing: the server speaks first when the connection opens
    COMMAND = "command"  # a command line (or an AUTH continuation line)
    CONTENT = "content"  # the message sent after 354, answered after its final dot
    NOTHING = "nothing"  # a reply no command was waiting for (421 when the server gives up)


@dataclass(frozen=True)
class Exchange:
    """One command (or greeting, or message) and the reply that answered it.

    ``reply`` holds every line of a multi-line reply, without line endings; it is empty when
    no reply came (the connection ended first). ``answered_by`` is the host that replied.
    """

    session: str
    prompt: Prompt
    command: str  # the line as sent, without CRLF; "" for a greeting or the message content
    reply: tuple[str, ...]
    code: int | None
    asked_by: str
    answered_by: str
    command_seq: int | None
    reply_seq: int | None  # the reply's last line
    encrypted: bool

    @property
    def verb(self) -> str:
        """The command word in capitals ("MAIL", "RCPT", "EHLO"); "" for other prompts."""
        if self.prompt is not Prompt.COMMAND or not self.command:
            return ""
        return self.command.split(" ", 1)[0].split(":", 1)[0].upper()

    @property
    def reply_text(self) -> str:
        """The whole reply, one line per line."""
        return "\n".join(self.reply)


def _code_of(line: str) -> int | None:
    match = _CODE.match(line)
    return int(match.group(1)) if match else None


@dataclass
class _Asked:
    prompt: Prompt
    command: str
    seq: int
    asked_by: str


class _SessionFold:
    """Folds one session's lines, as one end recorded them, into exchanges."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.waiting: deque[_Asked] = deque()
        self.reply: list[SmtpLine] = []
        self.done: list[Exchange] = []

    def line(self, event: SmtpLine) -> None:
        if event.direction == Direction.CLIENT_TO_SERVER:
            prompt = Prompt.CONTENT if event.is_payload else Prompt.COMMAND
            command = "" if event.is_payload else event.text
            self.waiting.append(_Asked(prompt, command, event.seq, event.sender))
            return
        self.reply.append(event)
        if not _CONTINUED.match(event.text):
            self._answer()

    def _answer(self) -> None:
        lines, self.reply = self.reply, []
        asked = self.waiting.popleft() if self.waiting else None
        prompt = asked.prompt if asked else Prompt.NOTHING if self.done else Prompt.GREETING
        last = lines[-1]
        self.done.append(
            Exchange(
                session=self.session,
                prompt=prompt,
                command=asked.command if asked else "",
                reply=tuple(line.text for line in lines),
                code=_code_of(lines[0].text),
                asked_by=asked.asked_by if asked else last.receiver,
                answered_by=last.sender,
                command_seq=asked.seq if asked else None,
                reply_seq=last.seq,
                encrypted=last.encrypted,
            )
        )

    def finish(self) -> list[Exchange]:
        if self.reply:  # the connection ended in the middle of a multi-line reply
            self._answer()
        for asked in self.waiting:  # commands no reply came for
            self.done.append(
                Exchange(
                    session=self.session,
                    prompt=asked.prompt,
                    command=asked.command,
                    reply=(),
                    code=None,
                    asked_by=asked.asked_by,
                    answered_by="",
                    command_seq=asked.seq,
                    reply_seq=None,
                    encrypted=False,
                )
            )
        self.waiting.clear()
        return self.done


def exchanges(events: Sequence[Event], session: str | None = None) -> tuple[Exchange, ...]:
    """Every exchange of every session (or of ``session`` only), sessions in order of first line."""
    book = session_book(events)
    folds: dict[str, _SessionFold] = {}
    sides: dict[str, Side] = defaultdict(lambda: Side.CLIENT)
    for found in book.sessions():
        if found.from_outside:
            sides[found.id] = Side.SERVER
    wanted = book.connection(session) if session is not None else None
    for event in events:
        if not isinstance(event, SmtpLine) or not event.session:
            continue
        connection = book.connection(event.session)
        if wanted is not None and connection != wanted:
            continue
        if event.side != sides[connection]:
            continue
        fold = folds.get(connection)
        if fold is None:
            fold = folds[connection] = _SessionFold(connection)
        fold.line(event)
    return tuple(exchange for fold in folds.values() for exchange in fold.finish())


def commands(events: Sequence[Event], session: str) -> tuple[str, ...]:
    """The command lines a session's client sent, in order (what "put them in order" asks)."""
    return tuple(
        e.command for e in exchanges(events, session) if e.prompt is Prompt.COMMAND and e.command
    )


def answer_to(events: Sequence[Event], command: str, *, host: str = "") -> Exchange | None:
    """The first exchange whose command is ``command`` (any case), answered by ``host`` if given.

    "What did the MX answer to RCPT TO:<green@example.net>?" is
    ``answer_to(events, "RCPT TO:<green@example.net>", host="mx.example.net")``.
    """
    wanted = " ".join(command.split()).casefold()
    for exchange in exchanges(events):
        if " ".join(exchange.command.split()).casefold() != wanted:
            continue
        if not host or exchange.answered_by == host:
            return exchange
    return None
