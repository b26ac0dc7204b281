"""Sessions: one per connection — who was client and who server, which ends recorded it, when.

Both ends of a connection inside the world record it under one session id: the client names
the session, and the server looks its peer up and records its side under the same id
(``network.note_outgoing`` / ``session_of_peer``). So "the same connection" is stated by the
trace, never guessed. A session only a server recorded came from outside the world: a
learner's nc, swaks or openssl, which no world client announced.

Version 1 files recorded before both ends shared an id name the two ends' sessions apart.
For those, and only for a server session that has no client records of its own, the book
joins it to the client session with the same TCP endpoints; a whole trace also joins a
one-sided server session to the earliest unclaimed one-sided client session whose first SMTP
line is the same bytes between the same hosts (``SessionBook.settle``).

``SessionBook`` folds events one at a time, for views that print as the run happens (the
transcript); ``sessions`` runs it over a whole trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tutor.trace import (
    AuthResult,
    Direction,
    Event,
    ScenarioStarted,
    Side,
    SmtpLine,
    TcpClose,
    TcpConnect,
    TlsHandshake,
)

# Records of a connection that both of its ends make, each under the session id.
CONNECTION_RECORDS = (SmtpLine, TcpConnect, TcpClose, TlsHandshake, AuthResult)


@dataclass(frozen=True)
class Session:
    """One connection (or connection attempt) and everything recorded under its id.

    ``client`` and ``server`` are host names as the client itself gave them where it recorded
    the session (a learner's client outside the world is named by its address). ``sides``
    says which ends recorded it; ``from_outside`` is true when only a server did.
    """

    id: str
    client: str
    server: str
    sides: frozenset[Side]
    started: float
    ended: float
    connected: bool  # False: the connection attempt failed (refused, timed out)
    events: tuple[Event, ...] = field(repr=False)

    @property
    def from_outside(self) -> bool:
        """Only a server recorded it: no world client made this connection."""
        return Side.SERVER in self.sides and Side.CLIENT not in self.sides

    @property
    def seen_by_both(self) -> bool:
        return {Side.CLIENT, Side.SERVER} <= self.sides


class _Record:
    """What the book knows of one connection so far (mutable while folding).

    A plain class: every `run --plain` imports this module, and a dataclass costs about a
    millisecond to define.
    """

    __slots__ = (
        "client",
        "connected",
        "ended",
        "events",
        "first_line",
        "named_by_client",
        "order",
        "server",
        "sides",
        "started",
    )

    def __init__(self, order: int, started: float) -> None:
        self.order = order
        self.client = self.server = ""
        self.named_by_client = False
        self.sides: set[Side] = set()
        self.started = self.ended = started
        self.connected = False
        self.first_line: tuple[Direction, bytes, str, str] | None = None
        self.events: list[Event] = []


def _peer_names(event: Event) -> tuple[str, str]:
    """(client, server) as one record names them ('' where it does not)."""
    if isinstance(event, SmtpLine):
        if event.direction == Direction.SERVER_TO_CLIENT:
            return event.receiver, event.sender
        return event.sender, event.receiver
    if isinstance(event, TcpConnect):
        if event.side == Side.SERVER:
            return event.src, event.host
        return event.host, event.dst_host or event.dst
    return "", ""


def _address_of(endpoint: str) -> str:
    """The address of "127.0.0.12:41000" or "[::1]:41000"."""
    return endpoint.rsplit(":", 1)[0].strip("[]") if ":" in endpoint else endpoint


class SessionBook:
    """The sessions of a trace as its events arrive, one ``add`` at a time.

    ``keep_events`` keeps every event of each session (for ``sessions()``); a streaming view
    that only asks who saw what leaves it off and the book stays small.
    """

    def __init__(self, *, keep_events: bool = False) -> None:
        self._keep_events = keep_events
        self._records: dict[str, _Record] = {}
        self._alias: dict[str, str] = {}  # a legacy server session id -> its client's id
        self._client_ends: dict[tuple[str, str], str] = {}
        self._server_ends: dict[tuple[str, str], str] = {}
        self._world_addresses: set[str] = set()
        self._outside: set[str] = set()

    # ------------------------------------------------------------------ folding

    def add(self, event: Event) -> None:
        if isinstance(event, ScenarioStarted):
            self._world_addresses = {h.address for h in event.hosts if h.address}
            return
        if not event.session:
            return
        if isinstance(event, TcpConnect):
            self._note_ends(event)
        record = self._record(self.connection(event.session), event)
        if self._keep_events:
            record.events.append(event)
        record.ended = max(record.ended, event.time)
        if not isinstance(event, CONNECTION_RECORDS):
            return
        if event.side in (Side.CLIENT, Side.SERVER):
            record.sides.add(Side(event.side))
        if (isinstance(event, TcpConnect) and event.ok) or isinstance(event, SmtpLine):
            record.connected = True
        if isinstance(event, SmtpLine) and record.first_line is None:
            record.first_line = (event.direction, event.data, event.sender, event.receiver)
        client, server = _peer_names(event)
        by_client = event.side == Side.CLIENT
        if client and server and (not record.client or (by_client and not record.named_by_client)):
            record.client, record.server, record.named_by_client = client, server, by_client

    def _record(self, connection: str, event: Event) -> _Record:
        record = self._records.get(connection)
        if record is None:
            record = self._records[connection] = _Record(len(self._records), event.time)
        return record

    def _note_ends(self, event: TcpConnect) -> None:
        ends = (event.src, event.dst)
        if event.side == Side.SERVER:
            self._server_ends[ends] = event.session
            address = _address_of(event.src)
            if self._world_addresses and address not in self._world_addresses:
                self._outside.add(event.session)
            client = self._client_ends.get(ends)
        else:
            self._client_ends[ends] = event.session
            client = event.session
        server = self._server_ends.get(ends)
        if client and server and client != server:
            self._join(server, client)

    def _join(self, server: str, client: str) -> None:
        """Record a legacy server session under its client's id from now on, merging."""
        if server in self._alias or server == client:
            return
        self._alias[server] = client
        old = self._records.pop(server, None)
        if old is None:
            return
        into = self._records.get(client)
        if into is None:
            self._records[client] = old
            return
        into.order = min(into.order, old.order)
        into.sides |= old.sides
        into.started = min(into.started, old.started)
        into.ended = max(into.ended, old.ended)
        into.connected = into.connected or old.connected
        if not into.named_by_client and old.client:
            into.client, into.server = into.client or old.client, into.server or old.server
        into.events = sorted([*into.events, *old.events], key=lambda e: e.seq)
        self._outside.discard(server)

    def settle(self) -> None:
        """The whole trace is in: join legacy one-sided sessions by their first SMTP line.

        Only for traces in which no session was recorded by both ends (files from before the
        ends shared an id); in any later trace a one-sided server session is from outside.
        """
        records = self._records
        if any(len(r.sides) == 2 for r in records.values()):
            return
        clients = [s for s, r in records.items() if r.sides == {Side.CLIENT} and r.first_line]
        for server, record in sorted(records.items(), key=lambda item: item[1].order):
            if record.sides != {Side.SERVER} or record.first_line is None:
                continue
            match = next((c for c in clients if records[c].first_line == record.first_line), None)
            if match is not None:
                clients.remove(match)
                self._join(server, match)

    # ------------------------------------------------------------------ asking

    def connection(self, session: str) -> str:
        """The id the trace's client gave this session's connection (its own id, mostly)."""
        return self._alias.get(session, session)

    def seen_by_client(self, session: str) -> bool:
        """A world client recorded this connection (so a server's record of it is a copy)."""
        record = self._records.get(self.connection(session))
        return record is not None and Side.CLIENT in record.sides

    def known_from_outside(self, session: str) -> bool:
        """The server saw it come from an address no host of the world has (known at connect)."""
        return self.connection(session) in self._outside and not self.seen_by_client(session)

    def names(self, session: str) -> tuple[str, str]:
        """(client, server) of the session as far as the trace has named them."""
        record = self._records.get(self.connection(session))
        return (record.client, record.server) if record else ("", "")

    def sessions(self) -> tuple[Session, ...]:
        """Every session so far, in the order each first appeared."""
        ordered = sorted(self._records.items(), key=lambda item: item[1].order)
        return tuple(
            Session(
                id=session,
                client=r.client,
                server=r.server,
                sides=frozenset(r.sides),
                started=r.started,
                ended=r.ended,
                connected=r.connected,
                events=tuple(r.events),
            )
            for session, r in ordered
        )


def session_book(events: Iterable[Event], *, keep_events: bool = False) -> SessionBook:
    """A book folded over a whole trace, legacy one-sided sessions settled."""
    book = SessionBook(keep_events=keep_events)
    for event in events:
        book.add(event)
    book.settle()
    return book


def sessions(events: Iterable[Event]) -> tuple[Session, ...]:
    """One Session per connection of the trace, in the order they began."""
    return session_book(events, keep_events=True).sessions()


def sessions_from_outside(events: Iterable[Event]) -> tuple[Session, ...]:
    """Sessions only a server recorded: a learner's own client talking to the world."""
    return tuple(s for s in sessions(events) if s.from_outside)
