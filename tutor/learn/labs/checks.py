"""The lab checks: each requirement kind graded against the world's real state.

A check reads only what the run handle offers (``state``: mailboxes on disk, the queue, the
mail log, hosts and ports; ``trace``: what crossed the wire, folded by ``tutor.story``) and
asks the world's DNS server on the wire like dig would. It never trusts what the student says.
Every check answers: passed or not, a specific message (expected vs got), and what it looked
at. A check that breaks says so as a failed requirement, never as an exception: `lab check`
always answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tutor.learn.labs.model import (
    AnyRequirement,
    CommandPattern,
    DnsAnswerRequirement,
    DnsQueryRequirement,
    LogRequirement,
    MailboxRequirement,
    QueueRequirement,
    SessionRequirement,
)
from tutor.learn.labs.reach import reachable
from tutor.story import Exchange, Prompt, Session, exchanges, sessions_from_outside
from tutor.trace import DnsQuery, Event, Side, TcpConnect, TlsHandshake

if TYPE_CHECKING:
    from tutor.run import MailboxMessage, RunHandle


@dataclass(frozen=True)
class CheckResult:
    """One requirement's verdict, as `lab check` prints it and `--json` writes it."""

    id: str
    text: str
    passed: bool
    message: str
    looked_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.id,
            "text": self.text,
            "status": "pass" if self.passed else "fail",
            "message": self.message,
            "looked_at": self.looked_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            id=str(data["name"]),
            text=str(data.get("text", "")),
            passed=data.get("status") == "pass",
            message=str(data.get("message", "")),
            looked_at=str(data.get("looked_at", "")),
        )


@dataclass
class CheckContext:
    """What the checks of one lab world share: the DNS questions the checks asked themselves."""

    own_query_ids: set[int] = field(default_factory=set)


async def check_all(
    requirements: Sequence[AnyRequirement], run: RunHandle, context: CheckContext | None = None
) -> list[CheckResult]:
    """Every requirement checked, in order; a check that breaks is a failed requirement."""
    context = context or CheckContext()
    results = []
    for requirement in requirements:
        try:
            results.append(await check(requirement, run, context))
        except Exception as exc:  # always answer: a broken check is reported, not raised
            results.append(
                CheckResult(
                    requirement.id,
                    requirement.text,
                    False,
                    f"the check itself failed ({type(exc).__name__}: {exc}); please report it",
                    "",
                )
            )
    return results


async def check(requirement: AnyRequirement, run: RunHandle, context: CheckContext) -> CheckResult:
    if isinstance(requirement, MailboxRequirement):
        passed, message, looked = check_mailbox(requirement, run)
    elif isinstance(requirement, SessionRequirement):
        passed, message, looked = check_session(requirement, run)
    elif isinstance(requirement, DnsAnswerRequirement):
        passed, message, looked = await check_dns_answer(requirement, run, context)
    elif isinstance(requirement, DnsQueryRequirement):
        passed, message, looked = check_dns_query(requirement, run, context)
    elif isinstance(requirement, LogRequirement):
        passed, message, looked = check_log(requirement, run)
    elif isinstance(requirement, QueueRequirement):
        passed, message, looked = check_queue(requirement, run)
    else:  # pragma: no cover - the loader builds only the kinds above
        raise TypeError(f"no check for {type(requirement).__name__}")
    return CheckResult(requirement.id, requirement.text, passed, message, looked)


Verdict = tuple[bool, str, str]  # passed, message, what was looked at


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# --------------------------------------------------------------------------- mailbox

_BY = re.compile(r"\bby\s+(\S+)", re.I)
_WITH = re.compile(r"\bwith\s+(\S+)", re.I)


def _newest_received(message: MailboxMessage) -> tuple[str, str]:
    """(by host, with protocol) of the topmost Received header: the last hop's own record."""
    found = message.message.get_all("Received") or []
    if not found:
        return "", ""
    text = " ".join(str(found[0]).split())
    by = _BY.search(text)
    with_ = _WITH.search(text)
    return (by.group(1).rstrip(";") if by else ""), (with_.group(1) if with_ else "")


def _mailbox_mismatches(req: MailboxRequirement, message: MailboxMessage) -> list[str]:
    problems = []
    if req.subject and _norm(message.subject) != _norm(req.subject):
        got = f'"{message.subject}"' if message.subject else "no Subject"
        problems.append(f'Subject "{req.subject}" expected, got {got}')
    for name, wanted in req.headers:
        values = [str(v) for v in message.message.get_all(name) or []]
        if not any(_norm(wanted) in _norm(v) for v in values):
            got = f'"{values[0]}"' if values else f"no {name} header"
            problems.append(f'{name} containing "{wanted}" expected, got {got}')
    if req.body_contains:
        body = message.message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        if _norm(req.body_contains) not in _norm(text):
            problems.append(f'a body containing "{req.body_contains}" expected')
    by, with_ = _newest_received(message)
    if req.received_by and by.casefold() != req.received_by.casefold():
        problems.append(
            f"arrival through {req.received_by} expected, but it arrived through {by or '?'}"
        )
    if req.received_with and with_.upper() != req.received_with.upper():
        how = "over TLS" if req.received_with.upper().startswith("ESMTPS") else ""
        problems.append(
            f"arrival with {req.received_with}{' (' + how + ')' if how else ''} expected, but "
            f"its Received header says with {with_ or '?'}"
            + (" (in clear, no TLS)" if with_.upper() in ("ESMTP", "SMTP") else "")
        )
    return problems


def check_mailbox(req: MailboxRequirement, run: RunHandle) -> Verdict:
    root = run.state.info.mailbox_root
    messages = [
        m
        for m in run.state.mailboxes().get(req.recipient, [])
        if req.folder == "any" or m.folder == req.folder
    ]
    where = "" if req.folder == "any" else f" ({req.folder})"
    looked = f"the Maildir of {req.recipient}{where}: {root / req.recipient}"
    if not messages:
        return False, f"no message has arrived for {req.recipient} yet", looked
    checked = [(m, _mailbox_mismatches(req, m)) for m in messages]
    for message, problems in reversed(checked):
        if not problems:
            by, with_ = _newest_received(message)
            route = f", received by {by} with {with_}" if by else ""
            return True, f'found "{message.subject}" ({message.path.name}{route})', looked
    # The closest miss: fewest problems, the newest of those.
    message, problems = min(reversed(checked), key=lambda item: len(item[1]))
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}"
    return (
        False,
        f"{count} for {req.recipient}, none as asked; the closest ({message.path.name}): "
        + "; ".join(problems),
        looked,
    )


# --------------------------------------------------------------------------- session


@dataclass(frozen=True)
class _Tried:
    """How far one session got through a requirement's commands."""

    session: Session
    exchanges: tuple[Exchange, ...]
    matched: int  # patterns matched in order
    position: int  # index into exchanges after the last match
    tls_problem: str


def _verb(exchange: Exchange) -> str:
    return "." if exchange.prompt is Prompt.CONTENT else exchange.verb


def _said(exchange: Exchange) -> str:
    """A command and its reply in a few words: 'RCPT TO:<x@y> → 554 5.7.1 ...'."""
    command = "the message content" if exchange.prompt is Prompt.CONTENT else exchange.command
    reply = exchange.reply[-1] if exchange.reply else "no reply"
    return f"{command} → {reply}"


def _brief(exchange: Exchange) -> str:
    word = "message" if exchange.prompt is Prompt.CONTENT else exchange.verb
    return f"{word} → {exchange.code if exchange.code is not None else 'no reply'}"


def _matched(found: Sequence[Exchange], patterns: Sequence[CommandPattern]) -> list[Exchange]:
    """The exchanges that matched the patterns, in order (the session matched them all)."""
    hits, position = [], 0
    for pattern in patterns:
        for i in range(position, len(found)):
            if _verb(found[i]) == pattern.verb and pattern.code_matches(found[i].code):
                hits.append(found[i])
                position = i + 1
                break
    return hits


def _service_of(session: Session, ports: dict[int, str]) -> str:
    for event in session.events:
        if isinstance(event, TcpConnect) and event.side == Side.SERVER:
            port = event.dst.rsplit(":", 1)[-1]
            return ports.get(int(port), "") if port.isdigit() else ""
    return ""


def _tls_problem(session: Session, matched: Sequence[Exchange], want_tls: bool) -> str:
    """Why the matched commands were not sent as the requirement asks ("" when they were).

    tls = true: a handshake succeeded and every matched command from MAIL on (or, without
    MAIL, after STARTTLS) went inside TLS; tls = false: every matched command went in clear.
    """
    if not want_tls:
        inside = [e for e in matched if e.encrypted]
        if inside:
            return f"{_verb(inside[0])} was sent inside TLS; the lab asks for it in clear"
        return ""
    if not any(isinstance(e, TlsHandshake) and e.ok for e in session.events):
        return "no TLS: the session never completed STARTTLS"
    verbs = [_verb(e) for e in matched]
    if "MAIL" in verbs:
        wanted = matched[verbs.index("MAIL") :]
    elif "STARTTLS" in verbs:
        wanted = matched[verbs.index("STARTTLS") + 1 :]
    else:
        wanted = matched
    clear = [e for e in wanted if not e.encrypted]
    if clear:
        return f"{_verb(clear[0]) or 'a line'} was sent in clear, before TLS"
    return ""


def _try(
    session: Session, found: tuple[Exchange, ...], patterns: Sequence[CommandPattern]
) -> _Tried:
    matched, position = 0, 0
    for pattern in patterns:
        hit = next(
            (
                i
                for i in range(position, len(found))
                if _verb(found[i]) == pattern.verb and pattern.code_matches(found[i].code)
            ),
            None,
        )
        if hit is None:
            break
        matched, position = matched + 1, hit + 1
    return _Tried(session, found, matched, position, "")


def check_session(req: SessionRequirement, run: RunHandle) -> Verdict:
    events = run.trace.events
    info = run.state.info
    host = next((h for h in info.hosts if h.name == req.host), None)
    ports = {port: service for service, port in (host.ports.items() if host else ())}
    on = f" on its {req.service} port" if req.service else ""
    looked = f"your sessions with {req.host}{on}, as the server recorded them"
    candidates = [
        s
        for s in sessions_from_outside(events)
        if s.server == req.host and (not req.service or _service_of(s, ports) == req.service)
    ]
    if not candidates:
        return False, f"no session of yours with {req.host}{on} has been seen yet", looked
    tries = []
    for session in candidates:
        found = tuple(e for e in exchanges(events, session.id) if e.prompt is not Prompt.GREETING)
        tried = _try(session, found, req.commands)
        if tried.matched == len(req.commands) and req.tls is not None:
            problem = _tls_problem(session, _matched(found, req.commands), req.tls)
            tried = _Tried(session, found, tried.matched, tried.position, problem)
        tries.append(tried)
    complete = [t for t in tries if t.matched == len(req.commands) and not t.tls_problem]
    if complete:
        best = complete[-1]
        secure = {True: ", inside TLS", False: ", in clear", None: ""}[req.tls]
        return (
            True,
            f"session {best.session.id} at {_clock(best.session.started)}: "
            + ", ".join(_brief(e) for e in _matched(best.exchanges, req.commands))
            + secure,
            looked,
        )
    best = max(reversed(tries), key=lambda t: (t.matched, t.session.started))
    who = f"your closest session ({best.session.id} at {_clock(best.session.started)})"
    if best.matched == len(req.commands):
        return False, f"{who} has every command, but {best.tls_problem}", looked
    missing = req.commands[best.matched]
    after = f" after {req.commands[best.matched - 1].word}" if best.matched else ""
    same = [e for e in best.exchanges[best.position :] if _verb(e) == missing.verb]
    if same:
        return (
            False,
            f"{who}: expected {missing}{after}, got {_said(same[0])}",
            looked,
        )
    sent = [_verb(e) for e in best.exchanges if _verb(e)]
    return (
        False,
        f"{who}: expected {missing}{after}, but it never came; it sent "
        + (", ".join(sent) if sent else "no command"),
        looked,
    )


# --------------------------------------------------------------------------- DNS


def _dns_name(name: str) -> str:
    return name.rstrip(".").casefold()


def _learner_queries(events: Sequence[Event], context: CheckContext) -> list[DnsQuery]:
    """Questions the world's DNS server got that no world host and no check asked."""
    world_asked = {
        (_dns_name(e.qname), e.qtype, e.query_id)
        for e in events
        if isinstance(e, DnsQuery) and e.side == Side.CLIENT
    }
    return [
        e
        for e in events
        if isinstance(e, DnsQuery)
        and e.side == Side.SERVER
        and (_dns_name(e.qname), e.qtype, e.query_id) not in world_asked
        and e.query_id not in context.own_query_ids
    ]


def check_dns_query(req: DnsQueryRequirement, run: RunHandle, context: CheckContext) -> Verdict:
    info = run.state.info
    looked = f"the questions the lab's DNS server ({info.dns_name}) was asked"
    asked = _learner_queries(run.trace.events, context)
    wanted = [q for q in asked if _dns_name(q.qname) == req.name and q.qtype == req.rdtype]
    if wanted:
        first = wanted[0]
        return True, f"asked {req.name} {req.rdtype} at {_clock(first.time)}", looked
    message = f"the lab's DNS has not been asked for the {req.rdtype} records of {req.name} yet"
    if asked:
        seen = sorted({f"{_dns_name(q.qname)} {q.qtype}" for q in asked})
        message += f" (it was asked: {', '.join(seen[:6])})"
    return False, message, looked


def _rdata(text: str) -> str:
    return " ".join(part.rstrip(".") for part in text.casefold().split())


async def check_dns_answer(
    req: DnsAnswerRequirement, run: RunHandle, context: CheckContext
) -> Verdict:
    import dns.asyncquery
    import dns.message
    import dns.rcode

    info = run.state.info
    address = reachable(info, info.dns_address)
    looked = f"dig @{address} -p {info.dns_port} {req.name} {req.rdtype} (asked at check time)"
    query = dns.message.make_query(req.name, req.rdtype)
    context.own_query_ids.add(query.id)
    response = await dns.asyncquery.udp(query, address, port=info.dns_port, timeout=3)
    rcode = dns.rcode.to_text(response.rcode())
    records = [
        _rdata(rdata.to_text())
        for rrset in response.answer
        if rrset.name.to_text().rstrip(".").casefold() == req.name
        for rdata in rrset
    ]
    shown = ", ".join(records) if records else "no records"
    if rcode != req.rcode:
        return False, f"the DNS answers {rcode} ({shown}); expected {req.rcode}", looked
    missing = [r for r in req.contains if _rdata(r) not in records]
    present = [r for r in req.absent if _rdata(r) in records]
    if missing:
        return False, f"expected {'; '.join(missing)} in the answer, got {shown}", looked
    if present:
        return False, f"the answer still holds {'; '.join(present)} (got {shown})", looked
    return True, f"the DNS answers {rcode}: {shown}", looked


# --------------------------------------------------------------------------- mail log and queue


def _field_text(value: Any) -> str:
    return str(value).casefold()


def check_log(req: LogRequirement, run: RunHandle) -> Verdict:
    records = [r for r in run.state.log_records() if not req.host or r.get("host") == req.host]
    wanted = ", ".join(f"{k}={v}" for k, v in req.fields)
    looked = f"the mail log ({len(records)} records{' of ' + req.host if req.host else ''})"
    for record in reversed(records):
        if all(_field_text(record.get(k, "")) == _field_text(v) for k, v in req.fields):
            return True, f"found: {record.get('line', '')}", looked

    # The closest record: most fields matching, newest first.
    def score(record: dict[str, Any]) -> int:
        return sum(_field_text(record.get(k, "")) == _field_text(v) for k, v in req.fields)

    close = max(reversed(records), key=score, default=None)
    message = f"the mail log has no record with {wanted} yet"
    if close is not None and score(close) > 0:
        wrong = [
            f"{k}={close.get(k, '(none)')} (expected {v})"
            for k, v in req.fields
            if _field_text(close.get(k, "")) != _field_text(v)
        ]
        message += f"; the closest: {close.get('line', '')} — " + ", ".join(wrong)
    return False, message, looked


def check_queue(req: QueueRequirement, run: RunHandle) -> Verdict:
    entries = run.state.queue()
    looked = f"the sender's queue ({len(entries)} message{'s' if len(entries) != 1 else ''})"
    if req.empty is not None and not req.recipient:
        if req.empty == (not entries):
            return True, "the queue is empty" if req.empty else "the queue holds mail", looked
        if req.empty:
            first = entries[0]
            return False, f"the queue still holds {first.queue_id} ({first.state})", looked
        return False, "the queue is empty", looked
    for entry in entries:
        for address, _status, reply in entry.recipients:
            if address == req.recipient:
                if entry.state == req.state:
                    return True, f"{entry.queue_id} for {address} is {entry.state}", looked
                why = f" ({reply})" if reply else ""
                return (
                    False,
                    f"{entry.queue_id} for {address} is {entry.state}{why}; expected {req.state}",
                    looked,
                )
    return False, f"no message for {req.recipient} in the queue", looked
