"""Generated questions, against every shipped scenario: asked only when the run allows, and right.

Every template meets every shipped scenario on the whole run and at three stops part-way
through it (a lesson may ask at a narration stop, with only the events so far). Either the
template declines (None) or its right answer equals what the trace says, checked here by a
plain reading of the events (the lines, the DNS answers, the verdicts, the queue changes),
never through tutor.story.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

import pytest

from tutor.learn.questions import (
    Explanation,
    MultipleChoice,
    NumberAnswer,
    PutInOrder,
    Question,
    RfcRef,
    SingleChoice,
    TypeAnswer,
    grade,
)
from tutor.learn.templates import TEMPLATES, generate
from tutor.scenario import shipped_scenarios
from tutor.trace import (
    Bounce,
    Delivery,
    Direction,
    DnsAnswer,
    Event,
    PolicyVerdict,
    QueueChange,
    RecipientResult,
    ScenarioStarted,
    Side,
    SmtpLine,
    Stage,
    TcpConnect,
    TlsHandshake,
)

SCENARIOS = [path.stem for path in shipped_scenarios()]

# Every RFC section an explanation may cite: each was read in the RFC (or a verbatim quote of
# it) before it went into a template. A new citation is added here only once it has been read.
VERIFIED_SECTIONS = {
    (5321, "2.2.1"),
    (5321, "3.2"),
    (5321, "3.3"),
    (5321, "4.1.1.3"),
    (5321, "4.1.1.4"),
    (5321, "4.1.4"),
    (5321, "4.2.1"),
    (5321, "4.2.5"),
    (5321, "4.4"),
    (5321, "4.5.4"),
    (5321, "4.5.4.1"),
    (5321, "4.5.5"),
    (5321, "5.1"),
    (3207, "4"),
    (3207, "4.1"),
    (3207, "4.2"),
    (3207, "6"),
    (1870, "3"),
    (1870, "4"),
    (3463, "2"),
    *((3463, f"3.{n}") for n in range(2, 9)),
    (3464, "2.3.3"),
    (3464, "2.3.4"),
    (7208, "2.4"),
    (7208, "2.6"),
    (7208, "4.6.2"),
    (7489, "3.1"),
    (7489, "6.3"),
    (7489, "6.6.3"),
    (5322, "3.6.7"),
    (5782, "2.1"),
}

# Scenarios each template must ask about, and some it must not (where there is nothing to ask).
APPLIES: dict[str, tuple[set[str], set[str]]] = {
    "mx-first-connect": ({"hello", "mx-fallback", "mx-down"}, {"greylist", "no-starttls"}),
    "mx-address-lookup": ({"hello", "greylist", "spf-fail"}, set()),
    "ehlo-keywords": ({"hello", "no-starttls"}, set()),
    "ehlo-size": ({"hello", "too-big"}, set()),
    "session-order": ({"hello"}, set()),
    "starttls-keyword": ({"hello", "greylist"}, set()),
    "ehlo-again": ({"hello", "no-starttls"}, set()),
    "first-command-in-tls": ({"hello"}, set()),
    "mx-hop-encrypted": ({"hello", "no-starttls"}, {"mx-down", "dnsbl-listed"}),
    "tls-version": ({"hello"}, set()),
    "rcpt-reply": ({"hello", "unknown-user", "greylist"}, set()),
    "submission-rcpt-reply": ({"hello", "greylist", "mx-down"}, set()),
    "rcpt-reply-line": ({"unknown-user", "dnsbl-listed", "spf-fail"}, set()),
    "rcpt-accepted-count": ({"partial", "unknown-user"}, {"hello", "greylist"}),
    "data-final-reply": ({"hello", "dmarc-reject"}, set()),
    "received-top": ({"hello", "gateway", "dkim-tamper"}, {"user-unknown-bounce", "mx-down"}),
    "spf-result": ({"spf-pass", "spf-fail", "dmarc-reject"}, {"hello", "greylist"}),
    "dmarc-unaligned": ({"dmarc-reject", "dmarc-quarantine", "dkim-tamper"}, {"gateway"}),
    "dmarc-disposition": ({"dmarc-reject", "dmarc-quarantine", "dkim-tamper"}, {"gateway"}),
    "dnsbl-query": ({"dnsbl-listed", "gateway"}, {"hello"}),
    "retry-gap": ({"greylist", "mx-outage", "mx-down", "partial"}, {"hello", "unknown-user"}),
    "attempt-count": ({"greylist", "mx-outage", "mailbox-full", "mx-down"}, {"hello"}),
    "dsn-status": ({"unknown-user", "user-unknown-bounce", "too-big", "mx-down"}, {"hello"}),
    "dsn-action": ({"mx-down", "spf-fail"}, {"hello", "greylist"}),
    "dsn-null-sender": ({"user-unknown-bounce", "dmarc-reject", "mx-down"}, {"hello", "greylist"}),
}

# The lifecycle stages the templates must cover between them ("retry" is the queue's stage).
STAGES = {
    Stage.DNS,
    Stage.EHLO,
    Stage.STARTTLS,
    Stage.ENVELOPE,
    Stage.DATA,
    Stage.FILTERING,
    Stage.QUEUE,
    Stage.BOUNCE,
}


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Event]]:
    """Every shipped scenario, run once for the whole module (a few seconds in all)."""
    from tutor.run import open_run

    root = tmp_path_factory.mktemp("template-runs")

    async def run_all() -> dict[str, list[Event]]:
        found = {}
        for path in shipped_scenarios():
            async with open_run(str(path), keep=root / path.stem) as run:
                await run.finish()
                found[path.stem] = list(run.trace.events)
        return found

    return asyncio.run(run_all())


# --------------------------------------------------------------------------- plain readings


def lines(events: Sequence[Event], session: str = "") -> list[SmtpLine]:
    """The client's record of SMTP lines (of one session if given), in order."""
    return [
        e
        for e in events
        if isinstance(e, SmtpLine)
        and e.side == Side.CLIENT
        and (not session or e.session == session)
    ]


def reply_after(events: Sequence[Event], line: SmtpLine) -> list[str]:
    """The reply lines that came back after ``line`` (the world's clients do not pipeline)."""
    reply: list[str] = []
    for other in lines(events, line.session):
        if other.seq <= line.seq or other.direction != Direction.SERVER_TO_CLIENT:
            continue
        reply.append(other.text)
        if not re.match(r"^\d{3}-", other.text):
            break
    return reply


def commands(events: Sequence[Event], client: str, server: str) -> list[SmtpLine]:
    return [
        e
        for e in lines(events)
        if e.direction == Direction.CLIENT_TO_SERVER
        and e.sender == client
        and e.receiver == server
        and not e.is_payload
    ]


def first_ehlo_reply(events: Sequence[Event], client: str, server: str) -> list[str]:
    ehlo = next(c for c in commands(events, client, server) if c.text.startswith("EHLO"))
    return reply_after(events, ehlo)


def keywords(reply: list[str]) -> set[str]:
    return {line[4:].split()[0].upper() for line in reply[1:] if line[4:].strip()}


def roles(events: Sequence[Event]) -> dict[str, str]:
    started = next(e for e in events if isinstance(e, ScenarioStarted))
    return {h.name: h.role for h in started.hosts}


def grab(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match.groups()


def right_texts(question: Question) -> set[str]:
    answer = question.answer
    if isinstance(answer, SingleChoice):
        return {answer.right.text}
    assert isinstance(answer, MultipleChoice)
    return {c.text for c in answer.right}


def wrong_texts(question: Question) -> set[str]:
    answer = question.answer
    assert isinstance(answer, SingleChoice | MultipleChoice)
    return {c.text for c in answer.choices if not c.correct}


def only_right(question: Question) -> str:
    (text,) = right_texts(question)
    return text


# --------------------------------------------------------------------------- oracles


def check_mx_first(events: Sequence[Event], q: Question) -> None:
    host, domain, listed = grab(
        r"^(\S+) asked the DNS for the MX records of (\S+) and got, in "
        r"this order: (.+)\. Which",
        q.prompt,
    )
    records = [(int(p), x) for p, x in re.findall(r"MX (\d+) (\S+?)(?:,|$)", listed)]
    answer = next(
        e
        for e in events
        if isinstance(e, DnsAnswer)
        and e.side == Side.CLIENT
        and e.host == host
        and e.qtype == "MX"
        and e.qname.rstrip(".") == domain
        and [(int(t.split()[-2]), t.split()[-1].rstrip(".")) for t in e.answer] == records
    )
    exchanges = {x for _, x in records}
    connect = next(
        e
        for e in events
        if isinstance(e, TcpConnect)
        and e.side == Side.CLIENT
        and e.host == host
        and e.seq > answer.seq
        and e.dst_host in exchanges
    )
    assert only_right(q) == connect.dst_host
    assert dict((x, p) for p, x in records)[connect.dst_host] == min(p for p, _ in records)


def check_mx_address(events: Sequence[Event], q: Question) -> None:
    host, exchange, address = grab(
        r"sent (\S+) to (\S+), and it then connected to (\S+)\. ", q.prompt
    )
    connect = next(
        e
        for e in events
        if isinstance(e, TcpConnect)
        and e.side == Side.CLIENT
        and e.host == host
        and e.dst_host == exchange
        and e.dst.rsplit(":", 1)[0] == address
    )
    qtype = grab(r"^the (A|AAAA) record of (\S+)$", only_right(q))
    assert qtype[1] == exchange
    assert any(
        isinstance(e, DnsAnswer)
        and e.side == Side.CLIENT
        and e.seq < connect.seq
        and e.qtype == qtype[0]
        and e.qname.rstrip(".") == exchange
        and any(t.split()[-1] == address for t in e.answer)
        for e in events
    )


def check_ehlo_keywords(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"^(\S+) greeted (\S+) with `EHLO", q.prompt)
    offered = keywords(first_ehlo_reply(events, client, server))
    assert right_texts(q) <= offered
    assert not wrong_texts(q) & offered


def check_ehlo_size(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"EHLO reply to (\S+), (\S+) announced", q.prompt)
    reply = first_ehlo_reply(events, client, server)
    (size,) = [int(line.split()[1]) for line in reply if line[4:].upper().startswith("SIZE ")]
    assert isinstance(q.answer, NumberAnswer) and q.answer.value == size


def check_session_order(events: Sequence[Event], q: Question) -> None:
    (session,) = grab(r"commands of session (\S+) ", q.prompt)
    sent = [
        e.text.split(" ", 1)[0].split(":", 1)[0].upper()
        for e in lines(events, session)
        if e.direction == Direction.CLIENT_TO_SERVER and not e.is_payload
    ]
    assert isinstance(q.answer, PutInOrder)
    assert [i.text for i in q.answer.items] == list(dict.fromkeys(sent))


def check_starttls_keyword(events: Sequence[Event], q: Question) -> None:
    server, client = grab(r"^(\S+) answered `EHLO .*` with .* told (\S+) it could", q.prompt)
    offered = keywords(first_ehlo_reply(events, client, server))
    assert only_right(q) == "STARTTLS" and "STARTTLS" in offered
    assert wrong_texts(q) <= offered


def check_ehlo_again(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"^After STARTTLS, (\S+) sent `EHLO [^`]*` to (\S+) a second", q.prompt)
    sent = [c for c in commands(events, client, server)]
    verbs = [c.text.split()[0] for c in sent]
    at = verbs.index("STARTTLS")
    assert "EHLO" in verbs[:at] and verbs[at + 1] == "EHLO"
    assert reply_after(events, sent[at])[0].startswith("220")
    assert only_right(q).startswith("TLS started the session afresh")


def check_first_in_tls(events: Sequence[Event], q: Question) -> None:
    server, client = grab(r"handshake with (\S+), which command did (\S+) send", q.prompt)
    first = next(c for c in commands(events, client, server) if c.encrypted)
    assert only_right(q) == first.text.split()[0].split(":")[0].upper()


def check_mx_hop_encrypted(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"^Was the message from (\S+) to (\S+) encrypted", q.prompt)
    payload = next(
        e for e in lines(events) if e.is_payload and e.sender == client and e.receiver == server
    )
    assert roles(events)[server] in ("mx", "gateway")
    if payload.encrypted:
        assert only_right(q).startswith(f"Yes: {client} and {server} upgraded with STARTTLS")
    else:
        assert "STARTTLS" not in keywords(first_ehlo_reply(events, client, server))
        assert only_right(q).startswith(f"No: {server} did not offer STARTTLS")


def check_tls_version(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"^After STARTTLS, (\S+) and (\S+) completed", q.prompt)
    sessions = {c.session for c in commands(events, client, server)}
    handshake = next(
        e
        for e in events
        if isinstance(e, TlsHandshake) and e.side == Side.CLIENT and e.ok and e.session in sessions
    )
    assert isinstance(q.answer, TypeAnswer) and q.answer.expected() == handshake.version


def _rcpt(events: Sequence[Event], q: Question) -> tuple[str, str, list[str]]:
    client, command, server = grab(r"^(\S+) sent `(RCPT TO:<[^>]*>)` to (\S+)\.", q.prompt)
    sent = next(c for c in commands(events, client, server) if c.text == command)
    host_roles = roles(events)
    to_mx = [
        c
        for c in lines(events)
        if c.text.startswith("RCPT TO:") and host_roles.get(c.receiver) in ("mx", "gateway")
    ]
    if to_mx:  # the MX hop is preferred over the submission hop
        assert host_roles[server] in ("mx", "gateway")
    return client, server, reply_after(events, sent)


def check_rcpt_reply(events: Sequence[Event], q: Question) -> None:
    _, _, reply = _rcpt(events, q)
    assert isinstance(q.answer, TypeAnswer) and q.answer.expected() == reply[0][:3]


def check_submission_rcpt_reply(events: Sequence[Event], q: Question) -> None:
    client, command, server = grab(
        r"^(\S+), the author's mail program, sent `(RCPT TO:<[^>]*>)` "
        r"to (\S+)\.",
        q.prompt,
    )
    assert roles(events)[client] == "client"
    sent = next(c for c in commands(events, client, server) if c.text == command)
    assert isinstance(q.answer, TypeAnswer)
    assert q.answer.expected() == reply_after(events, sent)[0][:3]


def check_rcpt_reply_line(events: Sequence[Event], q: Question) -> None:
    _, _, reply = _rcpt(events, q)
    assert only_right(q) == " ".join(reply)


def check_rcpt_count(events: Sequence[Event], q: Question) -> None:
    client, server, listed = grab(
        r"session (\S+) gave (\S+) \d+ recipients? with RCPT TO \((.+)\)\.", q.prompt
    )
    wanted = [f"RCPT TO:<{r}>" for r in listed.split(", ")]
    by_session: dict[str, list[SmtpLine]] = {}
    for c in commands(events, client, server):
        if c.text.startswith("RCPT TO:"):
            by_session.setdefault(c.session, []).append(c)
    sent = next(s for s in by_session.values() if [c.text for c in s] == wanted)
    accepted = sum(1 for c in sent if reply_after(events, c)[0].startswith("2"))
    assert isinstance(q.answer, NumberAnswer) and q.answer.value == accepted


def check_data_reply(events: Sequence[Event], q: Question) -> None:
    client, server = grab(r"^(\S+) sent the message to (\S+) and ended it", q.prompt)
    replies = [
        " ".join(reply)
        for e in lines(events)
        if e.is_payload and e.sender == client and e.receiver == server
        if (reply := reply_after(events, e))
    ]
    refused = [r for r in replies if not r.startswith("2")]
    assert only_right(q) == (refused or replies)[0]


def check_received_top(events: Sequence[Event], q: Question) -> None:
    recipient, count = grab(r"^(\S+)'s copy of the message has (\d+) Received:", q.prompt)
    delivery = next(
        e
        for e in events
        if isinstance(e, Delivery)
        and e.recipient == recipient
        and "Return-Path: <>" not in e.headers_added
    )
    added = [h for h in delivery.headers_added if h.startswith("Received:")]
    payload = next(e for e in lines(events, delivery.session) if e.is_payload)
    header = payload.data.split(b"\r\n\r\n", 1)[0]
    carried = [h for h in header.split(b"\r\n") if h.startswith(b"Received:")]
    assert int(count) == len(added) + len(carried)
    assert added and only_right(q) == delivery.host


def check_spf_result(events: Sequence[Event], q: Question) -> None:
    host, sender = grab(r"^(\S+) checked SPF for the MAIL FROM identity (\S+):", q.prompt)
    verdict = next(
        e
        for e in events
        if isinstance(e, PolicyVerdict)
        and e.check == "spf"
        and e.host == host
        and e.reasons[0] == f"MAIL FROM identity {sender}:"
    )
    assert only_right(q) == verdict.result


def _dmarc_verdict(events: Sequence[Event], host: str) -> PolicyVerdict:
    return next(
        e for e in events if isinstance(e, PolicyVerdict) and e.check == "dmarc" and e.host == host
    )


def check_dmarc_unaligned(events: Sequence[Event], q: Question) -> None:
    host, from_domain = grab(
        r"^DMARC at (\S+) compared the domain of the From: header, (\S+),", q.prompt
    )
    verdict = _dmarc_verdict(events, host)
    unaligned = set()
    for reason in verdict.reasons:
        found = re.match(r"^(DKIM|SPF) (?:d=)?([^\s:]+): (\w+), (.*)$", reason.strip())
        if found and ("NOT aligned" in found[4] or "cannot align" in found[4]):
            unaligned.add((found[1], found[2]))
    picked = {grab(r"^(DKIM|SPF): .* (?:d=)?([^\s=]+) \(", text) for text in right_texts(q)}
    assert picked == unaligned
    assert f"the From: domain {from_domain} itself" in wrong_texts(q)


def check_dmarc_disposition(events: Sequence[Event], q: Question) -> None:
    (host,) = grab(r"^DMARC failed at (\S+) for", q.prompt)
    verdict = _dmarc_verdict(events, host)
    assert verdict.result == "fail"
    delivered = [e for e in events if isinstance(e, Delivery) and e.host == host]
    right = only_right(q)
    if verdict.action == "reject":
        assert right.startswith("It refused") and not delivered
        payload = next(e for e in lines(events) if e.is_payload and e.receiver == host)
        assert reply_after(events, payload)[0].startswith("5")
    elif verdict.action == "quarantine":
        assert "Junk" in right and delivered[0].folder == "Junk"
    else:
        assert "inbox" in right and delivered[0].folder == "INBOX"


def check_dnsbl_query(events: Sequence[Event], q: Question) -> None:
    host, ip, zone = grab(
        r"^(\S+) checked whether the connecting client, (\S+), is on the "
        r"blocklist (\S+)\.",
        q.prompt,
    )
    right = only_right(q)
    assert right == ".".join(reversed(ip.split("."))) + "." + zone
    assert any(
        isinstance(e, DnsAnswer) and e.host == host and e.qname == right + "." and e.qtype == "A"
        for e in events
    )


def check_retry_gap(events: Sequence[Event], q: Question) -> None:
    (queue_id,) = grab(r"deliver message (\S+?)(?: to \S+)? ended for now", q.prompt)
    deferred = [
        e.time
        for e in events
        if isinstance(e, RecipientResult) and e.queue_id == queue_id and e.outcome == "deferred"
    ]
    active = [
        e.time
        for e in events
        if isinstance(e, QueueChange) and e.queue_id == queue_id and e.state == "active"
    ]
    failed = deferred[0]
    retried = next(t for t in active if t > failed)
    assert isinstance(q.answer, NumberAnswer)
    assert abs(q.answer.value - (retried - failed) / 60) < 0.06
    assert q.answer.tolerance >= 1


def check_attempts(events: Sequence[Event], q: Question) -> None:
    queue_id, recipient = grab(r"deliver message (\S+) to (\S+) until", q.prompt)
    tries = [
        e
        for e in events
        if isinstance(e, RecipientResult) and e.queue_id == queue_id and e.recipient == recipient
    ]
    assert any(
        isinstance(e, QueueChange) and e.queue_id == queue_id and e.state == "removed"
        for e in events
    )
    assert isinstance(q.answer, NumberAnswer) and q.answer.value == len(tries)


def _dsn_field(events: Sequence[Event], q: Question, name: str) -> str:
    queue_id, recipient = grab(r"about message (\S+) and its recipient (\S+?)(?:,|\. )", q.prompt)
    bounce = next(e for e in events if isinstance(e, Bounce) and e.queue_id == queue_id)
    return next(
        link.value for link in bounce.links if link.field == name and link.recipient == recipient
    )


def check_dsn_status(events: Sequence[Event], q: Question) -> None:
    assert only_right(q) == _dsn_field(events, q, "Status")


def check_dsn_action(events: Sequence[Event], q: Question) -> None:
    assert only_right(q) == _dsn_field(events, q, "Action")


def check_dsn_sender(events: Sequence[Event], q: Question) -> None:
    queue_id, original = grab(r"DSN about message (\S+) back to (\S+)\.", q.prompt)
    bounce = next(e for e in events if isinstance(e, Bounce) and e.queue_id == queue_id)

    def first_mail(queue: str) -> str:
        result = next(e for e in events if isinstance(e, RecipientResult) and e.queue_id == queue)
        if not result.session:  # delivered locally: the Return-Path virtual(8) wrote
            delivery = [
                e
                for e in events[: events.index(result)]
                if isinstance(e, Delivery) and e.recipient == result.recipient
            ][-1]
            path = next(h for h in delivery.headers_added if h.startswith("Return-Path:"))
            return "MAIL FROM:" + path.split(":", 1)[1].strip()
        return next(c.text for c in lines(events, result.session) if c.text.startswith("MAIL "))

    assert first_mail(bounce.dsn_queue_id).startswith("MAIL FROM:<>")
    assert only_right(q) == "MAIL FROM:<>"
    # The DSN went to the author: the address the submission's MAIL FROM named.
    submitted = next(c.text for c in lines(events) if c.text.startswith("MAIL FROM:<"))
    assert submitted.startswith(f"MAIL FROM:<{original}>")


ORACLES: dict[str, Callable[[Sequence[Event], Question], None]] = {
    "mx-first-connect": check_mx_first,
    "mx-address-lookup": check_mx_address,
    "ehlo-keywords": check_ehlo_keywords,
    "ehlo-size": check_ehlo_size,
    "session-order": check_session_order,
    "starttls-keyword": check_starttls_keyword,
    "ehlo-again": check_ehlo_again,
    "first-command-in-tls": check_first_in_tls,
    "mx-hop-encrypted": check_mx_hop_encrypted,
    "tls-version": check_tls_version,
    "rcpt-reply": check_rcpt_reply,
    "submission-rcpt-reply": check_submission_rcpt_reply,
    "rcpt-reply-line": check_rcpt_reply_line,
    "rcpt-accepted-count": check_rcpt_count,
    "data-final-reply": check_data_reply,
    "received-top": check_received_top,
    "spf-result": check_spf_result,
    "dmarc-unaligned": check_dmarc_unaligned,
    "dmarc-disposition": check_dmarc_disposition,
    "dnsbl-query": check_dnsbl_query,
    "retry-gap": check_retry_gap,
    "attempt-count": check_attempts,
    "dsn-status": check_dsn_status,
    "dsn-action": check_dsn_action,
    "dsn-null-sender": check_dsn_sender,
}


# --------------------------------------------------------------------------- well-formed


def assert_gradable(q: Question) -> None:
    """The right answer scores 1, every distractor less; no two choices read the same."""
    answer = q.answer
    if isinstance(answer, SingleChoice | MultipleChoice):
        texts = [c.text for c in answer.choices]
        assert len(set(texts)) == len(texts), texts
        for choice in answer.choices:
            if not choice.correct:
                assert choice.misconception.strip()
    if isinstance(answer, SingleChoice):
        assert grade(q, answer.right.key).score == 1.0
        for choice in answer.choices:
            if not choice.correct:
                assert grade(q, choice.key).score < 1
    elif isinstance(answer, MultipleChoice):
        right = [c.key for c in answer.right]
        assert grade(q, right).score == 1.0
        for choice in answer.choices:
            if not choice.correct:
                assert grade(q, [*right, choice.key]).score < 1
                assert grade(q, [choice.key]).score < 1
    elif isinstance(answer, PutInOrder):
        keys = [i.key for i in answer.items]
        assert grade(q, keys).score == 1.0
        assert grade(q, keys[::-1]).score < 1
    elif isinstance(answer, TypeAnswer):
        assert grade(q, answer.expected()).score == 1.0
        assert grade(q, "no such answer").score < 1
    else:
        assert isinstance(answer, NumberAnswer)
        assert grade(q, answer.value).score == 1.0
        assert grade(q, answer.value + answer.tolerance + 1).score < 1
    assert q.explanation.refs, "an explanation cites the standard"
    for ref in q.explanation.refs:
        assert (ref.rfc, ref.section) in VERIFIED_SECTIONS, f"unverified citation {ref}"


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
def test_a_generated_question_is_right_about_its_run_or_is_not_asked(
    traces: dict[str, list[Event]], template_id: str, scenario: str
) -> None:
    events = traces[scenario]
    # The whole run, and stops a quarter, half and three quarters of the way through it.
    for cut in (len(events), *(len(events) * k // 4 for k in (3, 2, 1))):
        question = TEMPLATES[template_id].build(events[:cut], "generated-q")
        if question is None:
            continue
        assert question.id == "generated-q"
        assert_gradable(question)
        ORACLES[template_id](events[:cut], question)


def test_every_template_has_a_plain_reading_to_check_it_against() -> None:
    assert set(ORACLES) == set(TEMPLATES) == set(APPLIES)


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
def test_each_template_asks_where_the_run_has_its_event_and_only_there(
    traces: dict[str, list[Event]], template_id: str
) -> None:
    asked = {s for s in SCENARIOS if TEMPLATES[template_id].build(traces[s], "q") is not None}
    must, must_not = APPLIES[template_id]
    assert asked, "a template no shipped scenario can ask"
    assert must <= asked
    assert not must_not & asked


def test_the_templates_cover_every_stage_of_the_lifecycle(traces: dict[str, list[Event]]) -> None:
    asked = {
        t.stage
        for t in TEMPLATES.values()
        if any(t.build(traces[s], "q") is not None for s in SCENARIOS)
    }
    assert asked >= STAGES
    assert len(TEMPLATES) >= 12


def test_the_mx_question_lists_the_records_as_the_answer_did_and_names_the_mix_up(
    traces: dict[str, list[Event]],
) -> None:
    # mx-down's DNS server rotates its two MX records, so either may be listed first.
    question = TEMPLATES["mx-first-connect"].build(traces["mx-down"], "q")
    assert question is not None and isinstance(question.answer, SingleChoice)
    assert question.answer.right.text == "mx1.example.net"
    (wrong,) = [c for c in question.answer.choices if not c.correct]
    if "MX 20 mx2.example.net, MX 10 mx1.example.net" in question.prompt:
        assert "order the DNS answer lists them" in wrong.misconception
    else:
        assert "MX 10 mx1.example.net, MX 20 mx2.example.net" in question.prompt
        assert "a higher preference number is more preferred" in wrong.misconception


def test_the_greylisted_retry_comes_five_minutes_after_the_450(
    traces: dict[str, list[Event]],
) -> None:
    question = TEMPLATES["retry-gap"].build(traces["greylist"], "q")
    assert question is not None and "`450 4.2.0" in question.prompt
    assert isinstance(question.answer, NumberAnswer)
    assert (question.answer.value, question.answer.tolerance) == (5.0, 1.0)
    assert grade(question, "6 minutes").correct and not grade(question, "30").correct


def test_the_rcpt_question_asks_about_the_refused_recipient_on_the_mx_hop(
    traces: dict[str, list[Event]],
) -> None:
    question = TEMPLATES["rcpt-reply-line"].build(traces["unknown-user"], "q")
    assert question is not None and isinstance(question.answer, SingleChoice)
    assert "`RCPT TO:<carol@example.net>` to mx.example.net" in question.prompt
    assert question.answer.right.text.startswith("550 5.1.1 <carol@example.net>")
    policy = next(c for c in question.answer.choices if c.text.startswith("554 5.7.1"))
    assert "5.1.1 says it was about the address" in policy.misconception


def test_a_count_the_run_has_not_finished_is_not_asked(traces: dict[str, list[Event]]) -> None:
    events = traces["mx-outage"]
    removed = next(
        i for i, e in enumerate(events) if isinstance(e, QueueChange) and e.state == "removed"
    )
    assert TEMPLATES["attempt-count"].build(events[:removed], "q") is None
    assert TEMPLATES["attempt-count"].build(events[: removed + 1], "q") is not None


def test_a_lesson_adds_its_own_explanation_and_hints_to_a_generated_question(
    traces: dict[str, list[Event]],
) -> None:
    lesson = Explanation("Bob's MX is the one to watch.", (RfcRef(5321, "5.1"),))
    question = generate("mx-first-connect", traces["hello"], "q", lesson, ("Lowest first.",))
    assert question is not None
    assert question.explanation.text.endswith("Bob's MX is the one to watch.")
    assert question.explanation.refs[-1] == RfcRef(5321, "5.1")
    assert question.hints == ("Lowest first.",)
    assert generate("dsn-status", traces["hello"], "q", lesson) is None
