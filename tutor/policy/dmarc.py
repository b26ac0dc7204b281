"""DMARC (RFC 7489): policy discovery, identifier alignment, p/sp/pct, result and disposition.

DMARC does no cryptography of its own. It takes what SPF and DKIM already proved — "this
MAIL FROM domain may send from this IP", "this d= domain signed this message" — and asks the
question they leave open: is any of those domains the domain the reader sees in From:? The
domain owner publishes at ``_dmarc.<domain>`` what receivers should do when none is.

Every step lands in the result's ``steps`` so a learner can follow the receiver's reasoning:
which name was asked, why the organizational domain was asked next, which record counted,
how each identifier aligned or not, which policy (p or sp) applied, and whether the pct
sample let the policy act.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from tutor.policy.orgdomain import organizational_domain
from tutor.policy.verdict import Action, Step, Steps, Verdict

if TYPE_CHECKING:
    from tutor.policy.dnsapi import DnsLookup


class DmarcStatus(StrEnum):
    """The DMARC result as Authentication-Results reports it (RFC 7489 §11.2)."""

    PASS = "pass"
    FAIL = "fail"
    NONE = "none"  # no usable DMARC record: DMARC does not apply
    TEMPERROR = "temperror"  # the policy lookup failed in a way that may pass later


class Policy(StrEnum):
    """What the domain owner asks receivers to do with failing mail (the p= and sp= values)."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Disposition(StrEnum):
    """What this receiver does with the message after DMARC (RFC 7489 §6.6.4)."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Alignment(StrEnum):
    """Identifier alignment mode (adkim= / aspf=, RFC 7489 §3.1)."""

    RELAXED = "r"  # same organizational domain is enough
    STRICT = "s"  # the domains must be identical

    @property
    def word(self) -> str:
        return "relaxed" if self is Alignment.RELAXED else "strict"


# pct sampling that does not select a message applies the next policy down (§6.6.4).
_WEAKER = {
    Policy.REJECT: Policy.QUARANTINE,
    Policy.QUARANTINE: Policy.NONE,
    Policy.NONE: Policy.NONE,
}
_DISPOSITION = {
    Policy.NONE: Disposition.NONE,
    Policy.QUARANTINE: Disposition.QUARANTINE,
    Policy.REJECT: Disposition.REJECT,
}


class DmarcRecordError(ValueError):
    """A TXT record that is not a usable DMARC record; the message says why."""


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed DMARC policy record (RFC 7489 §6.3). Reporting tags do not affect delivery."""

    raw: str
    policy: Policy  # p=
    subdomain_policy: Policy | None = None  # sp=; None means "as p="
    pct: int = 100
    adkim: Alignment = Alignment.RELAXED
    aspf: Alignment = Alignment.RELAXED
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # tags or values discarded in favour of defaults (§6.3)


def _tags(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise DmarcRecordError(f"{part!r} is not a tag=value pair")
        pairs.append((name.strip().lower(), value.strip()))
    return pairs


def _uris(value: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in value.split(",") if u.strip())


def parse_record(text: str) -> DmarcRecord:
    """Parse a DMARC record; raise DmarcRecordError if it cannot be used at all.

    v=DMARC1 must come first (§6.4). A missing or invalid p= makes the record unusable unless
    rua= names a reporting address, in which case it counts as p=none (§6.6.3 step 6). Other
    unknown tags or bad values fall back to the defaults (§6.3) and are listed in ``ignored``.
    """
    pairs = _tags(text)
    if not pairs or pairs[0] != ("v", "DMARC1"):
        raise DmarcRecordError("it does not start with v=DMARC1")
    values = dict(pairs[1:])
    ignored: list[str] = []
    rua = _uris(values.get("rua", ""))
    try:
        policy = Policy(values.get("p", "").lower())
    except ValueError:
        if not rua:
            raise DmarcRecordError(
                f"p={values.get('p', '')!r} is not none/quarantine/reject"
                if "p" in values
                else "it has no p= tag"
            ) from None
        policy = Policy.NONE
        ignored.append("p (invalid; treated as p=none because rua= is present)")
    subdomain_policy: Policy | None = None
    if "sp" in values:
        try:
            subdomain_policy = Policy(values["sp"].lower())
        except ValueError:
            ignored.append(f"sp={values['sp']}")
    pct = 100
    if "pct" in values:
        try:
            pct = int(values["pct"])
            if not 0 <= pct <= 100:
                raise ValueError
        except ValueError:
            pct = 100
            ignored.append(f"pct={values['pct']}")
    modes: dict[str, Alignment] = {}
    for tag in ("adkim", "aspf"):
        try:
            modes[tag] = Alignment(values.get(tag, "r").lower())
        except ValueError:
            modes[tag] = Alignment.RELAXED
            ignored.append(f"{tag}={values[tag]}")
    known = {"p", "sp", "pct", "adkim", "aspf", "rua", "ruf", "fo", "rf", "ri"}
    ignored.extend(f"{name} (unknown tag)" for name in values if name not in known)
    return DmarcRecord(
        raw=text,
        policy=policy,
        subdomain_policy=subdomain_policy,
        pct=pct,
        adkim=modes["adkim"],
        aspf=modes["aspf"],
        rua=rua,
        ruf=_uris(values.get("ruf", "")),
        ignored=tuple(ignored),
    )


def aligned(identifier: str, from_domain: str, mode: Alignment) -> bool:
    """Whether an authenticated domain aligns with the From domain (RFC 7489 §3.1.1/§3.1.2)."""
    a, b = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    if mode is Alignment.STRICT:
        return a == b
    return organizational_domain(a) == organizational_domain(b)


class RandomSource(Protocol):
    """Anything with ``random() -> float in [0, 1)``; tests pass a seeded ``random.Random``."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class DmarcResult:
    """The outcome of DMARC for one message and how it was reached."""

    status: DmarcStatus
    disposition: Disposition
    from_domain: str
    org_domain: str = ""
    record_domain: str = ""  # where the record was found (From or organizational domain)
    record: DmarcRecord | None = None
    applied_policy: Policy | None = None  # p= or sp=, before pct sampling
    sampled_out: bool = False  # pct= spared this message from the policy
    spf_aligned: bool = False
    dkim_aligned: bool = False
    aligned_domain: str = ""  # the identifier that made DMARC pass
    steps: tuple[Step, ...] = ()


@dataclass
class _Discovery:
    record: DmarcRecord | None = None
    domain: str = ""
    temperror: str = ""


async def _fetch(name: str, lookup: DnsLookup, steps: Steps) -> tuple[list[str], str]:
    """The v=DMARC1 records at ``name`` (§6.6.3 steps 1-2), or an error word."""
    try:
        answer = await lookup.query(name, "TXT")
    except Exception as exc:  # a resolver failure is a temperror, never a crash
        steps.add(f"TXT {name} -> lookup failed ({type(exc).__name__})")
        return [], "lookup failed"
    rcode = str(answer.rcode)
    if rcode not in ("NOERROR", "NXDOMAIN"):
        steps.add(f"TXT {name} -> {rcode}")
        return [], rcode
    if not answer.records:
        steps.add(f"TXT {name} -> {rcode}, no TXT record")
        return [], ""
    dmarc = [r for r in answer.records if r.strip().startswith("v=DMARC1")]
    for record in answer.records:
        keep = "a DMARC record" if record in dmarc else "not v=DMARC1: discarded"
        steps.add(f'TXT {name} -> "{record}" ({keep})')
    return dmarc, ""


async def _discover(
    from_domain: str, org_domain: str, lookup: DnsLookup, steps: Steps
) -> _Discovery:
    """Policy discovery, RFC 7489 §6.6.3: the From domain, then its organizational domain."""
    records, error = await _fetch(f"_dmarc.{from_domain}", lookup, steps)
    domain = from_domain
    if error:
        return _Discovery(temperror=error)
    if not records and org_domain != from_domain:
        steps.add(f"no policy at {from_domain}: asking its organizational domain {org_domain}")
        with steps.nested():
            records, error = await _fetch(f"_dmarc.{org_domain}", lookup, steps)
        domain = org_domain
        if error:
            return _Discovery(temperror=error)
    if not records:
        steps.add("no DMARC record found: DMARC does not apply to this message")
        return _Discovery()
    if len(records) > 1:
        steps.add(f"{len(records)} DMARC records at _dmarc.{domain}: ambiguous, DMARC not applied")
        return _Discovery()
    try:
        record = _parsed_record(records[0])
    except DmarcRecordError as exc:
        steps.add(f"the record at _dmarc.{domain} is unusable ({exc}): DMARC not applied")
        return _Discovery()
    for item in record.ignored:
        steps.add(f"ignored: {item} (the default applies)")
    return _Discovery(record=record, domain=domain)


def _choose_policy(record: DmarcRecord, from_domain: str, record_domain: str) -> tuple[Policy, str]:
    """p= for the domain that published the record, sp= (or p=) for its subdomains (§6.3)."""
    if from_domain == record_domain:
        return record.policy, f"p={record.policy} applies: the record is the From domain's own"
    if record.subdomain_policy is not None:
        return record.subdomain_policy, (
            f"sp={record.subdomain_policy} applies: {from_domain} is a subdomain of "
            f"{record_domain}, whose record sets a subdomain policy"
        )
    return record.policy, (
        f"p={record.policy} applies to the subdomain {from_domain}: the record has no sp="
    )


async def evaluate(
    from_domain: str,
    spf_result: tuple[str, str] | None,
    dkim_results: Sequence[tuple[str, str]],
    lookup: DnsLookup,
    rng: RandomSource | None = None,
) -> DmarcResult:
    """Evaluate DMARC for a message whose RFC5322.From domain is ``from_domain``.

    ``spf_result`` is (the domain SPF checked — the MAIL FROM domain, or the HELO name for a
    null sender —, SPF result word) or None when SPF was not run; ``dkim_results`` is
    (d=, DKIM result word) of every signature. Only "pass" results can align (§4.2).
    ``rng`` draws the pct= sample; pass a seeded ``random.Random`` for reproducible runs.
    """
    steps = Steps()
    from_domain = from_domain.lower().rstrip(".")
    org = organizational_domain(from_domain)
    steps.add(f"From domain (RFC5322.From): {from_domain}; organizational domain: {org}")

    found = await _discover(from_domain, org, lookup, steps)
    if found.temperror:
        steps.add(f"result: dmarc=temperror (DNS {found.temperror}); the message is not judged")
        return DmarcResult(
            DmarcStatus.TEMPERROR, Disposition.NONE, from_domain, org, steps=steps.freeze()
        )
    record = found.record
    if record is None:
        steps.add("result: dmarc=none")
        return DmarcResult(
            DmarcStatus.NONE, Disposition.NONE, from_domain, org, steps=steps.freeze()
        )
    steps.add(
        f"policy record of {found.domain}: p={record.policy}"
        + (f" sp={record.subdomain_policy}" if record.subdomain_policy else "")
        + f" pct={record.pct} adkim={record.adkim} aspf={record.aspf}"
    )

    # Identifier alignment (§3.1): does any passing identifier belong to the From domain?
    dkim_domain = ""
    for domain, result in dkim_results:
        if result != "pass":
            steps.add(f"DKIM d={domain}: {result}, cannot align (only a pass counts)")
            continue
        ok = aligned(domain, from_domain, record.adkim)
        steps.add(
            f"DKIM d={domain}: pass, {record.adkim.word} alignment with {from_domain} -> "
            + ("aligned" if ok else "NOT aligned")
        )
        if ok and not dkim_domain:
            dkim_domain = domain.lower()
    if not dkim_results:
        steps.add("DKIM: no signature, nothing to align")
    spf_ok = False
    if spf_result is None:
        steps.add("SPF: not evaluated, nothing to align")
    else:
        spf_domain, spf_word = spf_result
        if spf_word != "pass":
            steps.add(f"SPF {spf_domain}: {spf_word}, cannot align (only a pass counts)")
        else:
            spf_ok = aligned(spf_domain, from_domain, record.aspf)
            steps.add(
                f"SPF {spf_domain}: pass, {record.aspf.word} alignment with "
                f"{from_domain} -> " + ("aligned" if spf_ok else "NOT aligned")
            )

    policy, why = _choose_policy(record, from_domain, found.domain)
    judged = DmarcResult(
        DmarcStatus.FAIL,
        Disposition.NONE,
        from_domain,
        org,
        record_domain=found.domain,
        record=record,
        applied_policy=policy,
        spf_aligned=spf_ok,
        dkim_aligned=bool(dkim_domain),
    )
    if dkim_domain or spf_ok:
        via = (
            f"DKIM d={dkim_domain}" if dkim_domain else f"SPF {spf_result[0] if spf_result else ''}"
        )
        steps.add(f"result: dmarc=pass (aligned {via}); disposition none")
        return replace(
            judged,
            status=DmarcStatus.PASS,
            aligned_domain=dkim_domain or (spf_result[0].lower() if spf_result else ""),
            steps=steps.freeze(),
        )

    steps.add("no aligned identifier passed: dmarc=fail")
    steps.add(why)
    effective, sampled_out = policy, False
    if record.pct < 100 and policy is not Policy.NONE:
        draw = (rng if rng is not None else random.Random()).random() * 100
        if draw < record.pct:
            steps.add(f"pct={record.pct}: sample {draw:.1f} < {record.pct}, the policy is applied")
        else:
            effective, sampled_out = _WEAKER[policy], True
            steps.add(
                f"pct={record.pct}: sample {draw:.1f} >= {record.pct}, this message is spared; "
                f"the next weaker policy applies: {effective} (§6.6.4)"
            )
    disposition = _DISPOSITION[effective]
    steps.add(f"result: dmarc=fail; disposition {disposition}")
    return replace(judged, disposition=disposition, sampled_out=sampled_out, steps=steps.freeze())


_ACTION = {
    Disposition.NONE: Action.NONE,
    Disposition.QUARANTINE: Action.QUARANTINE,
    Disposition.REJECT: Action.REJECT,
}


def reject_reply(from_domain: str) -> str:
    """The reply at end of DATA, as Postfix with OpenDMARC (RejectFailures) sends it."""
    return f"550 5.7.1 rejected by DMARC policy for {from_domain}"


def dmarc_verdict(result: DmarcResult) -> Verdict:
    """The DMARC verdict: quarantine -> deliver to Junk, reject -> 550 5.7.1 at end of DATA."""
    action = _ACTION[result.disposition]
    return Verdict(
        check="dmarc",
        result=str(result.status),
        reasons=Verdict.reasons_from(result.steps),
        action=action,
        reply=reject_reply(result.from_domain) if action is Action.REJECT else "",
        extra={
            "header.from": result.from_domain,
            "disposition": str(result.disposition),
            "policy": str(result.applied_policy or ""),
        },
    )


# Each distinct record text is parsed once (the result is frozen); the _dmarc lookup itself
# still goes through the resolver and its TTL cache every time, and is traced.
_parsed_record = functools.lru_cache(maxsize=256)(parse_record)
