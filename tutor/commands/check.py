"""`smtp-tutor check spf|dkim|dmarc`: the receiver's own evaluators, run on your zone files.

A learner debugging their records wants the same answer, and the same reasoning, that the
world's receiving server would give — so this command runs exactly the evaluators the
receiver runs (tutor/policy), only with DNS answered from the learner's ``--zone`` files
(``ZoneLookup``) instead of the world's DNS server. Nothing here decides policy; it reads the
inputs, turns every input mistake into one ``UserError`` line (exit 2), runs the checks and
hands the results to tutor/render/checkreport.py (text) or prints them as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutor.errors import UserError

if TYPE_CHECKING:
    from tutor.commands.checkreport import DmarcReport
    from tutor.policy.dkim import DkimResult, SignatureCheck
    from tutor.policy.dnsapi import ZoneLookup
    from tutor.policy.spf import SpfResult
    from tutor.policy.verdict import Step

# The name this "receiver" reports in Received-SPF, the %{r} macro and Authentication-Results.
# .invalid (RFC 2606) because the check runs nowhere in particular.
DEFAULT_RECEIVER = "check.smtp-tutor.invalid"

# A header field line: a field name (printable ASCII but ':') then ':' (RFC 5322 §2.2).
_FIELD_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    checks = parser.add_subparsers(dest="check", metavar="CHECK", required=True)

    spf = checks.add_parser(
        "spf",
        help="SPF (RFC 7208): may this IP send mail for the MAIL FROM domain?",
        description="Evaluate SPF for the MAIL FROM identity against your zone files and "
        "show every step. An empty --sender '' is the null reverse-path (a bounce), "
        "checked as postmaster@HELO (RFC 7208 §2.4).",
    )
    spf.add_argument("--ip", required=True, help="the connecting client's IP address")
    spf.add_argument(
        "--sender", required=True, metavar="ADDR", help="the MAIL FROM address ('' = null)"
    )
    spf.add_argument("--helo", required=True, metavar="NAME", help="the EHLO/HELO name")
    _add_common(spf)
    spf.set_defaults(check_handler=_check_spf)

    dkim = checks.add_parser(
        "dkim",
        help="DKIM (RFC 6376): verify every DKIM-Signature of a message",
        description="Verify every DKIM-Signature of a message, with the keys from your zone "
        "files: tags, signed headers, body hash computed vs claimed, key lookup, and the "
        "precise reason a signature fails.",
    )
    dkim.add_argument(
        "--message", required=True, type=Path, metavar="FILE", help="the message, as saved (.eml)"
    )
    _add_common(dkim)
    dkim.set_defaults(check_handler=_check_dkim)

    dmarc = checks.add_parser(
        "dmarc",
        help="DMARC (RFC 7489): SPF and DKIM, then alignment with From: and the policy",
        description="Run SPF and DKIM on a message as a receiver would, then DMARC: the From "
        "domain, identifier alignment, the published policy and the disposition; prints the "
        "Authentication-Results header.",
    )
    dmarc.add_argument(
        "--message", required=True, type=Path, metavar="FILE", help="the message, as saved (.eml)"
    )
    dmarc.add_argument("--ip", required=True, help="the connecting client's IP address")
    dmarc.add_argument(
        "--helo", metavar="NAME", help="the EHLO/HELO name (default: the MAIL FROM domain)"
    )
    dmarc.add_argument(
        "--sender",
        metavar="ADDR",
        help="the MAIL FROM address ('' = null; default: the message's Return-Path, else From)",
    )
    dmarc.add_argument(
        "--seed", type=int, metavar="N", help="seed the pct= sample, for a repeatable result"
    )
    _add_common(dmarc)
    dmarc.set_defaults(check_handler=_check_dmarc)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zone",
        required=True,
        action="append",
        type=Path,
        metavar="FILE",
        help="a zone file in master-file format (repeatable; one file may hold several "
        "domains, e.g. after '$ORIGIN .')",
    )
    parser.add_argument(
        "--origin",
        default=".",
        metavar="NAME",
        help="the origin for relative names and '@' in the zone files (default: the root)",
    )
    parser.add_argument(
        "--receiver",
        default=DEFAULT_RECEIVER,
        metavar="NAME",
        help=f"this receiver's host name in headers (default: {DEFAULT_RECEIVER})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def main(args: argparse.Namespace) -> int:
    """Run the chosen check; 0 whatever the verdict (a fail is an answer, not an error)."""
    handler: Callable[[argparse.Namespace], dict[str, Any] | str] = args.check_handler
    out = handler(args)
    text = json.dumps(out, indent=2, ensure_ascii=False) + "\n" if isinstance(out, dict) else out
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `check ... | head` closed the pipe: what was wanted has been read, not an error.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stops the exit-time flush failing
    return 0


# --------------------------------------------------------------------------- inputs


def load_zones(paths: Sequence[Path], *, origin: str = ".") -> ZoneLookup:
    """Parse every ``--zone`` file; any problem is one line naming the file (and line)."""
    import dns.exception
    import dns.name

    from tutor.policy.dnsapi import ZoneFileError, ZoneLookup, zone_from_text

    try:
        dns.name.from_text(origin)
    except dns.exception.DNSException as exc:
        raise UserError(f"--origin {origin!r} is not a domain name ({exc})") from None
    zones = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path}: cannot read the zone file ({exc.strerror})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise UserError(f"{path}:{line}: not UTF-8 text, so not a zone file") from None
        try:
            zones.append(zone_from_text(text, origin=origin, filename=str(path)))
        except ZoneFileError as exc:
            raise UserError(str(exc)) from None
    return ZoneLookup(zones)


def client_ip(text: str) -> str:
    """The ``--ip`` value, checked and normalised (IPv4-mapped IPv6 becomes IPv4, §5)."""
    from tutor.policy.spf import parse_ip

    try:
        return str(parse_ip(text))
    except ValueError:
        raise UserError(f"--ip {text!r} is not an IPv4 or IPv6 address") from None


@dataclass(frozen=True)
class MailMessage:
    """A message file as the receiver would see it after DATA: the raw bytes, and its header."""

    path: Path
    raw: bytes
    fields: tuple[tuple[str, str], ...]  # (name, unfolded value) in order

    def values(self, name: str) -> list[str]:
        return [value for field, value in self.fields if field.lower() == name.lower()]


def read_message(path: Path) -> MailMessage:
    """Read a message file and make sure it is one: header fields, then a blank line, then body.

    An mbox "From " separator line at the top (a message saved from a mail client) is
    dropped, as a delivery agent would. Anything else that is not a header field before the
    blank line means the file is not a mail message, and the line is named.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the message ({exc.strerror})") from None
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    if not raw.strip():
        raise UserError(f"{path}: empty file, not a mail message")
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        if not _FIELD_LINE.match(line):
            raise UserError(
                f"{path}:{number}: not a mail message (this line is neither a header field "
                "nor the blank line that ends the header)"
            )
        name, _, value = line.partition(b":")
        fields.append((name.strip().decode("ascii"), value.strip().decode("utf-8", "replace")))
    return MailMessage(path=path, raw=raw, fields=tuple(fields))


def from_domain(message: MailMessage) -> str:
    """The RFC5322.From domain DMARC is about (the first From: address with a domain)."""
    values = message.values("From")
    if not values:
        raise UserError(f"{message.path}: no From: header field, so DMARC has no domain")
    for _, address in email.utils.getaddresses(values):
        domain = address.rpartition("@")[2].strip().rstrip(".>").lower()
        if "@" in address and domain:
            return domain
    raise UserError(f"{message.path}: the From: field {values[0]!r} has no address@domain")


def envelope_sender(message: MailMessage) -> tuple[str, str]:
    """(MAIL FROM, where it came from) when --sender is not given: Return-Path, else From."""
    return_paths = message.values("Return-Path")
    if return_paths:
        value = return_paths[0].strip()
        if value.replace(" ", "") == "<>":
            return "", "the message's Return-Path: <> (null reverse-path)"
        address = email.utils.parseaddr(value)[1]
        if address:
            return address, "the message's Return-Path"
    for _, address in email.utils.getaddresses(message.values("From")):
        if "@" in address:
            return address, "the message's From: (there is no Return-Path)"
    return "", "none found: the null reverse-path"


# --------------------------------------------------------------------------- spf


def _check_spf(args: argparse.Namespace) -> dict[str, Any] | str:
    from tutor.commands.checkreport import render_spf
    from tutor.policy.spf import check_mail_from, received_spf_header

    ip = client_ip(args.ip)
    helo = _helo_name(args.helo)
    lookup = load_zones(args.zone, origin=args.origin)
    result = asyncio.run(
        check_mail_from(ip, args.sender, helo=helo, lookup=lookup, receiver=args.receiver)
    )
    header = received_spf_header(result)
    if args.json:
        return {"check": "spf", **spf_json(result, header)}
    return render_spf(result, header, mail_from=args.sender)


def _helo_name(text: str) -> str:
    # Any HELO a client sent is evaluated as RFC 7208 says, bogus or not ("JUMPIN' JUPITER":
    # %{h} expands to it and the domain-spec fails to resolve, RFC 7208 §7.1); only an empty
    # one is no HELO at all.
    name = text.strip()
    if not name:
        raise UserError(f"--helo {text!r} is empty: give the name the client sent")
    return name


def steps_json(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [{"depth": step.depth, "text": step.text} for step in steps]


def spf_json(result: SpfResult, header: str) -> dict[str, Any]:
    """The SPF result as JSON: result first, then what explains it."""
    return {
        "result": str(result.result),
        "explanation": result.explanation,
        "mechanism": result.mechanism,
        "problem": result.problem,
        "domain": result.domain,
        "sender": result.sender,
        "helo": result.helo,
        "ip": result.ip,
        "identity": str(result.identity),
        "dns_terms": result.dns_terms,
        "void_lookups": result.void_lookups,
        "steps": steps_json(result.steps),
        "header": header,
    }


# --------------------------------------------------------------------------- dkim


def _check_dkim(args: argparse.Namespace) -> dict[str, Any] | str:
    from tutor.commands.checkreport import render_dkim
    from tutor.policy.dkim import verify

    message = read_message(args.message)
    lookup = load_zones(args.zone, origin=args.origin)
    result = asyncio.run(verify(message.raw, lookup))
    if args.json:
        return {"check": "dkim", **dkim_json(result)}
    return render_dkim(result)


def signature_json(check: SignatureCheck) -> dict[str, Any]:
    key = check.key
    return {
        "index": check.index,
        "result": str(check.status),
        "failure": str(check.failure) if check.failure else "",
        "detail": check.detail,
        "domain": check.domain,
        "selector": check.selector,
        "algorithm": check.algorithm,
        "canonicalization": check.canonicalization,
        "tags": dict(check.tags),
        "signed_headers": list(check.signed_header_names),
        "canonical_headers": list(check.canonical_headers),
        "body_hash": {
            "computed": check.body_hash_computed,
            "claimed": check.body_hash_claimed,
            "match": check.body_hash_ok,
        },
        "key": None
        if key is None
        else {
            "name": key.name,
            "rcode": key.rcode,
            "records": list(key.records),
            "error": key.error,
            "bits": check.key_bits,
        },
        "steps": steps_json(check.steps),
    }


def dkim_json(result: DkimResult) -> dict[str, Any]:
    return {
        "result": str(result.status),
        "failure": str(result.failure) if result.failure else "",
        "signatures": [signature_json(check) for check in result.signatures],
        "steps": steps_json(result.steps),
    }


# --------------------------------------------------------------------------- dmarc


async def run_dmarc(
    message: MailMessage,
    *,
    ip: str,
    mail_from: str,
    mail_from_source: str,
    helo: str,
    helo_source: str,
    lookup: ZoneLookup,
    receiver: str,
    rng: random.Random | None = None,
) -> DmarcReport:
    """SPF on the envelope, DKIM on the message, then DMARC on the From domain."""
    from tutor.commands.checkreport import DmarcReport
    from tutor.policy import dmarc
    from tutor.policy.authresults import SpfSummary, build_header
    from tutor.policy.dkim import verify
    from tutor.policy.spf import check_mail_from, received_spf_header

    spf = await check_mail_from(ip, mail_from, helo=helo, lookup=lookup, receiver=receiver)
    dkim = await verify(message.raw, lookup)
    verdict = await dmarc.evaluate(
        from_domain(message),
        spf_result=(spf.domain, str(spf.result)),
        dkim_results=dkim.pairs(),
        lookup=lookup,
        rng=rng,
    )
    # RFC 8601 §2.7.2: smtp.mailfrom for a real sender, smtp.helo for the null reverse-path.
    summary = (
        SpfSummary(str(spf.result), mailfrom=mail_from)
        if mail_from
        else SpfSummary(str(spf.result), helo=helo)
    )
    header = build_header(receiver, spf=summary, dkim=dkim, dmarc=verdict)
    return DmarcReport(
        mail_from=mail_from,
        mail_from_source=mail_from_source,
        helo=helo,
        helo_source=helo_source,
        spf=spf,
        spf_header=received_spf_header(spf),
        dkim=dkim,
        dmarc=verdict,
        auth_results=header,
    )


def _check_dmarc(args: argparse.Namespace) -> dict[str, Any] | str:
    from tutor.commands.checkreport import render_dmarc

    ip = client_ip(args.ip)
    message = read_message(args.message)
    from_domain(message)  # a message without a From domain is bad input: fail before the checks
    if args.sender is not None:
        mail_from, mail_from_source = args.sender.strip().strip("<>").strip(), "--sender"
    else:
        mail_from, mail_from_source = envelope_sender(message)
    if args.helo is not None:
        helo, helo_source = _helo_name(args.helo), "--helo"
    elif mail_from.rpartition("@")[2]:
        helo, helo_source = mail_from.rpartition("@")[2], "not given: the MAIL FROM domain"
    else:
        helo, helo_source = from_domain(message), "not given: the From domain"
    lookup = load_zones(args.zone, origin=args.origin)
    rng = random.Random(args.seed) if args.seed is not None else None
    report = asyncio.run(
        run_dmarc(
            message,
            ip=ip,
            mail_from=mail_from,
            mail_from_source=mail_from_source,
            helo=helo,
            helo_source=helo_source,
            lookup=lookup,
            receiver=args.receiver,
            rng=rng,
        )
    )
    if args.json:
        return dmarc_json(report)
    return render_dmarc(report)


def dmarc_json(report: DmarcReport) -> dict[str, Any]:
    result = report.dmarc
    record = result.record
    return {
        "check": "dmarc",
        "result": str(result.status),
        "disposition": str(result.disposition),
        "from_domain": result.from_domain,
        "org_domain": result.org_domain,
        "record_domain": result.record_domain,
        "record": record.raw if record else "",
        "policy": str(result.applied_policy or ""),
        "pct": record.pct if record else None,
        "sampled_out": result.sampled_out,
        "spf_aligned": result.spf_aligned,
        "dkim_aligned": result.dkim_aligned,
        "aligned_domain": result.aligned_domain,
        "steps": steps_json(result.steps),
        "mail_from": report.mail_from,
        "mail_from_source": report.mail_from_source,
        "helo": report.helo,
        "spf": spf_json(report.spf, report.spf_header),
        "dkim": dkim_json(report.dkim),
        "header": report.auth_results,
    }
