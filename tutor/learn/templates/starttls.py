"""STARTTLS: the keyword that offers it, why EHLO comes twice, what TLS protects, which version."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, Question, RfcRef, TypeAnswer
from tutor.learn.templates._base import Option, Template, delivery_hops, hop_first, single
from tutor.trace import Direction, Event, Side, SmtpLine, Stage, TlsHandshake

# What each other keyword of an EHLO reply does: the misconception is taking it for the upgrade.
_MEANING = {
    "PIPELINING": "PIPELINING lets the client send several commands before the replies come "
    "back (RFC 2920); it encrypts nothing",
    "SIZE": "SIZE announces the largest message the server takes (RFC 1870); it encrypts nothing",
    "8BITMIME": "8BITMIME lets the message carry 8-bit text; it is about the content, not the "
    "connection",
    "ENHANCEDSTATUSCODES": "ENHANCEDSTATUSCODES adds codes like 2.1.5 to the replies; it "
    "protects nothing",
    "SMTPUTF8": "SMTPUTF8 allows addresses in any script; it has nothing to do with encryption",
    "AUTH": "AUTH lets a client log in, and logging in encrypts nothing (which is why servers "
    "offer it only inside TLS)",
}


def _upgrades(events: Sequence[Event]) -> dict[str, list[story.Exchange]]:
    """Sessions in which STARTTLS was accepted (220), with their exchanges."""
    found: dict[str, list[story.Exchange]] = {}
    for exchange in story.exchanges(events):
        found.setdefault(exchange.session, []).append(exchange)
    return {
        session: exchanges
        for session, exchanges in found.items()
        if any(e.verb == "STARTTLS" and e.code == 220 for e in exchanges)
    }


def _handshake(events: Sequence[Event], session: str) -> TlsHandshake | None:
    """The client's record of a session's finished TLS handshake."""
    return next(
        (
            e
            for e in events
            if isinstance(e, TlsHandshake)
            and e.session == session
            and e.side == Side.CLIENT
            and e.ok
            and not e.implicit
        ),
        None,
    )


def _starttls_keyword(events: Sequence[Event], qid: str) -> Question | None:
    """Which keyword of the EHLO reply told the client it could upgrade to TLS?"""
    offers: dict[str, story.EhloOffer] = {}
    for offer in story.ehlo_offers(events):
        offers.setdefault(offer.session, offer)
    for session in hop_first(offers, events):
        first = offers[session]
        if first.encrypted or not first.offers("STARTTLS"):
            continue
        others = [k for k in first.keywords if k != "STARTTLS"]
        options = [Option("STARTTLS", True, why="it says the server can negotiate TLS")]
        for keyword in sorted(others, key=lambda k: (k not in _MEANING, k))[:3]:
            meaning = _MEANING.get(
                keyword, f"{keyword} is another extension; only STARTTLS starts TLS"
            )
            options.append(Option(keyword, misconception=f"that {keyword} upgrades: {meaning}"))
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"{first.server} answered `{first.command}` with a list of extensions. Which keyword "
            f"in that list told {first.client} it could upgrade the connection to TLS?",
            answer,
            Explanation(
                "STARTTLS in the EHLO reply says the server can negotiate TLS. The client sends "
                "the command STARTTLS, the server answers 220, and the TLS handshake starts at "
                "once on the same connection. A server never lists STARTTLS again inside TLS.",
                (RfcRef(3207, "4"), RfcRef(3207, "4.2")),
            ),
        )
    return None


def _ehlo_again(events: Sequence[Event], qid: str) -> Question | None:
    """Why did the client send EHLO a second time?"""
    upgrades = _upgrades(events)
    for session in hop_first(upgrades, events):
        exchanges = upgrades[session]
        at = next(i for i, e in enumerate(exchanges) if e.verb == "STARTTLS" and e.code == 220)
        before = next((e for e in exchanges[:at] if e.verb == "EHLO"), None)
        after = next((e for e in exchanges[at + 1 :] if e.verb == "EHLO"), None)
        if before is None or after is None or before.code is None:
            continue
        client, server = before.asked_by, before.answered_by
        auth_later = any(e.verb == "AUTH" for e in exchanges[at + 1 :])
        options = [
            Option(
                "TLS started the session afresh: the client must forget what it learned in "
                "clear and ask for the extensions again",
                True,
            ),
            Option(
                "The first EHLO had failed",
                misconception=f"that the first EHLO failed: {server} answered it with "
                f"{before.code}, accepting it; the second one is required by the upgrade",
            ),
            Option(
                "To send its login name to the server",
                misconception="that EHLO carries the login: it only names the client; logging "
                "in is the AUTH command"
                + (f", which {client} sent after the second EHLO" if auth_later else ""),
            ),
            Option(
                "The server's 220 reply asked for a new greeting",
                misconception="that the server asks for it: the 220 reply to STARTTLS only says "
                "'go ahead with TLS'; greeting again is the client's own duty",
            ),
        ]
        answer = single(options)
        if answer is None:
            continue
        offers = {o.seq: o for o in story.ehlo_offers(events, session)}
        first, second = offers.get(before.reply_seq or -1), offers.get(after.reply_seq or -1)
        compare = ""
        if first and second:
            gone = [k for k in first.keywords if k not in second.keywords]
            new = [k for k in second.keywords if k not in first.keywords]
            parts = ([f"dropped {', '.join(gone)}"] if gone else []) + (
                [f"added {', '.join(new)}"] if new else []
            )
            if parts:
                compare = f" Here the second reply {' and '.join(parts)}."
        return Question(
            qid,
            f"After STARTTLS, {client} sent `{after.command}` to {server} a second time. Why?",
            answer,
            Explanation(
                "When the TLS handshake completes, the SMTP session is reset to where it was "
                "after the greeting. The client must discard what it learned before, such as the "
                "list of extensions, because an attacker could have changed it in clear, and it "
                f"should send EHLO again as its first command. The new reply may differ.{compare}",
                (RfcRef(3207, "4.2"), RfcRef(3207, "6")),
            ),
        )
    return None


_INSIDE_TLS = {
    "STARTTLS": "that STARTTLS itself travels encrypted: it is sent in clear to ask for the "
    "upgrade; encryption starts after the 220 reply and the handshake",
    "MAIL": "that the envelope comes first after the upgrade: the session starts afresh, so the "
    "client greets again first",
    "AUTH": "that the login comes first: the client must send EHLO again to learn that AUTH is "
    "offered at all",
    "DATA": "that only the message itself is encrypted: every command after the handshake is",
}


def _first_in_tls(events: Sequence[Event], qid: str) -> Question | None:
    """Which command did the client send first inside TLS?"""
    upgrades = _upgrades(events)
    for session in hop_first(upgrades, events):
        sent = [
            e
            for e in events
            if isinstance(e, SmtpLine)
            and e.session == session
            and e.side == Side.CLIENT
            and e.direction == Direction.CLIENT_TO_SERVER
            and not e.is_payload
        ]
        first = next((e for e in sent if e.encrypted), None)
        if first is None:
            continue
        verb = first.text.split(" ", 1)[0].split(":", 1)[0].upper()
        verbs = {e.text.split(" ", 1)[0].split(":", 1)[0].upper() for e in sent}
        options = [Option(verb, True)]
        for other, why in _INSIDE_TLS.items():
            if other != verb and (other in verbs or other in ("STARTTLS", "MAIL", "DATA")):
                options.append(Option(other, misconception=why))
        if verb != "EHLO":
            options.append(
                Option(
                    "EHLO",
                    misconception=f"that every client greets again first: it should, "
                    f"but {first.sender} sent {verb} first",
                )
            )
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"After `STARTTLS` and the TLS handshake with {first.receiver}, which command did "
            f"{first.sender} send first inside TLS?",
            answer,
            Explanation(
                "STARTTLS and its 220 reply cross in clear; then the TLS handshake runs, and "
                "everything after it is encrypted. The session starts afresh, so the client's "
                f"first command is EHLO again. {first.sender} sent `{first.text}`.",
                (RfcRef(3207, "4"), RfcRef(3207, "4.2")),
            ),
        )
    return None


def _mx_hop_tls(events: Sequence[Event], qid: str) -> Question | None:
    """Was the message encrypted on its way to the MX?"""
    for session in delivery_hops(events):
        payload = next(
            (
                e
                for e in events
                if isinstance(e, SmtpLine)
                and e.session == session
                and e.side == Side.CLIENT
                and e.is_payload
            ),
            None,
        )
        if payload is None:
            continue
        client, server = payload.sender, payload.receiver
        offer = next(iter(story.ehlo_offers(events, session)), None)
        offered = offer is not None and offer.offers("STARTTLS")
        handshake = _handshake(events, session)
        if payload.encrypted and handshake is None:
            continue
        if not payload.encrypted and offered:
            continue  # offered but not used: another story than the one this question tells
        whole_way = (
            "that TLS protects the whole journey: STARTTLS protects one hop, and every server "
            "on the way sees the message in clear"
        )
        options = [
            Option(
                f"Yes: {client} and {server} upgraded with STARTTLS, so the message crossed "
                "this hop inside TLS",
                payload.encrypted,
                ""
                if payload.encrypted
                else f"that the hop was encrypted: {server} did not offer STARTTLS",
            ),
            Option(
                f"No: {server} did not offer STARTTLS, so {client} sent the message in clear",
                not payload.encrypted,
                ""
                if not payload.encrypted
                else f"that {server} offered no TLS: it listed STARTTLS, and {client} used it",
            ),
            Option(
                "No: mail between servers is never encrypted",
                misconception="that servers never encrypt: they do whenever both sides "
                "support STARTTLS",
            ),
            Option(
                "Yes: it was encrypted end to end, from the author's computer to the mailbox",
                misconception=whole_way
                + ("" if payload.encrypted else ", and this hop was not even encrypted"),
            ),
        ]
        if handshake is not None:
            how = (
                f"{server} listed STARTTLS and {client} used it: the handshake settled on "
                f"{handshake.version} ({handshake.cipher}), and the message crossed inside TLS."
            )
        else:
            how = (
                f"{server}'s EHLO reply had no STARTTLS, so {client} went on in clear, as "
                "opportunistic TLS does. An attacker who deletes STARTTLS from the reply gets "
                "the same result, unless the client insists on TLS for that destination."
            )
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"Was the message from {client} to {server} encrypted on its way?",
            answer,
            Explanation(
                f"{how} Either way STARTTLS protects a single hop: each server on the way "
                "decrypts the message, reads it, and decides for itself how to send it on.",
                (RfcRef(3207, "4"), RfcRef(3207, "6")),
            ),
        )
    return None


def _tls_version(events: Sequence[Event], qid: str) -> Question | None:
    """Which TLS version did the two ends negotiate?"""
    for session in hop_first(_upgrades(events), events):
        handshake = _handshake(events, session)
        if handshake is None or not handshake.version:
            continue
        number = re.sub(r"^(?:TLS|SSL)\s*v?", "", handshake.version, flags=re.I)
        peer = next(
            (
                e.receiver
                for e in events
                if isinstance(e, SmtpLine)
                and e.session == session
                and e.side == Side.CLIENT
                and e.direction == Direction.CLIENT_TO_SERVER
            ),
            "the server",
        )
        verified = (
            f"{handshake.host} verified {peer}'s certificate"
            if handshake.verified
            else f"{handshake.host} could not verify {peer}'s certificate"
            + (f" ({handshake.verify_error})" if handshake.verify_error else "")
        )
        return Question(
            qid,
            f"After STARTTLS, {handshake.host} and {peer} completed a TLS handshake. Which TLS "
            "version did they negotiate?",
            TypeAnswer(
                accepted=(handshake.version,),
                pattern=rf"(?:TLS\s*v?\s*)?{re.escape(number)}" if number else "",
                shown=handshake.version,
            ),
            Explanation(
                f"The handshake settled on {handshake.version} with the cipher "
                f"{handshake.cipher}, and {verified}. After the handshake both ends decide "
                "whether the protection they got is good enough to go on.",
                (RfcRef(3207, "4.1"),),
            ),
        )
    return None


TEMPLATES = (
    Template(
        "starttls-keyword",
        Stage.STARTTLS,
        "which EHLO keyword lets the client upgrade to TLS",
        _starttls_keyword,
    ),
    Template("ehlo-again", Stage.STARTTLS, "why the client sends EHLO twice", _ehlo_again),
    Template(
        "first-command-in-tls",
        Stage.STARTTLS,
        "the first command sent inside TLS",
        _first_in_tls,
    ),
    Template(
        "mx-hop-encrypted", Stage.STARTTLS, "whether the hop to the MX was encrypted", _mx_hop_tls
    ),
    Template("tls-version", Stage.STARTTLS, "the TLS version a handshake negotiated", _tls_version),
)
