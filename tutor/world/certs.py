"""A certificate authority made fresh for each run, and TLS contexts built from it.

Each world gets its own CA (ECDSA P-256 via trustme, a few milliseconds), so no key is shared
between runs or students. The CA certificate is written into the run directory so learners can
point openssl s_client -CAfile or swaks --tls-ca-path at it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

CA_FILENAME = "ca.pem"


class WorldCA:
    def __init__(self, run_dir: Path, organisation: str = "smtp-tutor world CA") -> None:
        self._ca = trustme.CA(organization_name=organisation)
        self.path = run_dir / CA_FILENAME
        self.path.write_bytes(self._ca.cert_pem.bytes())
        self._leaves: dict[str, trustme.LeafCert] = {}

    def leaf(self, host_name: str, address: str = "") -> trustme.LeafCert:
        if host_name not in self._leaves:
            identities = [host_name, *([address] if address else [])]
            self._leaves[host_name] = self._ca.issue_cert(
                *identities, common_name=host_name, organization_name="smtp-tutor world"
            )
        return self._leaves[host_name]

    def server_context(self, host_name: str, address: str = "") -> ssl.SSLContext:
        """What a server of this world presents: its own leaf certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf(host_name, address).configure_cert(context)
        return context

    def client_context(self, verify: bool = True) -> ssl.SSLContext:
        """What a client of this world trusts: only this run's CA (never the system store)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(context)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
