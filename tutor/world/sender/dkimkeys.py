"""DKIM key pairs of a world's signing domains, cached per user so start-up stays fast.

A world's sending MTA signs with a private key; the world's DNS publishes the matching public
key as a TXT record at ``<selector>._domainkey.<domain>`` (RFC 6376 §3.6). Generating a 2048-bit
RSA key takes a noticeable fraction of a second, so each (domain, selector) key is generated
once and kept in the user's cache directory (``$XDG_CACHE_HOME/smtp-tutor/dkim/``); later runs
read it back. The keys protect nothing — they only ever sign mail on loopback — but they are
still written owner-readable only, as a learner would be taught to store a real one.

RSA is the teaching default: it is what almost every DKIM signer uses and what every verifier
understands (ed25519, RFC 8463, needs PyNaCl in dkimpy and is still not universally verified).
"""

from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048
DEFAULT_SELECTOR = "tutor"
# A DNS TXT record is a list of character-strings of at most 255 octets each (RFC 1035 §3.3);
# a 2048-bit key does not fit in one, so the record is split (RFC 6376 §3.6.2.2).
TXT_STRING_MAX = 255


@dataclass(frozen=True)
class DkimKey:
    """One signing key: the private half for the signer, the public half for the zone."""

    domain: str
    selector: str
    private_pem: bytes  # PKCS#1 "RSA PRIVATE KEY" PEM, the form dkimpy reads
    public_b64: str  # base64 DER SubjectPublicKeyInfo, the p= tag

    @property
    def record_name(self) -> str:
        """Where verifiers look for the public key: ``selector._domainkey.domain``."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_record(self) -> str:
        """The key record's text, as one string (RFC 6376 §3.6.1 tags)."""
        return f"v=DKIM1; k=rsa; p={self.public_b64}"

    @property
    def txt_strings(self) -> tuple[str, ...]:
        """The record split into the <=255-octet character-strings DNS carries."""
        text = self.txt_record
        return tuple(text[i : i + TXT_STRING_MAX] for i in range(0, len(text), TXT_STRING_MAX))

    def zone_line(self, ttl: int | None = None) -> str:
        """A master-file line publishing the key, e.g. for a world's zone text."""
        strings = " ".join(f'"{s}"' for s in self.txt_strings)
        ttl_part = f" {ttl}" if ttl is not None else ""
        return f"{self.record_name}.{ttl_part} IN TXT {strings}"


def default_cache_dir() -> Path:
    """The per-user cache directory for keys, following each platform's convention."""
    override = os.environ.get("SMTP_TUTOR_CACHE")
    if override:
        return Path(override) / "dkim"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        base = Path(xdg)
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path.home() / ".cache"
    return base / "smtp-tutor" / "dkim"


def _safe(label: str) -> str:
    # Domain names are already filename-safe on every platform except for case and odd
    # characters a malformed scenario might bring; keep them out of paths.
    return re.sub(r"[^a-z0-9.-]", "_", label.lower().rstrip("."))


def generate_private_pem() -> bytes:
    """A fresh 2048-bit RSA private key as PKCS#1 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_b64_from_private(private_pem: bytes) -> str:
    """The p= value for a private key: base64 of the DER SubjectPublicKeyInfo."""
    # Skipping the RSA consistency check saves ~40 ms per key at every start; the cache only
    # ever holds keys this module generated, and a damaged file still fails to parse.
    key = serialization.load_pem_private_key(
        private_pem, password=None, unsafe_skip_rsa_key_validation=True
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _read_cached(path: Path) -> bytes | None:
    try:
        pem = path.read_bytes()
        public_b64_from_private(pem)  # a truncated or foreign file is regenerated, not trusted
    except (OSError, ValueError, TypeError):
        return None
    return pem


def _write_cached(path: Path, pem: bytes) -> None:
    """Write atomically so two tutors starting at once never read half a key."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pem")
        try:
            os.chmod(tmp, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(pem)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        # A read-only home (some lab machines) only costs start-up time, never correctness.
        pass


def world_key(
    domain: str, selector: str = DEFAULT_SELECTOR, *, cache_dir: Path | None = None
) -> DkimKey:
    """The key for ``domain``/``selector``: read from the cache, or generated and cached."""
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    path = directory / f"{_safe(selector)}._domainkey.{_safe(domain)}.pem"
    pem = _read_cached(path)
    if pem is None:
        pem = generate_private_pem()
        _write_cached(path, pem)
    return DkimKey(
        domain=domain.lower().rstrip("."),
        selector=selector,
        private_pem=pem,
        public_b64=public_b64_from_private(pem),
    )
