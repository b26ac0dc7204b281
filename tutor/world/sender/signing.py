"""DKIM on the sending side of the world: sign outgoing mail, publish the keys in the zones.

The outbound host signs like OpenDKIM with a KeyTable/SigningTable: only mail whose envelope
sender belongs to one of the host's own domains, with that domain as ``d=`` and the host's
``dkim_selector`` as ``s=``. The matching public keys are published at
``<selector>._domainkey.<domain>`` in whichever scenario zone covers that name, so a
receiver's key lookup is an ordinary query to the world's DNS server.
"""

from __future__ import annotations

import re

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
from dkim.util import parse_tag_value

from tutor.policy.dkim import DkimSigningError, sign
from tutor.scenario import HostSpec, Role, Scenario
from tutor.trace import Side, Stage
from tutor.world.context import WorldContext
from tutor.world.sender.dkimkeys import world_key

KEY_TTL = 3600


def signing_domain(host: HostSpec, sender: str) -> str:
    """The d= for mail from ``sender`` on ``host``, or "" when this host does not sign it."""
    if not host.dkim_selector:
        return ""
    domain = sender.rpartition("@")[2].lower().rstrip(".")
    return domain if domain in {d.lower() for d in host.domains} else ""


def already_signed(content: bytes, domain: str) -> bool:
    """Whether ``content`` already carries this domain's signature (a retry re-enters deliver)."""
    head = content.split(b"\r\n\r\n", 1)[0]
    pattern = rb"(?im)^DKIM-Signature:(?:.*\r?\n[ \t])*?.*\bd=" + re.escape(domain.encode())
    return re.search(pattern + rb"\s*(;|$)", head) is not None


def sign_outgoing(
    ctx: WorldContext, host: HostSpec, sender: str, content: bytes, *, queue_id: str = ""
) -> bytes:
    """``content`` with a DKIM-Signature when ``host`` signs for the sender's domain.

    Publishes a Note saying what was signed (or why not), so the trace shows the signature
    being made before the receiver checks it.
    """
    domain = signing_domain(host, sender)
    if not domain or already_signed(content, domain):
        return content
    key = world_key(domain, host.dkim_selector)
    try:
        signed = sign(content, domain, host.dkim_selector, key.private_pem)
    except DkimSigningError as exc:
        _note(ctx, host, f"DKIM signing skipped: {exc}", level="warning")
        return content
    tags = _signature_tags(signed[: len(signed) - len(content)])
    _note(
        ctx,
        host,
        f"{queue_id + ': ' if queue_id else ''}DKIM-signed as d={domain} s={host.dkim_selector} "
        f"(a={tags.get('a', '')}, c={tags.get('c', '')}); signed headers h={tags.get('h', '')}; "
        f"body hash bh={tags.get('bh', '')}; the public key is published at "
        f"{key.record_name} TXT (RFC 6376 §3.6)",
    )
    return signed


def _signature_tags(header: bytes) -> dict[str, str]:
    """The tags of a DKIM-Signature header line, whitespace removed, for the trace note."""
    value = header.partition(b":")[2]
    return {
        name.decode(): re.sub(r"\s+", "", text.decode("ascii", "replace"))
        for name, text in parse_tag_value(value).items()
    }


def _note(ctx: WorldContext, host: HostSpec, text: str, *, level: str = "info") -> None:
    ctx.note(text, host=host.name, stage=Stage.QUEUE, side=Side.CLIENT, level=level)


def publish_dkim_keys(scenario: Scenario, zones: list[dns.zone.Zone]) -> None:
    """Add each signing host's public key TXT record to the zone covering its name.

    A teacher's own record at that name wins (a lesson may publish a wrong or revoked key).
    """
    for host in scenario.hosts:
        if host.role is not Role.OUTBOUND or not host.dkim_selector:
            continue
        for domain in host.domains:
            key = world_key(domain, host.dkim_selector)
            name = dns.name.from_text(key.record_name)
            zone = _covering(zones, name)
            if zone is None:
                continue
            node = zone.get_node(name)
            if node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT):
                continue
            strings = " ".join(f'"{s}"' for s in key.txt_strings)
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
            zone.find_rdataset(name, dns.rdatatype.TXT, create=True).add(rdata, KEY_TTL)


def _covering(zones: list[dns.zone.Zone], name: dns.name.Name) -> dns.zone.Zone | None:
    best: dns.zone.Zone | None = None
    for zone in zones:
        origin = zone.origin
        if (
            origin is not None
            and name.is_subdomain(origin)
            and (best is None or len(origin) > len(best.origin or ()))
        ):
            best = zone
    return best
