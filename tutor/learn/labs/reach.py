"""Where a learner's client must really connect: the published address, or 127.0.0.1.

In shared-loopback mode (``SMTP_TUTOR_SHARED_LOOPBACK=1``, or where only 127.0.0.1 can be
bound) the DNS still publishes each host's own 127.0.0.x address, but every host listens on
127.0.0.1: whatever a lab prints for the student to type must be what they can reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tutor.runstate import HostInfo, WorldInfo

SHARED_ADDRESS = "127.0.0.1"


def reachable(info: WorldInfo, address: str) -> str:
    """The address a client on this machine connects to for a host published at ``address``."""
    return SHARED_ADDRESS if info.shared_loopback else address


def host_named(info: WorldInfo, name: str) -> HostInfo:
    for host in info.hosts:
        if host.name == name:
            return host
    raise KeyError(f"{name} is not a host of this world")


def endpoint(info: WorldInfo, name: str, service: str = "smtp") -> tuple[str, int]:
    """(address, port) to connect to for one service of one host."""
    host = host_named(info, name)
    return reachable(info, host.address), host.ports[service]


def world_json(info: WorldInfo) -> dict:
    """``serve --json``'s object plus what a learner must type: each address to connect to."""
    data = info.to_json()
    data["mode"] = "shared-loopback" if info.shared_loopback else "per-host"
    data["run_dir"] = str(info.run_dir)
    data["dns"]["connect"] = reachable(info, info.dns_address)
    for host in data["hosts"]:
        host["connect"] = reachable(info, host["address"])
    return data


def info_from_json(data: dict) -> WorldInfo:
    """The WorldInfo a world process described in its state file (``world_json``)."""
    from pathlib import Path

    from tutor.runstate import HostInfo, UserInfo, WorldInfo

    return WorldInfo(
        scenario=data["scenario"],
        dns_name=data["dns"]["name"],
        dns_address=data["dns"]["host"],
        dns_port=int(data["dns"]["port"]),
        ca_path=Path(data["ca"]),
        mailbox_root=Path(data["mailboxes"]),
        zone_file=Path(data["zone_file"]),
        run_dir=Path(data.get("run_dir", "")),
        hosts=tuple(
            HostInfo(h["name"], h["address"], h["role"], dict(h["ports"]), h.get("state", ""))
            for h in data["hosts"]
        ),
        users=tuple(UserInfo(u["address"], u.get("password", "")) for u in data["users"]),
        shared_loopback=data.get("mode") == "shared-loopback",
    )
