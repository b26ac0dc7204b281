"""The two sides of each step: which server-side record is the twin of which client-side one.

Both ends record every SMTP line, TCP connect and close, TLS handshake and AUTH result, and
the resolver and the DNS server both record every question and answer. The pairing is read
from what the trace states, in one place for every view:

* a connection's records pair by (session, kind, direction, n-th occurrence): the 3rd line the
  client sent in session s2 is the 3rd line the server received in s2 (both ends share the
  session id; see ``tutor.story.session``);
* DNS records pair by the question and the DNS message id that both ends see (kind, name,
  type, id, n-th occurrence); an answer from the resolver's cache has no server side.

A record with no twin was seen by one end only: a failed connect, a learner's nc session, a
cached DNS answer, the last line of a connection that broke.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from tutor.story.session import CONNECTION_RECORDS, SessionBook, session_book
from tutor.trace import DnsAnswer, DnsQuery, Event, Side, SmtpLine

# Every kind of record both ends of a step make.
TWO_ENDED_KINDS = (*CONNECTION_RECORDS, DnsQuery, DnsAnswer)

CACHE_TRANSPORT = "cache"  # what the resolver writes as the transport of a cached answer


def is_server_copy(event: Event) -> bool:
    """A record both ends make, as the server made it.

    Views show the side that acted (the client) and offer the server's copy on request, so
    one step is one line.
    """
    return event.side == Side.SERVER and isinstance(event, TWO_ENDED_KINDS)


def dns_question(event: DnsQuery | DnsAnswer) -> tuple[str, str, int]:
    """The question a DNS record is about, as both ends see it: (name, type, message id)."""
    return event.qname.lower().rstrip("."), event.qtype.upper(), event.query_id


def step_key(event: Event, book: SessionBook) -> Hashable | None:
    """What a record and its twin have in common (None for records only one end makes)."""
    if event.side not in (Side.CLIENT, Side.SERVER):
        return None
    if isinstance(event, DnsQuery | DnsAnswer):
        if event.transport == CACHE_TRANSPORT:
            return None
        return ("dns", event.type, *dns_question(event))
    if not event.session or not isinstance(event, CONNECTION_RECORDS):
        return None
    connection = book.connection(event.session)
    if isinstance(event, SmtpLine):
        return (connection, event.type, str(event.direction))
    return (connection, event.type)


@dataclass(frozen=True)
class StepSides:
    """One step seen from both ends; None where that end made no record of it."""

    client: Event | None
    server: Event | None


class SidePairs:
    """The twins of a sequence of events, by index into it (see ``pair_sides``)."""

    def __init__(self, events: Sequence[Event], twins: dict[int, int]) -> None:
        self._events = events
        self._twins = twins

    def twin_index(self, index: int) -> int | None:
        """The index of the other end's record of the same step, if that end made one."""
        return self._twins.get(index)

    def twin(self, index: int) -> Event | None:
        found = self._twins.get(index)
        return self._events[found] if found is not None else None

    def steps(self) -> tuple[StepSides, ...]:
        """Every two-ended step, in the order of its first record, with both its records."""
        out: list[StepSides] = []
        for index, event in enumerate(self._events):
            if not isinstance(event, TWO_ENDED_KINDS) or event.side not in (
                Side.CLIENT,
                Side.SERVER,
            ):
                continue
            other = self._twins.get(index)
            if other is not None and other < index:
                continue  # already listed with its twin
            peer = self._events[other] if other is not None else None
            if event.side == Side.CLIENT:
                out.append(StepSides(event, peer))
            else:
                out.append(StepSides(peer, event))
        return tuple(out)


def pair_sides(events: Sequence[Event]) -> SidePairs:
    """Pair every client-side record with its server-side twin, as the trace states them."""
    book = session_book(events)
    seen: dict[tuple[Side, Hashable], int] = defaultdict(int)
    waiting: dict[tuple[Side, Hashable, int], int] = {}
    twins: dict[int, int] = {}
    for index, event in enumerate(events):
        key = step_key(event, book)
        if key is None:
            continue
        side = Side(event.side)
        other = Side.SERVER if side == Side.CLIENT else Side.CLIENT
        nth = seen[side, key]
        seen[side, key] = nth + 1
        found = waiting.pop((other, key, nth), None)
        if found is None:
            waiting[side, key, nth] = index
        else:
            twins[index], twins[found] = found, index
    return SidePairs(events, twins)


class DnsQuestions:
    """Which server-side DNS records copy a question a world client asked, as events arrive.

    For a view that prints while the run happens: the resolver records its question before
    the DNS server can receive it, so when the server's record arrives the client's question
    is already known. A question nobody in the world asked (a learner's dig) has no copy.
    """

    def __init__(self) -> None:
        self._asked: dict[tuple[str, str, int], int] = defaultdict(int)
        self._copied: dict[tuple[str, tuple[str, str, int]], int] = defaultdict(int)

    def is_copy(self, event: DnsQuery | DnsAnswer) -> bool:
        """Note ``event`` (once, in trace order); True if it is a server's copy of a client's."""
        question = dns_question(event)
        if event.side != Side.SERVER:
            if isinstance(event, DnsQuery) and event.transport != CACHE_TRANSPORT:
                self._asked[question] += 1
            return False
        nth = self._copied[event.type, question]
        self._copied[event.type, question] = nth + 1
        return nth < self._asked[question]
