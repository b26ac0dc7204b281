"""Filtering: SPF's result, DMARC's alignment and disposition, the name a DNSBL lookup asked."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, Question, RfcRef
from tutor.learn.templates._base import Option, Template, multiple, single
from tutor.trace import Delivery, DnsAnswer, Event, Side, Stage

# For each right SPF result, the other results most worth offering, most telling first.
_SPF_NEIGHBOURS = {
    "pass": ("fail", "softfail", "none"),
    "fail": ("softfail", "pass", "none"),
    "softfail": ("fail", "pass", "none"),
    "none": ("pass", "fail", "neutral"),
    "neutral": ("pass", "none", "fail"),
}


def _spf_mix_up(picked: str, check: story.SpfCheck) -> str:
    """Why a learner might pick SPF result ``picked`` when the check gave ``check.result``."""
    right, ip, domain, term = check.result, check.ip, check.domain, check.decided_by
    record = f"{domain}'s record ({check.record})" if check.record else ""
    if picked == "none" and check.record:
        return f"that {domain} publishes no SPF record: it does ({check.record})"
    if right == "none":
        return {
            "pass": "that no SPF record means anyone may send: without a record the result is "
            "none, which authorises nobody",
            "fail": f"that a domain without an SPF record fails: {domain} publishes none, so "
            "the result is none",
            "softfail": "that a missing record is a soft failure: it gives none",
            "neutral": "that a missing record is neutral: neutral is a record's explicit '?'; "
            "no record gives none",
        }.get(picked, "that a missing record gives a verdict: it gives none")
    matched = f"{ip} matched '{term}'" if term else f"{ip} matched nothing"
    if picked == "pass":
        return f"that {ip} is authorised: {record} does not list it ({matched})"
    if picked == "fail" and right == "softfail":
        return f"that '{term}' fails hard: the ~ qualifier gives softfail; only - gives fail"
    if picked == "softfail" and right == "fail":
        return f"that '{term}' is a soft failure: the - qualifier gives fail; ~ would give softfail"
    if picked == "fail" and right == "pass":
        return f"that the record refused this host: {matched}, which authorises it"
    if picked == "softfail" and right == "pass":
        return f"that the record only half trusts this host: {matched}, which authorises it"
    return f"that the result was {picked}: {matched}, and that gives {right}"


def _spf_result(events: Sequence[Event], qid: str) -> Question | None:
    """What SPF result did the MX reach for the MAIL FROM identity?"""
    for verdict in story.verdicts(events, "spf"):
        check = story.spf_check(verdict)
        if check is None or check.identity != "mailfrom":
            continue
        options = [Option(check.result, True)]
        for other in _SPF_NEIGHBOURS.get(check.result, ("pass", "fail", "none")):
            if other != check.result:
                options.append(Option(other, misconception=_spf_mix_up(other, check)))
        answer = single(options)
        if answer is None:
            continue
        if not check.record:
            how = f"{check.domain} publishes no SPF record, so the result is none."
        elif check.decided_by:
            how = (
                f"{check.domain}'s record is `{check.record}`; {check.ip} matched "
                f"'{check.decided_by}', so the result is {check.result}."
            )
        else:
            how = f"{check.domain}'s record is `{check.record}`; the result is {check.result}."
        acted = {
            "reject": f" {verdict.host} acted on it and refused the mail.",
            "defer": f" {verdict.host} asked the sender to try again later.",
        }.get(verdict.action, "")
        return Question(
            qid,
            f"{verdict.host} checked SPF for the MAIL FROM identity {check.sender}: may "
            f"{check.ip} send mail for {check.domain}? Which result did it reach?",
            answer,
            Explanation(
                "SPF asks the domain of the MAIL FROM address whether the connecting client may "
                "send for it. The record's terms are tried left to right and the first match "
                "decides, through its qualifier: + pass, - fail, ~ softfail, ? neutral; a "
                f"domain with no record gets none. {how}{acted}",
                (RfcRef(7208, "2.4"), RfcRef(7208, "2.6"), RfcRef(7208, "4.6.2")),
            ),
        )
    return None


def _identifier(alignment: story.Alignment) -> str:
    if alignment.identifier == "dkim":
        state = "its signature verified" if alignment.passed else "its signature failed"
        return f"DKIM: the signing domain d={alignment.domain} ({state})"
    state = "SPF passed" if alignment.passed else "SPF did not pass"
    return f"SPF: the MAIL FROM domain {alignment.domain} ({state})"


def _dmarc_unaligned(events: Sequence[Event], qid: str) -> Question | None:
    """Which identifier was not aligned with the From: domain for DMARC?"""
    for verdict in story.verdicts(events, "dmarc"):
        alignments = story.dmarc_alignment(verdict)
        from_domain = next((a.from_domain for a in alignments if a.from_domain), "")
        if not from_domain or not any(not a.aligned for a in alignments):
            continue
        options = []
        for a in alignments:
            if a.aligned:
                options.append(
                    Option(
                        _identifier(a),
                        misconception=f"that {a.domain} did not align: it passed, and in "
                        f"{a.mode} mode it matches {from_domain}",
                    )
                )
            elif a.passed:
                why = f"{a.domain} is not {from_domain}, nor in the same organizational domain"
                options.append(Option(_identifier(a), True, why=why))
            else:
                why = "only an identifier that passed its own check can align, whatever its domain"
                options.append(Option(_identifier(a), True, why=why))
        options.append(
            Option(
                f"the From: domain {from_domain} itself",
                misconception="that the From: domain is one of the identifiers: it is what the "
                "identifiers are compared with",
            )
        )
        answer = multiple(options, ordered=True)
        if answer is None:
            continue
        each = "; ".join(
            f"{a.identifier.upper()} {a.domain}: "
            + ("aligned" if a.aligned else "passed but not aligned" if a.passed else "no pass")
            for a in alignments
        )
        return Question(
            qid,
            f"DMARC at {verdict.host} compared the domain of the From: header, {from_domain}, "
            "with the identifiers SPF and DKIM had checked. Which of these were NOT aligned "
            "with it?",
            answer,
            Explanation(
                "DMARC ties the authenticated identifiers to the From: domain the reader sees. "
                "An identifier counts only if it passed its own check (the DKIM d= domain, the "
                "SPF MAIL FROM domain) and is aligned: the same domain (strict) or the same "
                "organizational domain (relaxed). At least one must pass and align for DMARC to "
                f"pass. Here: {each}, so dmarc={verdict.result}.",
                (RfcRef(7489, "3.1"),),
            ),
        )
    return None


_DISPOSITIONS = {
    "reject": "It refused the message at the end of DATA, with a 5xx reply",
    "quarantine": "It accepted the message, but into the recipient's Junk folder",
    "none": "It delivered the message to the inbox as usual, only recording the failure",
}


def _carried_out(events: Sequence[Event], verdict: story.Verdict) -> bool:
    """The receiver has done what the verdict asked: refused the message, or filed it."""
    if verdict.action == "reject":
        return any(
            e.prompt is story.Prompt.CONTENT
            and e.answered_by == verdict.host
            and e.code
            and e.code >= 500
            for e in story.exchanges(events, verdict.session)
        )
    folder = "Junk" if verdict.action == "quarantine" else "INBOX"
    return any(
        isinstance(e, Delivery)
        and e.host == verdict.host
        and e.session == verdict.session
        and e.folder == folder
        for e in events
    )


def _dmarc_disposition(events: Sequence[Event], qid: str) -> Question | None:
    """DMARC failed: what did the receiver do with the message?"""
    for verdict in story.verdicts(events, "dmarc"):
        policy = story.dmarc_policy(verdict)
        if verdict.result != "fail" or policy is None or verdict.action != policy.policy:
            continue
        if verdict.action not in _DISPOSITIONS or not _carried_out(events, verdict):
            continue  # not done yet (or done otherwise): the question would run ahead of the run
        alignments = story.dmarc_alignment(verdict)
        from_domain = next((a.from_domain for a in alignments if a.from_domain), "")
        applied = f"{policy.tag}={policy.policy}"
        options = [
            Option(
                text,
                action == verdict.action,
                ""
                if action == verdict.action
                else f"that the domain asked for {action}: the policy that applied was "
                f"{applied} ({policy.why})",
            )
            for action, text in _DISPOSITIONS.items()
        ]
        options.append(
            Option(
                "It deferred the message with a 4xx reply, for a later retry",
                misconception="that DMARC asks for a retry: the check would fail again, so a "
                "domain's policy is none, quarantine or reject",
            )
        )
        answer = single(options, ordered=True)
        if answer is None:
            continue
        fallback = any("organizational domain" in r and "asking" in r for r in verdict.reasons)
        found = (
            f" {from_domain} has no DMARC record of its own, so the record of its "
            "organizational domain was used."
            if fallback
            else ""
        )
        return Question(
            qid,
            f"DMARC failed at {verdict.host} for a message whose From: domain is "
            f"{from_domain or 'unknown'}. What did {verdict.host} do with the message?",
            answer,
            Explanation(
                "The domain owner's DMARC record says what to do with mail that fails: p= for "
                "the domain itself, sp= for its subdomains. none only asks for reports, "
                "quarantine means treat it as suspicious (here: the Junk folder), reject means "
                f"refuse it.{found} Here {applied} applied: {policy.why}.",
                (RfcRef(7489, "6.3"),) + ((RfcRef(7489, "6.6.3"),) if fallback else ()),
            ),
        )
    return None


_BLOCKLISTS = re.compile(r"client address (?P<ip>[0-9.]+); blocklists, in order: (?P<zones>.+)$")


def _dnsbl_query(events: Sequence[Event], qid: str) -> Question | None:
    """Which name did the MX look up to ask a blocklist about the client's address?"""
    for verdict in story.verdicts(events, "dnsbl"):
        matches = (_BLOCKLISTS.match(r.strip()) for r in verdict.reasons)
        match = next((m for m in matches if m), None)
        if match is None:
            continue
        ip, zone = match["ip"], match["zones"].split(",")[0].strip()
        lookup = next(
            (
                e
                for e in events
                if isinstance(e, DnsAnswer)
                and e.side == Side.CLIENT
                and e.host == verdict.host
                and e.qtype == "A"
                and e.seq < verdict.seq
                and e.qname.lower().rstrip(".").endswith("." + zone)
            ),
            None,
        )
        if lookup is None:
            continue
        asked = lookup.qname.rstrip(".")
        reversed_ip = ".".join(reversed(ip.split(".")))
        options = [
            Option(asked, True),
            Option(
                f"{ip}.{zone}",
                misconception="that the address is used as it is: its octets are reversed, as "
                "in reverse DNS, so the most specific part comes first",
            ),
            Option(
                f"{reversed_ip}.in-addr.arpa",
                misconception="that the MX asks the reverse DNS: in-addr.arpa gives an "
                f"address's host name (PTR); the blocklist is a zone of its own, {zone}",
            ),
            Option(
                zone,
                misconception="that the MX asks the list by its own name: it asks for a name "
                "made from the client's address, under the list's zone",
            ),
        ]
        answer = single(options)
        if answer is None:
            continue
        if lookup.answer:
            got = (
                f"The answer was {lookup.answer[0].split()[-1]}: {ip} is listed, and "
                f"{verdict.host} refused the mail."
                if verdict.action == "reject"
                else f"The answer was {lookup.answer[0].split()[-1]}: {ip} is listed."
            )
        else:
            got = f"The answer was {lookup.rcode}: {ip} is not listed."
        return Question(
            qid,
            f"{verdict.host} checked whether the connecting client, {ip}, is on the blocklist "
            f"{zone}. Which name did it look up (an A record)?",
            answer,
            Explanation(
                "A DNS blocklist is an ordinary DNS zone. To ask about an IPv4 address, reverse "
                "its four octets and append the list's domain, then ask for an A record: an "
                "answer (by convention in 127.0.0.0/8) means listed, no such name means not "
                f"listed, and a TXT record at the same name may say why. {got}",
                (RfcRef(5782, "2.1"),),
            ),
        )
    return None


TEMPLATES = (
    Template("spf-result", Stage.FILTERING, "SPF's result for the MAIL FROM identity", _spf_result),
    Template(
        "dmarc-unaligned",
        Stage.FILTERING,
        "which identifiers were not aligned for DMARC",
        _dmarc_unaligned,
    ),
    Template(
        "dmarc-disposition",
        Stage.FILTERING,
        "what the receiver did with a message that failed DMARC",
        _dmarc_disposition,
    ),
    Template("dnsbl-query", Stage.FILTERING, "the name a DNS blocklist lookup asks", _dnsbl_query),
)
