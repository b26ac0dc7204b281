"""Policy verdicts per check (SPF, DKIM, DMARC, DNSBL, greylisting) and DMARC's alignment.

Each receiving-side check publishes one PolicyVerdict with its result, the action it asks for
and the steps that led there; the verdicts are typed events already, so story hands them out
as they are. What it adds is DMARC's identifier alignment (RFC 7489 §3.1), which a quiz asks
about ("Which identifier was not aligned for DMARC?") and the verdict states only in its steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tutor.trace import Event, PolicyCheck, PolicyVerdict


def verdicts(
    events: Iterable[Event], check: PolicyCheck | None = None
) -> tuple[PolicyVerdict, ...]:
    """Every policy verdict of the run (only those of ``check`` if given), in order."""
    return tuple(
        e for e in events if isinstance(e, PolicyVerdict) and (check is None or e.check == check)
    )


def verdicts_by_check(events: Iterable[Event]) -> dict[PolicyCheck, tuple[PolicyVerdict, ...]]:
    """The verdicts grouped by check, each group in order (a run may check SPF twice:
    the HELO identity and the MAIL FROM identity, RFC 7208 §2.3, §2.4)."""
    grouped: dict[PolicyCheck, list[PolicyVerdict]] = {}
    for verdict in verdicts(events):
        grouped.setdefault(verdict.check, []).append(verdict)
    return {check: tuple(found) for check, found in grouped.items()}


@dataclass(frozen=True)
class Alignment:
    """How one DMARC identifier (RFC 7489 §3.1) fared against the From domain."""

    identifier: str  # "dkim" (the signing domain d=) or "spf" (the MAIL FROM domain)
    domain: str  # the identifier's domain ('' when there was none to align)
    passed: bool  # the identifier's own check passed (only a pass can align)
    aligned: bool
    mode: str  # relaxed | strict ('' when it could not be aligned at all)
    from_domain: str


# The DMARC evaluator's step for each identifier (tutor/policy/dmarc.py), e.g.
#   "DKIM d=example.com: pass, relaxed alignment with example.org -> NOT aligned"
#   "SPF example.com: pass, relaxed alignment with example.org -> aligned"
#   "DKIM d=example.org: fail, cannot align (only a pass counts)"
_ALIGNED = re.compile(
    r"^(?P<id>DKIM|SPF) (?:d=)?(?P<domain>\S+): pass, (?P<mode>\w+) alignment with "
    r"(?P<from>\S+) -> (?P<verdict>aligned|NOT aligned)$"
)
_UNALIGNABLE = re.compile(r"^(?P<id>DKIM|SPF) (?:d=)?(?P<domain>[^\s:]+): (?P<result>\w+), cannot")
_FROM = re.compile(r"^From domain \(RFC5322\.From\): (?P<from>[^;\s]+)")


def dmarc_alignment(verdict: PolicyVerdict) -> tuple[Alignment, ...]:
    """The identifiers a DMARC verdict weighed, aligned or not, as its steps state them.

    Read from the evaluator's step lines: the verdict has no field of its own for them yet.
    """
    from_domain = ""
    found: list[Alignment] = []
    for reason in verdict.reasons:
        line = reason.strip()
        if match := _FROM.match(line):
            from_domain = match["from"]
        elif match := _ALIGNED.match(line):
            found.append(
                Alignment(
                    identifier=match["id"].lower(),
                    domain=match["domain"],
                    passed=True,
                    aligned=match["verdict"] == "aligned",
                    mode=match["mode"],
                    from_domain=match["from"],
                )
            )
        elif match := _UNALIGNABLE.match(line):
            found.append(
                Alignment(match["id"].lower(), match["domain"], False, False, "", from_domain)
            )
    return tuple(found)


@dataclass(frozen=True)
class SpfCheck:
    """What one SPF verdict checked, as its steps state it (RFC 7208 §2.3, §2.4, §4).

    ``record`` is the domain's own v=spf1 record ('' when it published none); ``decided_by``
    is the term that matched ('' when none did, or there was no record).
    """

    identity: str  # "mailfrom" or "helo"
    sender: str  # the identity checked: alice@example.org, postmaster@smtp.example.com
    domain: str
    ip: str
    record: str
    decided_by: str
    result: str


_CHECK_HOST = re.compile(
    r"^check_host\(ip=(?P<ip>[^,]+), domain=(?P<domain>[^,]+), sender=(?P<sender>[^)]*)\) "
    r"for the (?P<identity>MAIL FROM|HELO) identity$"
)
_RECORD = re.compile(r"^SPF record of (?P<domain>\S+): (?P<record>.+)$")
_DECIDED = re.compile(r"^result: \w+ \(decided by '(?P<term>[^']+)'\)")


def spf_check(verdict: PolicyVerdict) -> SpfCheck | None:
    """The identity, client address, record and deciding term of an SPF verdict.

    Read from the evaluator's step lines (tutor/policy/spf.py); None for a verdict of another
    check, or one whose steps do not say what was checked.
    """
    if verdict.check != "spf":
        return None
    head: re.Match[str] | None = None
    record = decided = ""
    for reason in verdict.reasons:
        line = reason.strip()
        if head is None and (match := _CHECK_HOST.match(line)):
            head = match
        elif head is not None and not record and (match := _RECORD.match(line)):
            if match["domain"] == head["domain"]:
                record = match["record"]
        elif match := _DECIDED.match(line):
            decided = match["term"]
    if head is None:
        return None
    return SpfCheck(
        identity="mailfrom" if head["identity"] == "MAIL FROM" else "helo",
        sender=head["sender"],
        domain=head["domain"],
        ip=head["ip"],
        record=record,
        decided_by=decided,
        result=str(verdict.result),
    )


@dataclass(frozen=True)
class DmarcPolicy:
    """The policy a DMARC verdict applied: which tag (p or sp), its value, and why that one."""

    tag: str  # "p" or "sp"
    policy: str  # none | quarantine | reject
    why: str


_APPLIES = re.compile(r"^(?P<tag>s?p)=(?P<policy>\w+) applies(?::| to) ?(?P<why>.*)$")


def dmarc_policy(verdict: PolicyVerdict) -> DmarcPolicy | None:
    """The policy of the domain owner that this DMARC verdict applied (RFC 7489 §6.3), if stated."""
    if verdict.check != "dmarc":
        return None
    for reason in verdict.reasons:
        if match := _APPLIES.match(reason.strip()):
            return DmarcPolicy(match["tag"], match["policy"], match["why"].strip())
    return None
