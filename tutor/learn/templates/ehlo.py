"""EHLO: which extensions a server offered, the SIZE it announced, a session's commands in order."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import (
    Explanation,
    NumberAnswer,
    OrderItem,
    PutInOrder,
    Question,
    RfcRef,
)
from tutor.learn.templates._base import Option, Template, hop_first, multiple
from tutor.trace import Event, Stage

# The keywords worth asking about first: the ones later questions build on.
_PRIORITY = ("STARTTLS", "SIZE", "PIPELINING", "AUTH", "8BITMIME", "ENHANCEDSTATUSCODES")
# Real extensions (RFC 3030, RFC 3461, RFC 1985) that the world's servers do not offer.
_NOT_OFFERED_HERE = ("CHUNKING", "DSN", "ETRN")


def _offers_by_session(events: Sequence[Event]) -> dict[str, list[story.EhloOffer]]:
    grouped: dict[str, list[story.EhloOffer]] = {}
    for offer in story.ehlo_offers(events):
        grouped.setdefault(offer.session, []).append(offer)
    return grouped


def _rank(keyword: str) -> tuple[int, str]:
    return (_PRIORITY.index(keyword) if keyword in _PRIORITY else len(_PRIORITY), keyword)


def _ehlo_keywords(events: Sequence[Event], qid: str) -> Question | None:
    """Which of these extensions did the MX offer in answer to EHLO?"""
    offers = _offers_by_session(events)
    every = [offer for group in offers.values() for offer in group]
    for session in hop_first(offers, events):
        first, later = offers[session][0], offers[session][1:]
        offered = set(first.keywords)
        if len(offered) < 2:
            continue
        server = first.server
        options = [Option(k, True) for k in sorted(offered, key=_rank)[:3]]
        wrong: list[Option] = []
        for keyword in sorted({k for o in every for k in o.keywords} - offered, key=_rank):
            if any(o.offers(keyword) for o in later):
                why = (
                    f"that {server} offered {keyword} before TLS: it listed it only after the "
                    "upgrade"
                )
            elif keyword == "STARTTLS":
                why = (
                    f"that every server offers STARTTLS: {server} did not, so the client could "
                    "not upgrade this connection to TLS"
                )
            else:
                other = next(o.server for o in every if o.offers(keyword))
                why = (
                    f"that every server offers the same list: {other} offered {keyword}, "
                    f"{server} did not"
                )
            wrong.append(Option(keyword, misconception=why))
        for keyword in (k for k in _NOT_OFFERED_HERE if k not in offered):
            wrong.append(
                Option(
                    keyword,
                    misconception=f"that {server} offered {keyword}: it is a real extension, but "
                    "not in this server's list, so the client may not use it here",
                )
            )
        answer = multiple(options + wrong[:3])
        if answer is None:
            continue
        after = (
            f" After TLS it listed: {', '.join(later[0].keywords)}. The list may change after "
            "the upgrade, which is one reason the client must ask again."
            if later
            else ""
        )
        return Question(
            qid,
            f"{first.client} greeted {server} with `{first.command}`. Which of these service "
            f"extensions did {server} offer in its reply{' (before TLS)' if later else ''}?",
            answer,
            Explanation(
                "EHLO asks the server to list the service extensions it supports: one keyword "
                "per line after the first line of its 250 reply, and the client may use only "
                f"those. {server} listed: {', '.join(first.keywords)}.{after}",
                (RfcRef(5321, "3.2"), RfcRef(5321, "2.2.1"))
                + ((RfcRef(3207, "4.2"),) if later else ()),
            ),
        )
    return None


_SIZE_PARAM = re.compile(r"\bSIZE=(\d+)\b", re.IGNORECASE)


def _ehlo_size(events: Sequence[Event], qid: str) -> Question | None:
    """How many bytes did the server's SIZE say it would take?"""
    offers = _offers_by_session(events)
    found: list[tuple[story.EhloOffer, int, story.Exchange | None, int | None]] = []
    for session in hop_first(offers, events):
        offer = next((o for o in offers[session] if (o.params("SIZE") or ("",))[0].isdigit()), None)
        if offer is None:
            continue
        limit = int((offer.params("SIZE") or ("0",))[0])
        if limit <= 0:
            continue  # SIZE 0: no fixed limit (RFC 1870 §3), nothing to ask
        mail = next((e for e in story.exchanges(events, session) if e.verb == "MAIL"), None)
        match = _SIZE_PARAM.search(mail.command) if mail else None
        found.append((offer, limit, mail, int(match[1]) if match else None))
    # A message bigger than the limit makes the better question: the SIZE decided something.
    found.sort(key=lambda f: not (f[3] is not None and f[3] > f[1]))
    if not found:
        return None
    offer, limit, mail, declared = found[0]
    if mail is None or declared is None:
        outcome = ""
    elif declared > limit:
        outcome = (
            f" {offer.client} declared SIZE={declared} in its MAIL FROM, more than that, so "
            f"{offer.server} refused the message at once (`{mail.reply_text}`), before a single "
            "byte of it was sent."
        )
    else:
        outcome = f" {offer.client}'s MAIL FROM declared SIZE={declared}, well within it."
    return Question(
        qid,
        f"In its EHLO reply to {offer.client}, {offer.server} announced with the SIZE "
        "extension the largest message it would take. How many bytes was that?",
        NumberAnswer(float(limit), 0.0, "bytes"),
        Explanation(
            f"The reply listed `SIZE {limit}`: a message bigger than {limit} bytes is refused "
            "for good (552). A client that sees SIZE may declare its message's size in MAIL "
            f"FROM, so the server can refuse it before the transfer.{outcome}",
            (RfcRef(1870, "3"), RfcRef(1870, "4")),
        ),
    )


def _session_order(events: Sequence[Event], qid: str) -> Question | None:
    """Put this session's commands in order."""
    for session in story.sessions(events):
        verbs = [e.verb for e in story.exchanges(events, session.id) if e.verb]
        unique = list(dict.fromkeys(verbs))
        if len(unique) < 4:
            continue
        items = tuple(OrderItem(key=chr(ord("a") + i), text=verb) for i, verb in enumerate(unique))
        return Question(
            qid,
            f"Put the commands of session {session.id} ({session.client} to {session.server}) "
            "in the order the client first sent them.",
            PutInOrder(items),
            Explanation(
                "A session greets (EHLO), may upgrade to TLS and authenticate, then gives the "
                "envelope (MAIL FROM, RCPT TO), the content (DATA) and ends with QUIT.",
                (RfcRef(5321, "3.3"), RfcRef(5321, "4.1.4")),
            ),
        )
    return None


TEMPLATES = (
    Template(
        "ehlo-keywords", Stage.EHLO, "which extensions a server offered to EHLO", _ehlo_keywords
    ),
    Template("ehlo-size", Stage.EHLO, "the message size limit a server announced", _ehlo_size),
    Template("session-order", Stage.EHLO, "put a session's commands in order", _session_order),
)
