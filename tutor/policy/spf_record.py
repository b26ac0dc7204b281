"""Parsing an SPF record (RFC 7208 §4.5, §4.6, §5, §6) into terms the evaluator can run.

The whole record is parsed before anything is evaluated because §4.6 says a syntax error
anywhere makes the result permerror without further evaluation. Each parsed term keeps its
original text so the learner sees exactly what was published.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from tutor.policy.spf_macro import MacroSyntaxError, Part, parse_domain_spec, parse_macro_string

_VERSION = re.compile(r"^v=spf1( |$)", re.IGNORECASE)
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.\-]*)=(.*)$", re.S)
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_.\-]*)(.*)$", re.S)
_DUAL_CIDR = re.compile(r"//(0|[1-9][0-9]*)$")
_CIDR = re.compile(r"/(0|[1-9][0-9]*)$")
_IP4 = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)
_IP6_CHARS = re.compile(r"^[0-9A-Fa-f:.]+$")


class SpfSyntaxError(ValueError):
    """The record breaks the RFC 7208 grammar: check_host() returns permerror."""


class Qualifier(StrEnum):
    """The result a mechanism gives when it matches (§4.6.2)."""

    PASS = "+"
    FAIL = "-"
    SOFTFAIL = "~"
    NEUTRAL = "?"

    @property
    def result(self) -> str:
        return {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[self.value]


class Kind(StrEnum):
    """The eight mechanisms of §5."""

    ALL = "all"
    INCLUDE = "include"
    A = "a"
    MX = "mx"
    PTR = "ptr"
    IP4 = "ip4"
    IP6 = "ip6"
    EXISTS = "exists"

    @property
    def queries_dns(self) -> bool:
        """Counts toward the limit of 10 DNS-querying terms (§4.6.4)."""
        return self in (Kind.INCLUDE, Kind.A, Kind.MX, Kind.PTR, Kind.EXISTS)


@dataclass(frozen=True)
class Directive:
    """A qualifier and a mechanism, with its parsed argument."""

    text: str
    qualifier: Qualifier
    kind: Kind
    domain_spec: tuple[Part, ...] | None = None  # None: use the current domain
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # ip4 / ip6
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True)
class Modifier:
    """A name=value term; only redirect and exp mean something, others are ignored (§6)."""

    text: str
    name: str
    value: tuple[Part, ...]


@dataclass(frozen=True)
class Record:
    """A parsed SPF record: its directives in order, and the two known modifiers."""

    text: str
    directives: tuple[Directive, ...]
    redirect: Modifier | None = None
    exp: Modifier | None = None
    unknown_modifiers: tuple[Modifier, ...] = ()


def is_spf_record(text: str) -> bool:
    """Does this TXT record start with the version section "v=spf1" (§4.5)?"""
    return bool(_VERSION.match(text))


def parse_record(text: str) -> Record:
    """Parse a v=spf1 record or raise SpfSyntaxError saying what is wrong and where."""
    if not text.isascii():
        bad = next(c for c in text if not c.isascii())
        raise SpfSyntaxError(f"the record contains the non-ASCII character {bad!r}")
    terms = [t for t in text.split(" ") if t][1:]  # one or more spaces separate terms
    directives: list[Directive] = []
    modifiers: dict[str, Modifier] = {}
    unknown: list[Modifier] = []
    for term in terms:
        match = _MODIFIER.match(term)
        if match:
            modifier = _parse_modifier(term, match.group(1).lower(), match.group(2))
            if modifier.name in ("redirect", "exp"):
                if modifier.name in modifiers:
                    raise SpfSyntaxError(f"'{modifier.name}=' appears more than once")
                modifiers[modifier.name] = modifier
            else:
                unknown.append(modifier)
        else:
            directives.append(parse_directive(term))
    return Record(
        text=text,
        directives=tuple(directives),
        redirect=modifiers.get("redirect"),
        exp=modifiers.get("exp"),
        unknown_modifiers=tuple(unknown),
    )


def _parse_modifier(term: str, name: str, value: str) -> Modifier:
    try:
        if name in ("redirect", "exp"):
            parts = parse_domain_spec(value)
        else:
            parts = parse_macro_string(value)  # unknown modifiers must still be well-formed
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(f"in '{term}': {exc}") from None
    return Modifier(text=term, name=name, value=parts)


def parse_directive(term: str) -> Directive:
    """Parse ``[qualifier] mechanism`` (§4.6.1, §5)."""
    match = _MECHANISM.match(term)
    if not match:
        raise SpfSyntaxError(f"'{term}' is neither a mechanism nor a modifier")
    qualifier = Qualifier(match.group(1) or "+")
    name, rest = match.group(2).lower(), match.group(3)
    try:
        kind = Kind(name)
    except ValueError:
        raise SpfSyntaxError(f"'{term}': unknown mechanism '{name}'") from None
    try:
        return _parse_argument(term, qualifier, kind, rest)
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(f"in '{term}': {exc}") from None


def _parse_argument(term: str, qualifier: Qualifier, kind: Kind, rest: str) -> Directive:
    if kind is Kind.ALL:
        if rest:
            raise SpfSyntaxError(f"'{term}': 'all' takes no argument")
        return Directive(term, qualifier, kind)
    if kind in (Kind.IP4, Kind.IP6):
        return _parse_ip(term, qualifier, kind, rest)
    cidr4, cidr6 = 32, 128
    if kind in (Kind.A, Kind.MX):
        dual = _DUAL_CIDR.search(rest)
        if dual:
            cidr6 = int(dual.group(1))
            rest = rest[: dual.start()]
        single = _CIDR.search(rest)
        if single:
            cidr4 = int(single.group(1))
            rest = rest[: single.start()]
        if cidr4 > 32:
            raise SpfSyntaxError(f"'{term}': IPv4 prefix length /{cidr4} is over 32")
        if cidr6 > 128:
            raise SpfSyntaxError(f"'{term}': IPv6 prefix length /{cidr6} is over 128")
    if not rest:
        if kind in (Kind.INCLUDE, Kind.EXISTS):
            raise SpfSyntaxError(f"'{term}': '{kind}' needs ':domain'")
        return Directive(term, qualifier, kind, cidr4=cidr4, cidr6=cidr6)
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"'{term}': unexpected '{rest}' after '{kind}'")
    spec = parse_domain_spec(rest[1:])
    return Directive(term, qualifier, kind, domain_spec=spec, cidr4=cidr4, cidr6=cidr6)


def _parse_ip(term: str, qualifier: Qualifier, kind: Kind, rest: str) -> Directive:
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"'{term}': '{kind}' needs ':address'")
    address, _, prefix = rest[1:].partition("/")
    limit = 32 if kind is Kind.IP4 else 128
    if prefix and not re.fullmatch(r"0|[1-9][0-9]*", prefix):
        raise SpfSyntaxError(f"'{term}': bad prefix length '/{prefix}'")
    length = int(prefix) if prefix else limit
    if length > limit:
        raise SpfSyntaxError(f"'{term}': prefix length /{length} is over {limit}")
    try:
        if kind is Kind.IP4:
            if not _IP4.match(address):
                raise ValueError
            network: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.IPv4Network(
                f"{address}/{length}", strict=False
            )
        else:
            if not _IP6_CHARS.match(address):
                raise ValueError
            network = ipaddress.IPv6Network(f"{address}/{length}", strict=False)
    except ValueError:
        raise SpfSyntaxError(f"'{term}': '{address}' is not an {kind} address") from None
    return Directive(term, qualifier, kind, network=network)
