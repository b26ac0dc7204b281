"""The Authentication-Results header (RFC 8601) summarising SPF, DKIM and DMARC, via authres.

The receiving server records what it verified in one header at the top of the message, under
its own name (the authserv-id), so that the mail reader — and any filter after it — can read
the results without repeating the checks. Later hops must only trust a header carrying their
own ADMD's authserv-id (RFC 8601 §5); that is how the gateway scenario's inner server can
trust its gateway's results.
"""

from __future__ import annotations

from dataclasses import dataclass

import authres
import authres.dmarc
from authres.core import AuthenticationResult, AuthenticationResultsHeader

from tutor.policy.dkim import DkimResult, DkimStatus
from tutor.policy.dmarc import DmarcResult

HEADER_NAME = "Authentication-Results"


@dataclass(frozen=True)
class SpfSummary:
    """What Authentication-Results needs from SPF (RFC 8601 §2.7.2).

    ``mailfrom`` is the MAIL FROM address (or its domain); for a null reverse-path, where SPF
    checked the HELO identity instead, leave it empty and give ``helo``.
    """

    result: str
    mailfrom: str = ""
    helo: str = ""


def _feature_context() -> authres.FeatureContext:
    # The core context knows spf and dkim; DMARC (RFC 7489 §11.2) is an extension module.
    return authres.FeatureContext(authres.dmarc)


def _spf_clause(spf: SpfSummary) -> AuthenticationResult:
    if spf.mailfrom:
        return authres.SPFAuthenticationResult(result=spf.result, smtp_mailfrom=spf.mailfrom)
    return authres.SPFAuthenticationResult(result=spf.result, smtp_helo=spf.helo or None)


def _dkim_clauses(dkim: DkimResult) -> list[AuthenticationResult]:
    if not dkim.signatures:
        return [authres.DKIMAuthenticationResult(result=str(DkimStatus.NONE))]
    clauses: list[AuthenticationResult] = []
    for check in dkim.signatures:
        clauses.append(
            authres.DKIMAuthenticationResult(
                result=str(check.status),
                reason=str(check.failure) if check.failure else None,
                header_d=check.domain or None,
                header_s=check.selector or None,
            )
        )
    return clauses


def _dmarc_clause(dmarc: DmarcResult) -> AuthenticationResult:
    # OpenDMARC's comment "(p=reject dis=none)": the published policy and what was done.
    comment = None
    if dmarc.applied_policy is not None:
        comment = f"p={dmarc.applied_policy} dis={dmarc.disposition}"
    return authres.dmarc.DMARCAuthenticationResult(
        result=str(dmarc.status), result_comment=comment, header_from=dmarc.from_domain
    )


def build_header(
    authserv_id: str,
    *,
    spf: SpfSummary | None = None,
    dkim: DkimResult | None = None,
    dmarc: DmarcResult | None = None,
) -> str:
    """The header line ``Authentication-Results: <authserv-id>; spf=...; dkim=...; dmarc=...``.

    ``authserv_id`` is the receiving host's name. Checks that were not run are left out; with
    none at all the header says ``none`` (RFC 8601 §2.2).
    """
    results: list[AuthenticationResult] = []
    if spf is not None:
        results.append(_spf_clause(spf))
    if dkim is not None:
        results.extend(_dkim_clauses(dkim))
    if dmarc is not None:
        results.append(_dmarc_clause(dmarc))
    header = AuthenticationResultsHeader(
        _feature_context(), authserv_id=authserv_id, results=results
    )
    return str(header)


def parse_header(text: str) -> AuthenticationResultsHeader:
    """Parse an unfolded Authentication-Results header line (with its field name)."""
    return _feature_context().parse(text)
