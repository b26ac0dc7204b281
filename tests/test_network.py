"""The address plan and the loopback-only guard."""

from __future__ import annotations

import pytest

from tutor.world.network import (
    LoopbackOnlyError,
    NetworkPlan,
    NotInWorldError,
    Service,
    ensure_loopback,
)


def test_only_loopback_addresses_can_be_planned() -> None:
    with pytest.raises(LoopbackOnlyError):
        NetworkPlan.build({"evil.example": "10.0.0.1"}, shared_loopback=False)
    with pytest.raises(LoopbackOnlyError):
        ensure_loopback("0.0.0.0")
    assert ensure_loopback("::1") == "::1"


def test_route_refuses_any_address_outside_the_world() -> None:
    plan = NetworkPlan.build({"mx.example.net": "127.0.0.21"}, shared_loopback=False)
    plan.allocate_port("mx.example.net", Service.SMTP)
    with pytest.raises(NotInWorldError, match=r"93\.184\.216\.34 is not a host of this mail world"):
        plan.route("93.184.216.34")
    with pytest.raises(NotInWorldError, match="has no submission service"):
        plan.route("127.0.0.21", Service.SUBMISSION)
    host, bind, port = plan.route("127.0.0.21")
    assert (host.name, bind) == ("mx.example.net", "127.0.0.21") and port > 0


def test_ports_are_picked_free_and_differ_between_worlds() -> None:
    one = NetworkPlan.build({"mx.example.net": "127.0.0.21"}, shared_loopback=False)
    two = NetworkPlan.build({"mx.example.net": "127.0.0.21"}, shared_loopback=False)
    ports = {one.allocate_port("mx.example.net", s) for s in Service} | {
        two.allocate_port("mx.example.net", s) for s in Service
    }
    assert len(ports) == 2 * len(Service)


def test_shared_loopback_fallback_still_tells_hosts_apart() -> None:
    plan = NetworkPlan.build(
        {"smtp.example.org": "127.0.0.12", "mx.example.net": "127.0.0.13"}, shared_loopback=True
    )
    assert plan.host("smtp.example.org").bind_address == "127.0.0.1"
    plan.note_outgoing("smtp.example.org", ("127.0.0.1", 40001))
    assert plan.identify_peer(("127.0.0.1", 40001)) == ("smtp.example.org", "127.0.0.12")
    # a student's nc is not a host of the world and keeps its own address
    assert plan.identify_peer(("127.0.0.1", 40002)) == ("[127.0.0.1]", "127.0.0.1")
