"""The world's DNS in one import: zones from the scenario, the authoritative server, the resolver.

The pieces live in zones.py (assembling zone data), dns_server.py (answering on UDP/TCP) and
resolver.py (the hosts' stub resolver with its TTL cache); this module re-exports them and
wires them together for a scenario.
"""

from __future__ import annotations

from tutor.scenario import Scenario
from tutor.world.context import WorldContext
from tutor.world.dns.resolver import (
    BADNAME,
    TIMEOUT,
    DnsTemporaryError,
    Record,
    Resolution,
    WorldResolver,
)
from tutor.world.dns.server import Authority, DnsServer
from tutor.world.dns.zones import ZoneError, build_zones
from tutor.world.network import Service, free_port_pair

__all__ = [
    "BADNAME",
    "TIMEOUT",
    "Authority",
    "DnsServer",
    "DnsTemporaryError",
    "Record",
    "Resolution",
    "WorldResolver",
    "ZoneError",
    "build_zones",
    "start_world_dns",
]


async def start_world_dns(
    ctx: WorldContext, scenario: Scenario, *, port: int = 0
) -> tuple[DnsServer, WorldResolver]:
    """Build the scenario's zones, start its DNS server and point ``ctx.resolver`` at it.

    The server binds where the network plan puts ``scenario.dns_name`` (allocating its DNS
    port there when ``port`` is 0); a plan without that host binds ``scenario.dns_address``
    on a free port. Raises ZoneError for bad zone text. The caller stops the server.
    """
    zones = build_zones(scenario)
    planned = ctx.plan.hosts.get(scenario.dns_name)
    if planned is not None:
        bind_address = planned.bind_address
        if not port:
            port = planned.ports.get(Service.DNS) or ctx.plan.allocate_port(
                scenario.dns_name, Service.DNS
            )
    else:
        bind_address = "127.0.0.1" if ctx.plan.shared_loopback else scenario.dns_address
        port = port or free_port_pair(bind_address)
    server = DnsServer(ctx, zones, scenario.dns_name, bind_address, port)
    await server.start()
    resolver = WorldResolver(ctx, bind_address, server.port)
    ctx.resolver = resolver
    return server, resolver
