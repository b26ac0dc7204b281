"""DKIM (RFC 6376): sign outgoing mail, verify incoming mail, and explain every step.

Signing is dkimpy's, and so is every rule of verification: tag validation, canonicalisation,
the header hash in h= order, the body hash, the key record. This module walks those steps with
dkimpy's own functions, once, recording what a learner needs to see — the signature's tags, the
canonicalised header lines in signing order, the body hash computed against the one claimed,
the key lookup — and names the precise reason a signature failed.

Doing the work once: ``dkim.DKIM.verify`` would repeat all of it (parse the message again,
canonicalise and hash headers and body again, parse the key's ASN.1 again) and then check the
RSA signature with its own pure-Python arithmetic, which alone cost more than the rest of a
receiving MX's work per message. So for the common case — an ``rsa-sha256`` signature and an
RSA key record — the final RSASSA-PKCS1-v1_5 check (RFC 8017 §8.2.2) over the digest dkimpy's
``hash_headers`` produced is made by OpenSSL through ``cryptography``: the same check, with the
same inputs, including dkimpy's refusal of keys under 1024 bits. Anything else (rsa-sha1,
ed25519, a key record of an unusual service type, a signature whose length is not the
modulus') goes through ``dkim.DKIM.verify`` exactly as before. Parsed key records are
memoised by their text: the record itself still comes from the resolver each time, within its
TTL, and lands in the trace.

How the key lookup reaches the world's DNS: dkimpy asks for the key through a synchronous
``dnsfunc(name)``, but the world's resolver is asynchronous and runs on the same event loop as
everything else; blocking that loop inside dkimpy would freeze the DNS server it is waiting
for. So ``verify`` first reads the signature's ``s=`` and ``d=`` itself, queries
``<s>._domainkey.<d>`` TXT through the ``DnsLookup`` with ``await`` (the query crosses the
socket and lands in the trace like any other), and then hands dkimpy a ``dnsfunc`` that only
returns that prefetched answer. dkimpy asks for exactly the name we prefetched; any other name
is a programming error and raises instead of being answered silently.

How "header changed" is told apart from "bad signature": both mean the body hash matched but
the RSA signature over the headers did not verify. RSA lets a verifier go further than yes/no:
raising ``b=`` to the public exponent recovers the padded digest the signer signed. If that
recovery yields valid PKCS#1 v1.5 padding, the published key did make this signature, so it
was made over different header bytes: a signed header (or the signature's own tags) changed in
transit. If the padding is garbage, the signature was never made with this key (a wrong or
rotated key, or a forged ``b=``). Which header changed cannot be recovered — only its digest.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key
from dkim.canonicalization import CanonicalizationPolicy, InvalidCanonicalizationPolicyError
from dkim.util import InvalidTagValueList, parse_tag_value

from tutor.policy.verdict import Action, Step, Steps, Verdict

if TYPE_CHECKING:
    from tutor.policy.dnsapi import DnsLookup

# RFC 6376 §5.4.1 recommends these; From is mandatory. Trace headers (Received, Return-Path)
# are never signed because every hop adds or rewrites them.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)

SIGNATURE_HEADER = b"dkim-signature"


class DkimStatus(StrEnum):
    """Result of one signature, with the words RFC 8601 §2.7.1 uses in Authentication-Results."""

    PASS = "pass"
    FAIL = "fail"  # the signature was checked and did not verify
    NONE = "none"  # the message carries no DKIM-Signature
    PERMERROR = "permerror"  # cannot be verified, and retrying will not help (no key, bad tags)
    TEMPERROR = "temperror"  # the key lookup failed in a way that may succeed later


class DkimFailure(StrEnum):
    """Why a signature did not pass, precisely enough to tell a learner what happened."""

    BODY_HASH_MISMATCH = "body hash mismatch"
    HEADER_CHANGED = "header changed"
    BAD_SIGNATURE = "bad signature"
    KEY_MISSING = "missing key"
    KEY_INVALID = "invalid key record"
    KEY_LOOKUP_FAILED = "key lookup failed"
    MALFORMED = "malformed signature"


_FAILURE_STATUS = {
    DkimFailure.BODY_HASH_MISMATCH: DkimStatus.FAIL,
    DkimFailure.HEADER_CHANGED: DkimStatus.FAIL,
    DkimFailure.BAD_SIGNATURE: DkimStatus.FAIL,
    # RFC 6376 §6.1.2: no key record -> PERMFAIL (no key for signature).
    DkimFailure.KEY_MISSING: DkimStatus.PERMERROR,
    DkimFailure.KEY_INVALID: DkimStatus.PERMERROR,
    DkimFailure.MALFORMED: DkimStatus.PERMERROR,
    DkimFailure.KEY_LOOKUP_FAILED: DkimStatus.TEMPERROR,
}


class DkimSigningError(ValueError):
    """The message or the key could not be signed (dkimpy's reason in the message)."""


# --------------------------------------------------------------------------- signing


def _line_ending(message: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in message else b"\n"


def signable_headers(message: bytes, wanted: Sequence[str] = DEFAULT_SIGNED_HEADERS) -> list[str]:
    """The names from ``wanted`` that the message really has (plus From, always)."""
    headers, _ = dkim.rfc822_parse(message)
    present = {name.decode("ascii", "replace").lower() for name, _ in headers}
    chosen = [name.lower() for name in wanted if name.lower() in present]
    if "from" not in chosen:
        chosen.insert(0, "from")
    return chosen


def sign(
    message: bytes,
    domain: str,
    selector: str,
    private_key_pem: bytes,
    headers: Sequence[str] | None = None,
) -> bytes:
    """Return ``message`` with a DKIM-Signature header field prepended.

    Canonicalisation is relaxed/relaxed (tolerant of the re-folding and whitespace changes
    relays commonly make); the signed headers are ``headers`` or, by default, those of
    ``DEFAULT_SIGNED_HEADERS`` the message has. The signature line uses the message's own line
    ending so a CRLF message stays CRLF.
    """
    linesep = _line_ending(message)
    include = list(headers) if headers is not None else signable_headers(message)
    try:
        signature = dkim.sign(
            message,
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h.lower().encode("ascii") for h in include],
            linesep=linesep,
        )
    except dkim.DKIMException as exc:
        raise DkimSigningError(f"cannot DKIM-sign for {domain}: {exc}") from exc
    return signature + message


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class KeyLookup:
    """The DNS lookup of one signature's public key, as the receiver made it."""

    name: str  # <selector>._domainkey.<domain>
    rcode: str
    records: tuple[str, ...] = ()  # each TXT record, its strings joined (RFC 6376 §3.6.2.2)
    error: str = ""  # a lookup that raised instead of answering

    @property
    def key_record(self) -> str:
        """The record used as the key: the first TXT record (RFC 6376 §3.6.2.2)."""
        return self.records[0] if self.records else ""


@dataclass(frozen=True)
class SignatureCheck:
    """Everything learned while verifying one DKIM-Signature header field."""

    index: int  # 0 = topmost DKIM-Signature
    status: DkimStatus
    failure: DkimFailure | None = None
    detail: str = ""  # the failure in one sentence
    domain: str = ""  # d=
    selector: str = ""  # s=
    algorithm: str = ""  # a=
    canonicalization: str = ""  # c=
    tags: tuple[tuple[str, str], ...] = ()  # every tag in header order, whitespace removed
    signed_header_names: tuple[str, ...] = ()  # h=, lower case, in signing order
    canonical_headers: tuple[str, ...] = ()  # the hashed header lines, signing order
    body_hash_claimed: str = ""  # bh=
    body_hash_computed: str = ""
    key: KeyLookup | None = None
    key_bits: int = 0
    steps: tuple[Step, ...] = ()

    @property
    def body_hash_ok(self) -> bool:
        return bool(self.body_hash_computed) and self.body_hash_computed == self.body_hash_claimed


@dataclass(frozen=True)
class DkimResult:
    """The verification of every DKIM-Signature of one message."""

    signatures: tuple[SignatureCheck, ...] = ()
    steps: tuple[Step, ...] = field(default=())

    @property
    def status(self) -> DkimStatus:
        """pass if any signature passes; none if unsigned; otherwise the first one's result."""
        if not self.signatures:
            return DkimStatus.NONE
        for check in self.signatures:
            if check.status is DkimStatus.PASS:
                return DkimStatus.PASS
        return self.signatures[0].status

    @property
    def failure(self) -> DkimFailure | None:
        """The first signature's failure reason when nothing passed."""
        if self.status in (DkimStatus.PASS, DkimStatus.NONE):
            return None
        return self.signatures[0].failure

    def pairs(self) -> list[tuple[str, str]]:
        """(d=, result) of every signature: what DMARC needs (RFC 7489 §3.1.1)."""
        return [(check.domain, str(check.status)) for check in self.signatures]


def _abbrev(value: str, keep: int = 24) -> str:
    return value if len(value) <= keep + 8 else f"{value[:keep]}… ({len(value)} chars)"


def _rcode_name(rcode: object) -> str:
    name = getattr(rcode, "name", None)
    return str(name if isinstance(name, str) else rcode).upper()


async def fetch_key(name: str, lookup: DnsLookup) -> KeyLookup:
    """Query ``name`` TXT through the world's DNS (the query is on the wire and in the trace)."""
    try:
        answer = await lookup.query(name, "TXT")
    except Exception as exc:  # a resolver timeout must become temperror, not a crash
        return KeyLookup(name=name, rcode="TIMEOUT", error=f"{type(exc).__name__}: {exc}")
    return KeyLookup(
        name=name,
        rcode=_rcode_name(answer.rcode),
        records=tuple(answer.records),  # TXT strings already joined (dnsapi)
    )


def _prefetched_dnsfunc(key: KeyLookup) -> Callable[..., bytes | None]:
    """A synchronous dnsfunc for dkimpy that only answers the name already looked up."""
    wanted = key.name.lower().rstrip(".")

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        asked = (name.decode("ascii") if isinstance(name, bytes) else name).lower().rstrip(".")
        if asked != wanted:
            raise RuntimeError(f"dkimpy asked for {asked!r}, but only {wanted!r} was prefetched")
        return key.key_record.encode("ascii", "replace") if key.key_record else None

    return dnsfunc


_WHITESPACE = re.compile(r"\s+")
_WHITESPACE_BYTES = re.compile(rb"\s+")
_H_SEPARATOR = re.compile(rb"\s*:\s*")
MIN_KEY_BITS = 1024  # dkimpy's default minkey; RFC 8301 §3.2 forbids shorter RSA keys


def _tag_text(value: bytes) -> str:
    return _WHITESPACE.sub("", value.decode("ascii", "replace"))


@dataclass(frozen=True)
class _ParsedKey:
    """A key record as dkimpy's ``evaluate_pk`` reads it, plus the key loaded for OpenSSL."""

    ktag: bytes = b""
    bits: int = 0
    tlsrpt_only: bool = False  # s=tlsrpt: dkimpy refuses it for ordinary mail
    public_key: rsa.RSAPublicKey | None = None
    error: str = ""  # evaluate_pk's complaint; the record is not usable


@functools.lru_cache(maxsize=256)
def _parse_key(name: str, record: str) -> _ParsedKey:
    """Parse a key record once per distinct text (the DNS lookup itself is never skipped)."""
    try:
        _, bits, ktag, tlsrpt_only = dkim.evaluate_pk(name, record.encode("ascii"))
    except (dkim.DKIMException, ValueError, TypeError) as exc:
        return _ParsedKey(error=str(exc))
    public_key = None
    if ktag == b"rsa":
        p_value = parse_tag_value(record.encode("ascii")).get(b"p", b"")
        try:
            loaded = load_der_public_key(base64.b64decode(p_value))
        except ValueError:
            loaded = None
        if isinstance(loaded, rsa.RSAPublicKey):
            public_key = loaded
    return _ParsedKey(
        ktag=ktag, bits=int(bits or 0), tlsrpt_only=bool(tlsrpt_only), public_key=public_key
    )


def _openssl_verdict(
    sig: dict[bytes, bytes], parsed: _ParsedKey, body_ok: bool, header_digest: bytes
) -> tuple[bool, str] | None:
    """dkimpy's ``verify_sig_process`` outcome for rsa-sha256, with OpenSSL doing the RSA step.

    Returns (verified, dkimpy's error text) as ``dkim.DKIM.verify`` would, or None when the
    case is not the plain RSA one and dkimpy itself must decide.
    """
    key = parsed.public_key
    if sig.get(b"a") != b"rsa-sha256" or parsed.ktag != b"rsa" or key is None:
        return None
    if parsed.tlsrpt_only:
        return None
    signature = base64.b64decode(_WHITESPACE_BYTES.sub(b"", sig[b"b"]))
    if len(signature) != (key.key_size + 7) // 8:
        return None  # dkimpy's arithmetic tolerates a short b=; let it judge that oddity
    if not body_ok:
        # dkimpy checks the body hash first and raises on a mismatch.
        return False, "body hash mismatch"
    try:
        key.verify(signature, header_digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False, ""
    except ValueError:
        return None
    if parsed.bits < MIN_KEY_BITS:
        return False, f"public key too small: {parsed.bits}"
    return True, ""


def _header_line(name: bytes, value: bytes) -> str:
    return (name + b":" + value).decode("utf-8", "replace").rstrip("\r\n")


@dataclass
class _Work:
    """Facts collected while checking one signature, frozen into a SignatureCheck at the end."""

    index: int
    steps: Steps  # shared with the whole verification; this signature's lines start at ``first``
    first: int = 0
    sig: dict[bytes, bytes] = field(default_factory=dict)
    canonical_headers: tuple[str, ...] = ()
    header_digest: bytes = b""
    body_claimed: str = ""
    body_computed: str = ""
    key: KeyLookup | None = None
    key_bits: int = 0
    public_key: rsa.RSAPublicKey | None = None

    def check(
        self, status: DkimStatus, failure: DkimFailure | None = None, detail: str = ""
    ) -> SignatureCheck:
        sig = self.sig

        def text(tag: bytes) -> str:
            return _tag_text(sig.get(tag, b""))

        return SignatureCheck(
            index=self.index,
            status=status,
            failure=failure,
            detail=detail,
            domain=text(b"d").lower(),
            selector=text(b"s"),
            algorithm=text(b"a"),
            canonicalization=text(b"c") or "simple/simple",
            tags=tuple((k.decode("ascii", "replace"), _tag_text(v)) for k, v in sig.items()),
            signed_header_names=tuple(
                n.strip().lower() for n in text(b"h").split(":") if n.strip()
            ),
            canonical_headers=self.canonical_headers,
            body_hash_claimed=self.body_claimed,
            body_hash_computed=self.body_computed,
            key=self.key,
            key_bits=self.key_bits,
            steps=self.steps.freeze()[self.first :],
        )


def _fail(work: _Work, failure: DkimFailure, detail: str) -> SignatureCheck:
    status = _FAILURE_STATUS[failure]
    work.steps.add(f"result: dkim={status} ({failure}): {detail}")
    return work.check(status, failure, detail)


async def _check_signature(
    message: bytes,
    headers: list[list[bytes]],
    body: bytes,
    sig_header: tuple[bytes, bytes],
    index: int,
    lookup: DnsLookup,
    steps: Steps,
) -> SignatureCheck:
    work = _Work(index=index, steps=steps, first=len(steps))

    # 1. The signature's tags (RFC 6376 §3.5).
    try:
        work.sig = parse_tag_value(sig_header[1])
    except InvalidTagValueList as exc:
        return _fail(work, DkimFailure.MALFORMED, f"the tag list does not parse ({exc})")
    tags = "; ".join(
        f"{k.decode('ascii', 'replace')}="
        + (_abbrev(_tag_text(v)) if k in (b"b", b"bh") else _tag_text(v))
        for k, v in work.sig.items()
    )
    steps.add(f"tags: {tags}")
    try:
        dkim.validate_signature_fields(work.sig)
    except dkim.ValidationError as exc:
        return _fail(work, DkimFailure.MALFORMED, str(exc))
    sig = work.sig
    domain, selector = _tag_text(sig[b"d"]).lower(), _tag_text(sig[b"s"])
    try:
        canon = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
    except InvalidCanonicalizationPolicyError as exc:
        return _fail(work, DkimFailure.MALFORMED, f"unknown canonicalization c={exc}")
    c_value = canon.to_c_value().decode("ascii")
    steps.add(f"signed by d={domain} with selector s={selector}, a={_tag_text(sig[b'a'])}")

    # 2. The signed header fields, canonicalised, in the order they were hashed (§3.7).
    include = [n.lower() for n in _H_SEPARATOR.split(sig[b"h"].strip()) if n]
    if b"from" in include:
        # As dkimpy does (Debian bug 644046): an extra From added below would be hashed too.
        include.append(b"from")
    hasher = dkim.HASH_ALGORITHMS[sig[b"a"]]
    header_hash = dkim.HashThrough(hasher())
    chosen = dkim.hash_headers(
        header_hash, canon, canon.canonicalize_headers(headers), include, sig_header, sig
    )
    signature_line = canon.canonicalize_headers(
        [(sig_header[0], dkim.RE_BTAG.sub(b"\\1", sig_header[1]))]
    )[0]
    work.canonical_headers = tuple(
        [_header_line(n, v) for n, v in chosen]
        + [_header_line(signature_line[0], signature_line[1].rstrip())]
    )
    work.header_digest = header_hash.digest()
    steps.add(f"headers canonicalised ({c_value.split('/')[0]}) and hashed in h= order:")
    with steps.nested():
        for line in work.canonical_headers:
            steps.add(line if len(line) <= 120 else line[:117] + "...")
    missing = sorted({n.decode() for n in include} - {n.decode().lower() for n, _ in chosen})
    if missing:
        steps.add(f"listed in h= but absent (hashed as nothing): {', '.join(missing)}")

    # 3. The body hash: computed over the canonicalised body vs the claimed bh= (§3.7).
    canonical_body = canon.canonicalize_body(body)
    if b"l" in sig:
        canonical_body = canonical_body[: int(sig[b"l"])]
    body_hasher = hasher()
    body_hasher.update(canonical_body)
    work.body_computed = base64.b64encode(body_hasher.digest()).decode("ascii")
    work.body_claimed = _tag_text(sig[b"bh"])
    body_ok = work.body_computed == work.body_claimed
    try:
        # dkimpy's comparison: the decoded digests, so equivalent base64 spellings agree.
        body_bytes_ok = body_hasher.digest() == base64.b64decode(work.body_claimed)
    except ValueError:
        body_bytes_ok = False
    steps.add(
        f"body canonicalised ({c_value.split('/')[-1]}): {len(canonical_body)} bytes; "
        f"computed bh={work.body_computed}"
    )
    steps.add(
        f"claimed  bh={work.body_claimed} -> "
        + ("match" if body_ok else "MISMATCH: the body changed after signing")
    )

    # 4. The public key, fetched through the world's DNS (§3.6.2).
    key_name = f"{selector}._domainkey.{domain}"
    work.key = key = await fetch_key(key_name, lookup)
    shown = f'"{_abbrev(key.key_record, 48)}"' if key.key_record else "(no TXT record)"
    steps.add(f"key lookup: {key_name} TXT -> {key.error or key.rcode} {shown}")
    if key.error or key.rcode not in ("NOERROR", "NXDOMAIN"):
        return _fail(
            work,
            DkimFailure.KEY_LOOKUP_FAILED,
            f"the DNS lookup of {key_name} failed ({key.error or key.rcode}); try again later",
        )
    if not key.key_record:
        why = "does not exist (NXDOMAIN)" if key.rcode == "NXDOMAIN" else "has no TXT record"
        return _fail(work, DkimFailure.KEY_MISSING, f"{key_name} {why}: no key for signature")
    parsed = _parse_key(key_name, key.key_record)
    if parsed.error:
        return _fail(
            work, DkimFailure.KEY_INVALID, f"the key record is not usable ({parsed.error})"
        )
    work.key_bits = parsed.bits
    work.public_key = parsed.public_key
    steps.add(f"public key: {parsed.ktag.decode()} {work.key_bits} bits")

    # 5. The verdict: dkimpy's rules over the work done above (see module docstring).
    outcome = _openssl_verdict(sig, parsed, body_bytes_ok, work.header_digest)
    if outcome is None:
        verifier = dkim.DKIM(message, minkey=MIN_KEY_BITS)
        try:
            outcome = bool(verifier.verify(idx=index, dnsfunc=_prefetched_dnsfunc(key))), ""
        except dkim.DKIMException as exc:
            outcome = False, str(exc)
    verified, dkimpy_error = outcome
    if verified:
        steps.add("signature b= verifies with the published key over the hashed headers")
        steps.add(f"result: dkim=pass (d={domain}, s={selector})")
        return work.check(DkimStatus.PASS)

    # 6. What the signature itself says, recovered with the public key (see module docstring).
    signed_digest = _recover_signed_digest(work, sig)
    headers_ok = signed_digest is not None and signed_digest == work.header_digest
    if dkimpy_error.startswith("public key too small"):
        return _fail(work, DkimFailure.KEY_INVALID, dkimpy_error)
    if not body_ok:
        if headers_ok:
            steps.add("the header signature itself is still valid: only the body was changed")
        return _fail(
            work,
            DkimFailure.BODY_HASH_MISMATCH,
            "the body hash computed here differs from bh=; the body changed after signing",
        )
    if signed_digest is None:
        return _fail(
            work,
            DkimFailure.BAD_SIGNATURE,
            f"b= was not made with the key published at {key_name} "
            "(wrong or rotated key, or a forged signature)",
        )
    steps.add("b= decrypts with the published key, but to the digest of different header bytes")
    return _fail(
        work,
        DkimFailure.HEADER_CHANGED,
        "a signed header field (one of h=) or the signature's own tags changed after signing",
    )


def _recover_signed_digest(work: _Work, sig: dict[bytes, bytes]) -> bytes | None:
    """The header digest the signer signed, or None if the key did not make this signature."""
    if work.public_key is None:
        return None
    signature = base64.b64decode(_WHITESPACE_BYTES.sub(b"", sig[b"b"]))
    try:
        digest_info = work.public_key.recover_data_from_signature(
            signature, padding.PKCS1v15(), None
        )
    except (InvalidSignature, ValueError):
        return None
    # DigestInfo ends with the raw digest (RFC 8017 §9.2); its length is the hash's size.
    return digest_info[-len(work.header_digest) :]


async def verify(message: bytes, lookup: DnsLookup) -> DkimResult:
    """Verify every DKIM-Signature of ``message``, looking keys up through ``lookup``."""
    steps = Steps()
    try:
        headers, body = dkim.rfc822_parse(message)
    except dkim.MessageFormatError as exc:
        steps.add(f"the message header does not parse: {exc}")
        check = SignatureCheck(
            index=0, status=DkimStatus.PERMERROR, failure=DkimFailure.MALFORMED, detail=str(exc)
        )
        return DkimResult(signatures=(check,), steps=steps.freeze())
    signature_headers = [
        (name, value) for name, value in headers if name.lower() == SIGNATURE_HEADER
    ]
    if not signature_headers:
        steps.add("no DKIM-Signature header field: the message is unsigned")
        steps.add("result: dkim=none")
        return DkimResult(steps=steps.freeze())
    checks: list[SignatureCheck] = []
    for index, sig_header in enumerate(signature_headers):
        steps.add(f"DKIM-Signature {index + 1} of {len(signature_headers)}:")
        with steps.nested():
            checks.append(
                await _check_signature(message, headers, body, sig_header, index, lookup, steps)
            )
    result = DkimResult(signatures=tuple(checks))
    steps.add(f"overall: dkim={result.status}")
    return DkimResult(signatures=tuple(checks), steps=steps.freeze())


def dkim_verdict(result: DkimResult) -> Verdict:
    """The DKIM verdict for the receiver: it never rejects by itself (RFC 6376 §6.3).

    A failed signature makes the message as trustworthy as an unsigned one; whether that
    matters is DMARC's decision, so the action is always ``none``.
    """
    return Verdict(
        check="dkim",
        result=str(result.status),
        reasons=Verdict.reasons_from(result.steps),
        action=Action.NONE,
        extra={
            "signatures": tuple(result.pairs()),
            "failure": str(result.failure) if result.failure else "",
        },
    )
