"""What each server offered in answer to EHLO: the service extensions, before and after TLS.

RFC 5321 §3.2: EHLO asks the server to list the extensions it supports, one keyword (and its
parameters) per line of the 250 reply after the first ("250-SIZE 10240000"). After STARTTLS
the client must forget that list and ask again, and the new list may differ (RFC 3207 §4.2):
a submission server offers AUTH only inside TLS, and no server offers STARTTLS twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.story.exchange import exchanges
from tutor.trace import Event


@dataclass(frozen=True)
class Extension:
    """One line of an EHLO reply after the greeting line: a keyword and its parameters."""

    keyword: str  # in capitals: "SIZE", "STARTTLS", "AUTH"
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class EhloOffer:
    """One accepted EHLO and the extensions its 250 reply listed."""

    session: str
    client: str
    server: str
    command: str  # "EHLO smtp.example.org"
    encrypted: bool  # the reply came inside TLS
    extensions: tuple[Extension, ...]
    seq: int  # the reply's last line

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(e.keyword for e in self.extensions)

    def offers(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    def params(self, keyword: str) -> tuple[str, ...] | None:
        """The parameters listed with ``keyword``, or None when it was not offered."""
        wanted = keyword.upper()
        return next((e.params for e in self.extensions if e.keyword == wanted), None)


def _extension(line: str) -> Extension | None:
    text = line[4:].strip() if len(line) > 3 else ""
    if not text:
        return None
    words = text.split()
    return Extension(words[0].upper(), tuple(words[1:]))


def ehlo_offers(events: Sequence[Event], session: str | None = None) -> tuple[EhloOffer, ...]:
    """Every EHLO that got a 250 reply (of ``session`` only, if given), in trace order."""
    found = []
    for exchange in exchanges(events, session):
        if exchange.verb != "EHLO" or exchange.code != 250 or exchange.reply_seq is None:
            continue
        extensions = tuple(x for x in map(_extension, exchange.reply[1:]) if x is not None)
        found.append(
            EhloOffer(
                session=exchange.session,
                client=exchange.asked_by,
                server=exchange.answered_by,
                command=exchange.command,
                encrypted=exchange.encrypted,
                extensions=extensions,
                seq=exchange.reply_seq,
            )
        )
    return tuple(found)
