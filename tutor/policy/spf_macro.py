"""SPF macro strings (RFC 7208 §7): parsing, validation and expansion.

A macro string is parsed once into literal and macro parts; a syntax error is a
``MacroSyntaxError`` (the record is then a permerror). Expansion needs the facts of the current
check (sender, domain, client IP, HELO, ...) which ``MacroFacts`` carries.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MACRO_LETTERS = frozenset("slodiphcrtv")
EXP_ONLY_LETTERS = frozenset("crt")  # only allowed in an explanation string (§7.2)
DELIMITERS = frozenset(".-+,/_=")
MAX_DOMAIN_LENGTH = 253
_MACRO_BODY = re.compile(r"^([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)$")


class MacroSyntaxError(ValueError):
    """A macro string breaks the RFC 7208 §7.1 grammar."""


@dataclass(frozen=True)
class Macro:
    """One ``%{...}`` expansion: letter, how many right-hand parts, reversal, delimiters."""

    letter: str  # lower case
    digits: int | None
    reverse: bool
    delimiters: str
    url_escape: bool  # the letter was written in upper case

    def __str__(self) -> str:
        letter = self.letter.upper() if self.url_escape else self.letter
        digits = "" if self.digits is None else str(self.digits)
        return f"%{{{letter}{digits}{'r' if self.reverse else ''}{self.delimiters}}}"


Part = str | Macro


def parse_macro_string(text: str, *, explanation: bool = False) -> tuple[Part, ...]:
    """Split a macro string into literals and macros; raise MacroSyntaxError on bad syntax.

    In an explanation string spaces are literal and c, r, t are allowed; elsewhere neither.
    """
    return _parse(text, explanation)[0]


def _parse(text: str, explanation: bool) -> tuple[tuple[Part, ...], bool]:
    """The parts, and whether the text ends with a macro-expand (incl. %%, %_, %-)."""
    ends_with_expand = False
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "%":
            if not (0x21 <= ord(char) <= 0x7E or (explanation and char == " ")):
                raise MacroSyntaxError(f"character {char!r} is not allowed in {text!r}")
            literal.append(char)
            ends_with_expand = False
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following in ("%", "_", "-"):
            literal.append({"%": "%", "_": " ", "-": "%20"}[following])
            ends_with_expand = True
            i += 2
            continue
        if following != "{":
            shown = text[i : i + 2]
            raise MacroSyntaxError(f"'{shown}' is not a macro: '%' must be written as '%%'")
        end = text.find("}", i)
        if end < 0:
            raise MacroSyntaxError(f"unterminated macro in {text!r}")
        macro = _parse_macro(text[i + 2 : end], explanation)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(macro)
        ends_with_expand = True
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts), ends_with_expand


def _parse_macro(body: str, explanation: bool) -> Macro:
    match = _MACRO_BODY.match(body)
    if not match:
        raise MacroSyntaxError(f"'%{{{body}}}' is not a valid macro")
    letter, digits, reverse, delimiters = match.groups()
    lower = letter.lower()
    if lower not in MACRO_LETTERS:
        raise MacroSyntaxError(f"'%{{{body}}}': unknown macro letter {letter!r}")
    if lower in EXP_ONLY_LETTERS and not explanation:
        raise MacroSyntaxError(f"'%{{{body}}}': {letter!r} is only allowed in exp= text")
    if digits and int(digits) == 0:
        raise MacroSyntaxError(f"'%{{{body}}}': the number of parts must not be zero")
    return Macro(
        letter=lower,
        digits=int(digits) if digits else None,
        reverse=bool(reverse),
        delimiters=delimiters,
        url_escape=letter.isupper(),
    )


_TOPLABEL = re.compile(r"^([0-9a-z]*[a-z][0-9a-z]*|[0-9a-z]+-[0-9a-z-]*[0-9a-z])$", re.I)


def parse_domain_spec(text: str) -> tuple[Part, ...]:
    """Parse a domain-spec: a macro string whose end is a macro or a valid top label.

    ``domain-end = ( "." toplabel [ "." ] ) / macro-expand`` (§7.1): a literal end must be a
    dot and a label that is not all digits, so "a:1.2.3.4" or "a:example.com:25" are errors.
    """
    if not text:
        raise MacroSyntaxError("empty domain-spec")
    parts, ends_with_expand = _parse(text, False)
    if ends_with_expand:
        return parts
    body = text[:-1] if text.endswith(".") else text
    if "." not in body:
        raise MacroSyntaxError(f"{text!r} is not a fully qualified domain name")
    top = body.rsplit(".", 1)[1]
    if not _TOPLABEL.match(top):
        raise MacroSyntaxError(f"{text!r} does not end in a valid top-level label ({top!r})")
    return parts


@dataclass(frozen=True)
class MacroFacts:
    """What macros expand to: the facts of one check_host() call (§7.2)."""

    sender: str  # s: local-part@domain
    domain: str  # d: the current domain (changes with include/redirect)
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    receiver: str = "unknown"
    timestamp: int | None = None
    upper_hex: bool = False  # the client IPv6 address was written in upper case

    @property
    def local_part(self) -> str:
        return self.sender.rpartition("@")[0]

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]


def ip_macro_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, upper: bool = False) -> str:
    """%{i}: dotted quad, or the 32 hex nibbles of an IPv6 address separated by dots.

    DNS names are case-insensitive, so the nibbles keep the case the address was written in
    (the RFC 7208 test suite expects "CAFE:BABE::1" to give "...E.B.A.B.E.F.A.C").
    """
    if ip.version == 4:
        return str(ip)
    nibbles = ".".join(ip.exploded.replace(":", ""))
    return nibbles.upper() if upper else nibbles


def reverse_name(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The in-addr.arpa / ip6.arpa name a PTR lookup asks for."""
    return ip.reverse_pointer


async def expand(
    parts: tuple[Part, ...],
    facts: MacroFacts,
    *,
    validated_name: Callable[[], Awaitable[str]] | None = None,
) -> str:
    """Expand parsed parts. ``validated_name`` computes %{p} (it costs DNS lookups)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = await _letter_value(part.letter, facts, validated_name)
        out.append(transform(value, part))
    return "".join(out)


async def _letter_value(
    letter: str, facts: MacroFacts, validated_name: Callable[[], Awaitable[str]] | None
) -> str:
    if letter == "p":
        return await validated_name() if validated_name else "unknown"
    return {
        "s": lambda: facts.sender,
        "l": lambda: facts.local_part,
        "o": lambda: facts.sender_domain,
        "d": lambda: facts.domain,
        "i": lambda: ip_macro_text(facts.ip, upper=facts.upper_hex),
        "v": lambda: "in-addr" if facts.ip.version == 4 else "ip6",
        "h": lambda: facts.helo,
        "c": lambda: str(facts.ip),
        "r": lambda: facts.receiver or "unknown",
        "t": lambda: str(facts.timestamp if facts.timestamp is not None else int(time.time())),
    }[letter]()


def transform(value: str, macro: Macro) -> str:
    """Split on the delimiters, optionally reverse, keep the rightmost N parts, join with '.'."""
    delimiters = macro.delimiters or "."
    pieces = re.split("[" + re.escape(delimiters) + "]", value)
    if macro.reverse:
        pieces.reverse()
    if macro.digits is not None:
        pieces = pieces[-macro.digits :]
    result = ".".join(pieces)
    if macro.url_escape:
        result = urllib.parse.quote(result, safe="-._~")
    return result


def fit_domain(name: str) -> str:
    """Drop a trailing dot; if longer than 253, drop left labels until it fits (§7.3)."""
    if name.endswith("."):
        name = name[:-1]
    while len(name) > MAX_DOMAIN_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    return name
