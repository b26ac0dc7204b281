"""The organizational domain of a DNS name (RFC 7489 §3.2), for DMARC lookup and alignment.

DMARC needs to know that ``mail.example.com`` and ``news.example.com`` belong to the same
organization (``example.com``) while ``example.co.uk`` and ``other.co.uk`` do not. Real
receivers decide that with the Public Suffix List (https://publicsuffix.org).

Limitation, stated plainly: the tutor never touches the internet and must start without
downloading anything, so it bundles only a small subset of that list — the multi-label
suffixes below — together with the list's own default rule "``*``" (RFC 7489 §3.2 step 3 and
the PSL algorithm: when no rule matches, the top-level label is the public suffix). That
default already gives the right answer for every single-label TLD (``com``, ``net``, ``org``,
``example``, ``test``, ``invalid``, ``localhost``, ``uk``...), which covers every world the
tutor ships. Names under private-section suffixes (``github.io``) or under multi-label
suffixes not bundled here (``city.kawasaki.jp``) get a wrong, too-short organizational
domain. Wildcard and exception rules are not supported.
"""

from __future__ import annotations

# Multi-label public suffixes a learner is likely to type. Single-label TLDs need no entry:
# the PSL default rule "*" makes every top-level label a public suffix.
BUNDLED_SUFFIXES: frozenset[str] = frozenset(
    {
        # United Kingdom
        "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk", "sch.uk",
        # Australia, New Zealand
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.nz", "org.nz", "net.nz", "ac.nz", "govt.nz",
        # Japan, Brazil, India, South Africa, others often seen in examples
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
        "com.br", "net.br", "org.br", "gov.br",
        "co.in", "net.in", "org.in", "ac.in", "gov.in",
        "co.za", "org.za", "ac.za", "gov.za",
        "com.cn", "net.cn", "org.cn", "edu.cn", "gov.cn",
        "com.mx", "org.mx", "gob.mx",
        "co.kr", "or.kr", "ac.kr",
        "com.tr", "org.tr", "gov.tr",
    }
)  # fmt: skip


def _labels(domain: str) -> list[str]:
    return [label for label in domain.strip().rstrip(".").lower().split(".") if label]


def public_suffix(domain: str) -> str:
    """The longest bundled public suffix of ``domain`` (its TLD when none is bundled)."""
    labels = _labels(domain)
    if not labels:
        return ""
    # Longest match wins (RFC 7489 §3.2 step 3): try the longest tail first.
    for start in range(len(labels)):
        candidate = ".".join(labels[start:])
        if candidate in BUNDLED_SUFFIXES:
            return candidate
    return labels[-1]


def organizational_domain(domain: str) -> str:
    """The public suffix plus one more label of ``domain`` (RFC 7489 §3.2 step 4).

    ``mail.example.com`` -> ``example.com``; ``a.b.example.co.uk`` -> ``example.co.uk``.
    A name that is itself a public suffix is its own organizational domain.
    """
    labels = _labels(domain)
    suffix_len = len(_labels(public_suffix(domain)))
    if len(labels) <= suffix_len:
        return ".".join(labels)
    return ".".join(labels[-(suffix_len + 1) :])


def same_organization(a: str, b: str) -> bool:
    """True when both names have the same organizational domain (relaxed alignment)."""
    return organizational_domain(a) == organizational_domain(b)
