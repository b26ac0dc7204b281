"""The plain-text report of `smtp-tutor check`: verdict first, then the reasoning, 80 columns.

A learner reads it top-down: the inputs as the check understood them, the result in one line,
the details that explain it, the steps the evaluator took (indented as they nest), and the
header a receiver would add. Only words and indentation carry meaning, so the report reads
the same in a terminal, a log file or a lab hand-in.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tutor.policy.dkim import DkimResult, SignatureCheck
    from tutor.policy.dmarc import DmarcResult
    from tutor.policy.spf import SpfResult
    from tutor.policy.verdict import Step

WIDTH = 80
HANG = 4  # a wrapped line continues this much further in than where it started

# How the evaluators write a DNS question that got REFUSED (the name is in no --zone file).
_REFUSED = (
    re.compile(r"^DNS \S+ (\S+?)\.?\? → REFUSED"),  # spf
    re.compile(r"^TXT (\S+?)\.? -> REFUSED"),  # dmarc
    re.compile(r"^key lookup: (\S+?)\.? TXT -> REFUSED"),  # dkim
)


def wrap(text: str, indent: int = 0) -> list[str]:
    """One logical line as lines of at most WIDTH columns, continuations hanging further in."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + HANG),
        break_on_hyphens=False,
    ) or [""]


def fold_header(header: str) -> list[str]:
    """A header line folded at whitespace (RFC 5322 §2.2.3), so it can be pasted as is."""
    return textwrap.wrap(
        header, 78, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )


def step_lines(steps: Iterable[Step], indent: int = 2) -> list[str]:
    lines: list[str] = []
    for step in steps:
        lines.extend(wrap(step.text, indent + 2 * step.depth))
    return lines


def _field(label: str, value: str, indent: int = 2, width: int = 13) -> list[str]:
    """``label`` in a column, ``value`` after it; a wrapped value stays right of the label."""
    head = " " * indent + label.ljust(width)
    body = textwrap.wrap(
        value, WIDTH - len(head), break_on_hyphens=False, subsequent_indent="  "
    ) or [""]
    return [head + body[0]] + [" " * len(head) + line for line in body[1:]]


def refused_names(steps: Iterable[Step]) -> list[str]:
    """Names whose lookup was REFUSED: no --zone file covers them. A common lab mistake."""
    names: list[str] = []
    for step in steps:
        for pattern in _REFUSED:
            match = pattern.match(step.text)
            if match and match.group(1) not in names:
                names.append(match.group(1))
    return names


def _refused_note(steps: Iterable[Step]) -> list[str]:
    names = refused_names(steps)
    if not names:
        return []
    return wrap(
        f"Note: no --zone file holds {', '.join(names)}, so the lookup was answered REFUSED "
        "(as an authoritative-only server does). Add the zone file that publishes it.",
        0,
    )


def _join(sections: Sequence[list[str]]) -> str:
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


# --------------------------------------------------------------------------- spf


def _spf_summary(result: SpfResult) -> list[str]:
    decided = f" (decided by '{result.mechanism}')" if result.mechanism else ""
    lines = [f"Result: {result.result}{decided}"]
    if result.explanation:
        lines += _field("explanation", result.explanation)
    if result.problem:
        lines += _field("problem", result.problem)
    lines += _field(
        "lookups",
        f"{result.dns_terms} of 10 DNS-querying terms, {result.void_lookups} of 2 void lookups",
    )
    return lines


def render_spf(result: SpfResult, header: str, *, mail_from: str) -> str:
    """The report of ``check spf``."""
    shown_from = mail_from.strip()
    if not shown_from.strip("<>"):
        shown_from = "<> (null reverse-path: checked as postmaster@HELO, RFC 7208 §2.4)"
    inputs = [
        "SPF check of the MAIL FROM identity (RFC 7208)",
        *_field("client IP", result.ip),
        *_field("MAIL FROM", shown_from),
        *_field("HELO", result.helo),
        *_field("checked", f"check_host for {result.sender}, domain {result.domain}"),
    ]
    return _join(
        [
            inputs,
            _spf_summary(result),
            ["Reasoning:", *step_lines(result.steps)],
            _refused_note(result.steps),
            ["Header a receiver would add:", *fold_header(header)],
        ]
    )


# --------------------------------------------------------------------------- dkim


def _abbrev(value: str, keep: int = 40) -> str:
    return value if len(value) <= keep + 12 else f"{value[:keep]}… ({len(value)} chars)"


def _signature_lines(check: SignatureCheck, count: int) -> list[str]:
    verdict = str(check.status) + (f": {check.failure}" if check.failure else "")
    lines = [f"Signature {check.index + 1} of {count}: {verdict}"]
    if check.domain:
        lines += _field("signer", f"d={check.domain} s={check.selector} a={check.algorithm}")
        lines += _field("canon.", f"c={check.canonicalization}")
    if check.tags:
        lines.append("  tags:")
        for name, value in check.tags:
            lines += wrap(f"{name}={_abbrev(value) if name == 'b' else value}", 4)
    if check.signed_header_names:
        lines += _field("signed (h=)", " : ".join(check.signed_header_names), width=22)
    if check.body_hash_claimed:
        lines += _field("body hash computed", check.body_hash_computed or "-", width=22)
        verdict = "match" if check.body_hash_ok else "MISMATCH"
        lines += _field("body hash claimed", f"{check.body_hash_claimed}  ({verdict})", width=22)
    if check.key is not None:
        key = check.key
        found = f"{key.error or key.rcode}"
        if key.key_record:
            found += f", {check.key_bits} bits" if check.key_bits else ", record present"
        else:
            found += ", no key record"
        lines += _field("key lookup", f"{key.name} TXT -> {found}", width=22)
    if check.detail:
        lines += _field("reason", check.detail, width=22)
    return lines


def dkim_headline(result: DkimResult) -> str:
    if not result.signatures:
        return "Result: dkim=none (the message has no DKIM-Signature)"
    failure = f" ({result.failure})" if result.failure else ""
    passed = [c for c in result.signatures if c.failure is None and c.domain]
    if not failure and passed:
        failure = f" (d={passed[0].domain} s={passed[0].selector})"
    return f"Result: dkim={result.status}{failure}"


def render_dkim(result: DkimResult) -> str:
    """The report of ``check dkim``."""
    count = len(result.signatures)
    plural = "" if count == 1 else "s"
    sections: list[list[str]] = [
        [f"DKIM check (RFC 6376): {count} signature{plural}", dkim_headline(result)]
    ]
    sections += [_signature_lines(check, count) for check in result.signatures]
    sections.append(["Step by step:", *step_lines(result.steps)])
    sections.append(_refused_note(result.steps))
    return _join(sections)


# --------------------------------------------------------------------------- dmarc


@dataclass(frozen=True)
class DmarcReport:
    """Everything ``check dmarc`` found: the three checks and the header summarising them.

    Defined here, beside the view that shows it, so the renderer needs nothing from the
    command (tutor.commands imports the CLI and, through it, the TUI).
    """

    mail_from: str
    mail_from_source: str  # "--sender", or which header it was taken from
    helo: str
    helo_source: str
    spf: SpfResult
    spf_header: str
    dkim: DkimResult
    dmarc: DmarcResult
    auth_results: str


def render_dmarc(report: DmarcReport) -> str:
    """The report of ``check dmarc``: the three verdicts, then each one's reasoning."""
    from tutor.policy.dmarc import Disposition, reject_reply

    dmarc, spf, dkim = report.dmarc, report.spf, report.dkim
    mail_from = f"<{report.mail_from}>" if report.mail_from else "<> (null reverse-path)"
    inputs = [
        "DMARC check (RFC 7489), with the SPF and DKIM checks it builds on",
        *_field("From domain", f"{dmarc.from_domain} (organizational: {dmarc.org_domain})"),
        *_field("client IP", spf.ip),
        *_field("MAIL FROM", f"{mail_from} from {report.mail_from_source}"),
        *_field("HELO", f"{report.helo} ({report.helo_source})"),
    ]
    decided = f", decided by '{spf.mechanism}'" if spf.mechanism else ""
    aligned = [
        f"SPF {'aligned' if dmarc.spf_aligned else 'not aligned'}",
        f"DKIM {'aligned' if dmarc.dkim_aligned else 'not aligned'}",
    ]
    summary = [
        *_field("SPF", f"{spf.result} for {spf.domain}{decided}", width=8),
        *_field("DKIM", dkim_headline(dkim).removeprefix("Result: dkim="), width=8),
        *_field(
            "DMARC",
            f"{dmarc.status}; disposition {dmarc.disposition}"
            + (
                f" (policy for this domain: {dmarc.applied_policy})" if dmarc.applied_policy else ""
            ),
            width=8,
        ),
    ]
    if dmarc.record is not None:
        summary += _field("", f"{'; '.join(aligned)}", width=8)
    if dmarc.disposition is Disposition.REJECT:
        summary += wrap(
            f"A receiver enforcing it answers at end of DATA: {reject_reply(dmarc.from_domain)}"
        )
    elif dmarc.disposition is Disposition.QUARANTINE:
        summary += wrap("A receiver enforcing it delivers the message into the Junk folder.")
    all_steps = [*spf.steps, *dkim.steps, *dmarc.steps]
    return _join(
        [
            inputs,
            summary,
            ["How DMARC decided:", *step_lines(dmarc.steps)],
            ["SPF step by step:", *step_lines(spf.steps)],
            ["DKIM step by step:", *step_lines(dkim.steps)],
            _refused_note(all_steps),
            [
                "Headers a receiver would add:",
                *fold_header(report.auth_results),
                *fold_header(report.spf_header),
            ],
        ]
    )
