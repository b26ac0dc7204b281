"""SPF (RFC 7208): the check_host() function, explained step by step, and its verdict/header.

The evaluator is written here (not delegated to pyspf) so that every step a learner needs to
see — each term tried, each DNS question and answer, the lookup counters, why a term matched or
not — is recorded as it happens. It passes the openspf RFC 7208 test suite
(tests/test_spf_rfc7208.py). DNS goes through a ``DnsLookup`` (tutor/policy/dnsapi.py), so in
the world every query is a real one to the world's DNS server and shows up in the trace.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from tutor.policy.dnsapi import DnsLookup, DnsResult
from tutor.policy.spf_macro import (
    MacroFacts,
    MacroSyntaxError,
    Part,
    expand,
    fit_domain,
    parse_macro_string,
)
from tutor.policy.spf_record import (
    Directive,
    Kind,
    Record,
    SpfSyntaxError,
    is_spf_record,
    parse_record,
)
from tutor.policy.verdict import Action, Step, Steps, Verdict

MAX_DNS_TERMS = 10  # §4.6.4: include, a, mx, ptr, exists and redirect
MAX_VOID_LOOKUPS = 2  # §4.6.4: answers that are NXDOMAIN or empty
MAX_MX_NAMES = 10  # §4.6.4: an mx term may look at no more than 10 exchanges
MAX_PTR_NAMES = 10  # §4.6.4: a ptr term (or %{p}) validates no more than 10 names
DEFAULT_EXPLANATION = "SPF fail - not authorized"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfResultCode(StrEnum):
    """The seven results of §2.6."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


class Identity(StrEnum):
    """Which identity was checked (§2.3 HELO, §2.4 MAIL FROM)."""

    MAILFROM = "mailfrom"
    HELO = "helo"


@dataclass(frozen=True)
class SpfResult:
    """The outcome of check_host() and everything a learner needs to understand it.

    ``mechanism`` is the term that decided the result ("" when none matched); ``problem``
    says what went wrong for permerror/temperror; ``explanation`` is the exp= text (or the
    default explanation) and is only set for fail.
    """

    result: SpfResultCode
    ip: str
    domain: str
    sender: str
    helo: str
    identity: Identity = Identity.MAILFROM
    receiver: str = "unknown"
    mechanism: str = ""
    explanation: str = ""
    problem: str = ""
    dns_terms: int = 0
    void_lookups: int = 0
    steps: tuple[Step, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """The steps as indented text lines."""
        return tuple(str(step) for step in self.steps)


class _PermError(Exception):
    """The check must end with permerror (the message says why)."""


class _TempError(Exception):
    """The check must end with temperror (a DNS failure that may go away)."""


@dataclass
class _Outcome:
    result: SpfResultCode
    mechanism: str = ""
    explanation: str = ""


@dataclass
class _Evaluation:
    """State shared by one check_host() call and all its includes and redirects."""

    ip: IPAddress
    sender: str
    helo: str
    lookup: DnsLookup
    receiver: str
    default_explanation: str
    steps: Steps = field(default_factory=Steps)
    dns_terms: int = 0
    void_lookups: int = 0
    timestamp: int | None = None
    upper_hex: bool = False

    # ------------------------------------------------------------------ DNS

    async def query(self, name: str, rdtype: str, *, count_void: bool = True) -> DnsResult:
        """Ask DNS, record the question and answer as a step, enforce the void limit."""
        answer = await self.lookup.query(name, rdtype)
        shown = ", ".join(_quote_if_txt(r, rdtype) for r in answer.records) or "no records"
        if answer.rcode != "NOERROR":
            shown = answer.rcode if not answer.records else f"{answer.rcode}: {shown}"
        self.steps.add(f"DNS {rdtype} {name}? → {shown}")
        if count_void and answer.is_void:
            self.void_lookups += 1
            self.steps.add(
                f"that answer is a void lookup ({self.void_lookups} of {MAX_VOID_LOOKUPS} allowed)"
            )
            if self.void_lookups > MAX_VOID_LOOKUPS:
                raise _PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (RFC 7208 §4.6.4)")
        return answer

    def count_dns_term(self, term: str) -> None:
        self.dns_terms += 1
        self.steps.add(
            f"'{term}' needs DNS: lookup term {self.dns_terms} of {MAX_DNS_TERMS} allowed"
        )
        if self.dns_terms > MAX_DNS_TERMS:
            raise _PermError(f"more than {MAX_DNS_TERMS} DNS-querying terms (RFC 7208 §4.6.4)")

    def address_type(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    # ------------------------------------------------------------------ macros

    def facts(self, domain: str) -> MacroFacts:
        return MacroFacts(
            sender=self.sender,
            domain=domain,
            ip=self.ip,
            helo=self.helo,
            receiver=self.receiver,
            timestamp=self.timestamp,
            upper_hex=self.upper_hex,
        )

    async def expand_domain(self, spec: tuple[Part, ...] | None, domain: str) -> str:
        if spec is None:
            return domain
        return fit_domain(await self.expand(spec, domain))

    async def expand(self, parts: tuple[Part, ...], domain: str) -> str:
        async def p_macro() -> str:
            return await self.p_macro(domain)

        return await expand(parts, self.facts(domain), validated_name=p_macro)

    async def p_macro(self, domain: str) -> str:
        """%{p}: a validated name of the client IP (§7.3).

        The current domain itself is preferred, then a subdomain of it, then any name;
        "unknown" when no name validates.
        """
        self.steps.add("%{p} needs the validated host name of the client IP")
        with self.steps.nested():
            names = await self.validated_names(strict_errors=False)
        lowered = domain.lower()
        for name in names:
            if name.lower() == lowered:
                return name
        for name in names:
            if name.lower().endswith("." + lowered):
                return name
        return names[0] if names else "unknown"

    async def validated_names(self, *, strict_errors: bool) -> list[str]:
        """PTR names of the client IP whose own A/AAAA records lead back to it (§5.5)."""
        answer = await self.query(self.ip.reverse_pointer, "PTR", count_void=strict_errors)
        if answer.is_error:
            self.steps.add("the PTR lookup failed, so no name can be validated")
            return []
        names = [r.rstrip(".") for r in answer.records]
        if len(names) > MAX_PTR_NAMES:
            self.steps.add(f"only the first {MAX_PTR_NAMES} of {len(names)} PTR names are used")
            names = names[:MAX_PTR_NAMES]
        validated: list[str] = []
        for name in names:
            if not _valid_name(name):
                continue
            addresses = await self.query(name, self.address_type(), count_void=False)
            if addresses.is_error:
                self.steps.add(f"{name}: lookup failed, skipped")
                continue
            if any(_same_ip(self.ip, a) for a in addresses.records):
                self.steps.add(f"{name} points back to {self.ip}: validated")
                validated.append(name)
            else:
                self.steps.add(f"{name} does not point back to {self.ip}: not validated")
        return validated

    # ------------------------------------------------------------------ check_host

    async def check_host(self, domain: str, *, nested: bool) -> _Outcome:
        """§4: fetch the domain's record and evaluate it; ``nested`` for include/redirect."""
        if not _valid_name(domain) or "." not in domain:
            if nested:
                raise _PermError(f"'{domain}' is not a valid domain name")
            self.steps.add(f"'{domain}' is not a valid multi-label domain name → none (§4.3)")
            return _Outcome(SpfResultCode.NONE)
        record = await self.fetch_record(domain, nested=nested)
        if record is None:
            return _Outcome(SpfResultCode.NONE)
        return await self.evaluate(record, domain)

    async def fetch_record(self, domain: str, *, nested: bool) -> Record | None:
        """§4.4/§4.5: look up TXT, keep the v=spf1 records, there must be exactly one."""
        answer = await self.query(domain, "TXT", count_void=False)
        if answer.is_error:
            raise _TempError(f"the TXT lookup for {domain} failed ({answer.rcode})")
        candidates = [r for r in answer.records if is_spf_record(r)]
        if not candidates:
            why = (
                f"{domain} does not exist"
                if answer.rcode == "NXDOMAIN"
                else f"{domain} publishes no v=spf1 record"
            )
            if nested:
                raise _PermError(f"{why}, so it cannot be included or redirected to")
            self.steps.add(f"{why} → none")
            return None
        if len(candidates) > 1:
            raise _PermError(
                f"{domain} publishes {len(candidates)} v=spf1 records; "
                "exactly one is allowed (§4.5)"
            )
        text = candidates[0]
        self.steps.add(f"SPF record of {domain}: {text}")
        try:
            return _parsed_record(text)
        except SpfSyntaxError as exc:
            raise _PermError(f"syntax error in the record of {domain}: {exc}") from None

    async def evaluate(self, record: Record, domain: str) -> _Outcome:
        """§4.6: the first matching directive decides; else redirect=; else neutral."""
        for directive in record.directives:
            if await self.matches(directive, domain):
                result = SpfResultCode(directive.qualifier.result)
                self.steps.add(f"'{directive.text}' matched → {result}")
                explanation = ""
                if result is SpfResultCode.FAIL:
                    explanation = await self.explanation(record, domain)
                return _Outcome(result, directive.text, explanation)
        if record.redirect is not None:
            self.count_dns_term(record.redirect.text)
            target = await self.expand_domain(record.redirect.value, domain)
            self.steps.add(
                f"no mechanism matched; '{record.redirect.text}': evaluate {target} instead"
            )
            with self.steps.nested():
                outcome = await self.check_host(target, nested=True)
            return outcome
        self.steps.add("no mechanism matched and there is no redirect= → neutral (§4.7)")
        return _Outcome(SpfResultCode.NEUTRAL)

    async def matches(self, directive: Directive, domain: str) -> bool:
        """Whether one mechanism matches the client IP (§5)."""
        kind = directive.kind
        if kind is Kind.ALL:
            self.steps.add(f"'{directive.text}': 'all' always matches")
            return True
        if kind in (Kind.IP4, Kind.IP6):
            return self.match_network(directive)
        self.count_dns_term(directive.text)
        target = await self.expand_domain(directive.domain_spec, domain)
        with self.steps.nested():
            if kind is Kind.INCLUDE:
                return await self.match_include(directive, target)
            if kind is Kind.A:
                return await self.match_a(directive, target)
            if kind is Kind.MX:
                return await self.match_mx(directive, target)
            if kind is Kind.PTR:
                return await self.match_ptr(target)
            return await self.match_exists(target)

    def match_network(self, directive: Directive) -> bool:
        network = directive.network
        assert network is not None
        if network.version != self.ip.version:
            self.steps.add(f"'{directive.text}': the client is IPv{self.ip.version} → no match")
            return False
        hit = self.ip in network
        self.steps.add(
            f"'{directive.text}': {self.ip} is {'in' if hit else 'not in'} {network}"
            + ("" if hit else " → no match")
        )
        return hit

    def prefix(self, directive: Directive) -> int:
        return directive.cidr4 if self.ip.version == 4 else directive.cidr6

    def in_any(self, addresses: list[str], prefix: int) -> str:
        for address in addresses:
            try:
                network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            except ValueError:
                continue
            if network.version == self.ip.version and self.ip in network:
                return str(network)
        return ""

    async def addresses_of(self, name: str) -> list[str]:
        if not _valid_name(name):
            self.steps.add(f"'{name}' is not a valid domain name: nothing to look up")
            self.void_lookups += 1
            if self.void_lookups > MAX_VOID_LOOKUPS:
                raise _PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (RFC 7208 §4.6.4)")
            return []
        answer = await self.query(name, self.address_type())
        if answer.is_error:
            raise _TempError(f"the {self.address_type()} lookup for {name} failed ({answer.rcode})")
        return list(answer.records)

    async def match_a(self, directive: Directive, target: str) -> bool:
        prefix = self.prefix(directive)
        hit = self.in_any(await self.addresses_of(target), prefix)
        self.steps.add(
            f"{self.ip} is in {hit}"
            if hit
            else f"{self.ip} is not among the addresses of {target} (/{prefix}) → no match"
        )
        return bool(hit)

    async def match_mx(self, directive: Directive, target: str) -> bool:
        answer = await self.query(target, "MX")
        if answer.is_error:
            raise _TempError(f"the MX lookup for {target} failed ({answer.rcode})")
        exchanges = sorted(
            (int(pref), host.rstrip(".")) for pref, host in (r.split() for r in answer.records)
        )
        if len(exchanges) > MAX_MX_NAMES:
            raise _PermError(
                f"{target} has {len(exchanges)} MX records; "
                f"an mx term may look at {MAX_MX_NAMES} (§4.6.4)"
            )
        prefix = self.prefix(directive)
        for _, host in exchanges:
            if not host:
                self.steps.add("a null MX ('.') has no address")
                continue
            hit = self.in_any(await self.addresses_of(host), prefix)
            if hit:
                self.steps.add(f"MX host {host}: {self.ip} is in {hit}")
                return True
        self.steps.add(f"{self.ip} is not an address of any MX host of {target} → no match")
        return False

    async def match_ptr(self, target: str) -> bool:
        names = await self.validated_names(strict_errors=True)
        suffix = "." + target.lower()
        for name in names:
            if name.lower() == target.lower() or name.lower().endswith(suffix):
                self.steps.add(f"the validated name {name} is within {target}")
                return True
        self.steps.add(f"no validated name of {self.ip} is within {target} → no match")
        return False

    async def match_exists(self, target: str) -> bool:
        if not _valid_name(target):
            return bool(await self.addresses_of(target))
        answer = await self.query(target, "A")  # always A, whatever the client's IP (§5.7)
        if answer.is_error:
            raise _TempError(f"the A lookup for {target} failed ({answer.rcode})")
        hit = bool(answer.records)
        self.steps.add(f"{target} {'exists' if hit else 'has no A record → no match'}")
        return hit

    async def match_include(self, directive: Directive, target: str) -> bool:
        self.steps.add(f"evaluating the SPF record of {target}")
        with self.steps.nested():
            outcome = await self.check_host(target, nested=True)
        hit = outcome.result is SpfResultCode.PASS
        self.steps.add(
            f"{target} gave {outcome.result}: "
            + ("the include matches" if hit else "the include does not match (§5.2)")
        )
        return hit

    async def explanation(self, record: Record, domain: str) -> str:
        """§6.2: the exp= text, macro-expanded; any problem means the default explanation."""
        if record.exp is None:
            return await self.default(domain)
        try:
            target = await self.expand_domain(record.exp.value, domain)
        except MacroSyntaxError:
            return await self.default(domain)
        if not _valid_name(target):
            return await self.default(domain)
        answer = await self.query(target, "TXT", count_void=False)
        if answer.is_error or len(answer.records) != 1:
            self.steps.add("exp= gave no single TXT record: the default explanation is used")
            return await self.default(domain)
        text = answer.records[0]
        try:
            if not text.isascii():
                raise MacroSyntaxError("non-ASCII explanation")
            parts = parse_macro_string(text, explanation=True)
            expanded = await self.expand(parts, domain)
        except MacroSyntaxError as exc:
            self.steps.add(f"the exp= text is not valid ({exc}): the default explanation is used")
            return await self.default(domain)
        self.steps.add(f"explanation (exp=): {expanded}")
        return expanded

    async def default(self, domain: str) -> str:
        try:
            parts = parse_macro_string(self.default_explanation, explanation=True)
            return await self.expand(parts, domain)
        except MacroSyntaxError:
            return self.default_explanation


def _quote_if_txt(record: str, rdtype: str) -> str:
    return f'"{record}"' if rdtype == "TXT" else record


def _valid_name(name: str) -> bool:
    """Every label 1..63 characters and the whole name at most 253 (RFC 1035)."""
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > 253:
        return False
    return all(0 < len(label) <= 63 for label in name.split("."))


def _same_ip(ip: IPAddress, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def parse_ip(ip: str) -> IPAddress:
    """The client address; an IPv4-mapped IPv6 address is treated as IPv4 (§5)."""
    address = ipaddress.ip_address(ip.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# ---------------------------------------------------------------------- public API


async def check_host(
    ip: str,
    domain: str,
    sender: str,
    *,
    helo: str,
    lookup: DnsLookup,
    receiver: str = "unknown",
    identity: Identity = Identity.MAILFROM,
    default_explanation: str = DEFAULT_EXPLANATION,
    timestamp: int | None = None,
) -> SpfResult:
    """RFC 7208 §4 check_host(<ip>, <domain>, <sender>), with every step recorded.

    ``sender`` must already be a full ``local@domain`` (see ``check_mail_from`` for the rules
    of §4.3 about empty local parts and the null reverse-path). ``receiver`` is this host's
    name (the %{r} macro and the Received-SPF comment).
    """
    address = parse_ip(ip)
    domain = domain.rstrip(".")
    evaluation = _Evaluation(
        ip=address,
        sender=sender,
        helo=helo,
        lookup=lookup,
        receiver=receiver,
        default_explanation=default_explanation,
        timestamp=timestamp,
        upper_hex=address.version == 6 and any(c in "ABCDEF" for c in ip),
    )
    evaluation.steps.add(
        f"check_host(ip={address}, domain={domain}, sender={sender}) for the "
        f"{'HELO' if identity is Identity.HELO else 'MAIL FROM'} identity"
    )
    problem = ""
    try:
        with evaluation.steps.nested():
            outcome = await evaluation.check_host(domain, nested=False)
    except _PermError as exc:
        problem = str(exc)
        evaluation.steps.add(f"permerror: {problem}")
        outcome = _Outcome(SpfResultCode.PERMERROR)
    except _TempError as exc:
        problem = str(exc)
        evaluation.steps.add(f"temperror: {problem}")
        outcome = _Outcome(SpfResultCode.TEMPERROR)
    evaluation.steps.add(
        f"result: {outcome.result}"
        + (f" (decided by '{outcome.mechanism}')" if outcome.mechanism else "")
        + f"; {evaluation.dns_terms} DNS-querying term(s), {evaluation.void_lookups} void lookup(s)"
    )
    return SpfResult(
        result=outcome.result,
        ip=str(address),
        domain=domain,
        sender=sender,
        helo=helo,
        identity=identity,
        receiver=receiver,
        mechanism=outcome.mechanism,
        explanation=outcome.explanation,
        problem=problem,
        dns_terms=evaluation.dns_terms,
        void_lookups=evaluation.void_lookups,
        steps=evaluation.steps.freeze(),
    )


def mail_from_identity(mail_from: str, helo: str) -> tuple[str, str]:
    """(sender, domain) for check_host from a MAIL FROM address (§2.4, §4.3).

    The null reverse-path is checked as postmaster@HELO; an empty local part (or no '@' at
    all) is replaced by "postmaster".
    """
    address = mail_from.strip().strip("<>")
    if not address:
        return f"postmaster@{helo}", helo
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = "", address
    return f"{local or 'postmaster'}@{domain}", domain


async def check_mail_from(
    ip: str,
    mail_from: str,
    *,
    helo: str,
    lookup: DnsLookup,
    receiver: str = "unknown",
    default_explanation: str = DEFAULT_EXPLANATION,
) -> SpfResult:
    """SPF for the MAIL FROM identity; the null reverse-path ("") checks postmaster@HELO.

    RFC 7208 §2.4 defines the MAIL FROM identity of a null reverse-path (bounces) to be
    postmaster@<HELO name>, so the result is still reported with identity=mailfrom.
    """
    sender, domain = mail_from_identity(mail_from, helo)
    return await check_host(
        ip,
        domain,
        sender,
        helo=helo,
        lookup=lookup,
        receiver=receiver,
        identity=Identity.MAILFROM,  # §2.4: postmaster@HELO *is* the MAIL FROM identity
        default_explanation=default_explanation,
    )


async def check_helo(
    ip: str, helo: str, *, lookup: DnsLookup, receiver: str = "unknown"
) -> SpfResult:
    """SPF for the HELO identity (§2.3): check_host(ip, helo, postmaster@helo)."""
    return await check_host(
        ip,
        helo,
        f"postmaster@{helo}",
        helo=helo,
        lookup=lookup,
        receiver=receiver,
        identity=Identity.HELO,
    )


# ---------------------------------------------------------------------- verdict and header

_ACTIONS = {
    SpfResultCode.FAIL: Action.REJECT,
    SpfResultCode.TEMPERROR: Action.DEFER,
}


def spf_verdict(result: SpfResult, *, reject_on_fail: bool = True) -> Verdict:
    """The receiver's verdict, with the defaults of Postfix's policyd-spf (spf-engine).

    fail → reject "550 5.7.23" (RFC 7372: SPF validation failed) with the explanation;
    temperror → defer "451 4.7.24" (RFC 7372: SPF validation error); every other result,
    permerror included (spf-engine's PermError_reject defaults to off), only adds the
    Received-SPF header.
    """
    action = _ACTIONS.get(result.result, Action.NONE)
    if action is Action.REJECT and not reject_on_fail:
        action = Action.NONE
    reply = ""
    if action is Action.REJECT:
        scope = "mfrom" if result.identity is Identity.MAILFROM else "helo"
        identity = result.sender if result.identity is Identity.MAILFROM else result.helo
        reply = (
            f"550 5.7.23 Message rejected due to: {result.explanation or DEFAULT_EXPLANATION}."
            f" Please see http://www.open-spf.org/Why?s={scope};id={identity};"
            f"ip={result.ip};r={result.receiver}"
        )
    elif action is Action.DEFER:
        label = "MAIL FROM" if result.identity is Identity.MAILFROM else "HELO"
        reply = f"451 4.7.24 SPF {label} check temporary error: {result.problem}"
    return Verdict(
        check="spf",
        result=str(result.result),
        reasons=result.reasons,
        action=action,
        reply=reply,
        header=received_spf_header(result),
        extra={
            "domain": result.domain,
            "identity": str(result.identity),
            "mechanism": result.mechanism,
            "explanation": result.explanation,
        },
    )


def received_spf_header(result: SpfResult, *, receiver: str | None = None) -> str:
    """The RFC 7208 §9.1 Received-SPF header field (one line, without CRLF)."""
    host = receiver or result.receiver or "unknown"
    comment = _header_comment(result, host)
    keys = [f"client-ip={result.ip}"]
    if result.identity is Identity.MAILFROM:
        keys.append(f"envelope-from={_header_value(result.sender)}")
    keys.append(f"helo={_header_value(result.helo)}")
    if result.mechanism:
        keys.append(f"mechanism={_header_value(result.mechanism)}")
    if result.problem and result.result in (SpfResultCode.PERMERROR, SpfResultCode.TEMPERROR):
        keys.append(f"problem={_header_value(result.problem)}")
    keys.append(f"receiver={_header_value(host)}")
    keys.append(f"identity={result.identity}")
    return f"Received-SPF: {result.result} ({comment}) " + "; ".join(keys) + ";"


def _header_comment(result: SpfResult, host: str) -> str:
    who = (
        f"domain of {result.sender}" if result.identity is Identity.MAILFROM else (f"{result.helo}")
    )
    ip = result.ip
    text = {
        SpfResultCode.PASS: f"{who} designates {ip} as permitted sender",
        SpfResultCode.FAIL: f"{who} does not designate {ip} as permitted sender",
        SpfResultCode.SOFTFAIL: f"transitioning {who} does not designate {ip} as permitted sender",
        SpfResultCode.NEUTRAL: f"{ip} is neither permitted nor denied by {who}",
        SpfResultCode.NONE: f"{who} does not designate permitted sender hosts",
        SpfResultCode.PERMERROR: f"permanent error in processing {who}",
        SpfResultCode.TEMPERROR: f"temporary error in processing {who}",
    }[result.result]
    return f"{host}: {text}".replace("(", "[").replace(")", "]")


def _header_value(value: str) -> str:
    """A key-value-pair value: a dot-atom as is, anything else as a quoted string (§9.1)."""
    import re

    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A record's text always parses to the same frozen Record; an MX evaluates the same few records
# for every message, so each distinct text is parsed once. The TXT lookup itself still happens
# every time, through the resolver and its TTL cache, and is traced.
_parsed_record = functools.lru_cache(maxsize=256)(parse_record)
