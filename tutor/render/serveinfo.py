"""What `serve` prints: the world's hosts, ports, CA and ready-to-paste client commands."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tutor.runstate import WorldInfo


def render_serve_info(info: WorldInfo) -> Iterator[str]:
    q = shlex.quote
    yield f"smtp-tutor world for scenario {info.scenario!r} is up. Ctrl-C stops it."
    yield ""
    yield f"DNS server   {info.dns_name:<22} {info.dns_address}  port {info.dns_port} (udp+tcp)"
    for host in info.hosts:
        ports = ", ".join(f"{service} {port}" for service, port in host.ports.items())
        state = f"  [{host.state}]" if host.state else ""
        yield (
            f"{host.role:<12} {host.name:<22} {host.address}  "
            f"{ports or '(no listening ports)'}{state}"
        )
    yield ""
    yield f"CA certificate  {info.ca_path}"
    yield f"Mailboxes       {info.mailbox_root}  (one Maildir per user)"
    yield f"Zone file       {info.zone_file}  (what the DNS serves; `check --zone` reads it)"
    if info.shared_loopback:
        yield "Note: this machine has only 127.0.0.1; every host really listens there."
    yield ""
    yield "Users:"
    for user in info.users:
        secret = f"password {user.password}" if user.password else "mailbox only"
        yield f"  {user.address:<28} {secret}"
    yield ""
    yield "Try these in another terminal:"
    dns = f"@{info.dns_address} -p {info.dns_port}"
    receivers = [h for h in info.hosts if h.role in ("mx", "gateway") and "smtp" in h.ports]
    senders = [h for h in info.hosts if "submission" in h.ports]
    if receivers:
        mx = receivers[0]
        domain = mx.name.split(".", 1)[1]
        local_users = [u for u in info.users if u.address.endswith("@" + domain)]
        rcpt = local_users[0].address if local_users else f"postmaster@{domain}"
        port = mx.ports["smtp"]
        yield f"  dig {dns} {domain} MX"
        yield f"  dig {dns} {mx.name} A"
        yield f"  nc -C {mx.address} {port}              # then type EHLO me, MAIL FROM:<...>, ..."
        yield (
            f"  swaks --server {mx.address} --port {port} --to {rcpt} "
            f"--from student@example.com -tls --tls-ca-path {q(str(info.ca_path))}"
        )
        yield (
            f"  openssl s_client -starttls smtp -connect {mx.address}:{port} "
            f"-servername {mx.name} -CAfile {q(str(info.ca_path))}"
        )
    rcpt_hint = rcpt if receivers else ""
    for host in senders:
        user = next((u for u in info.users if u.password), None)
        if user is None:
            continue
        yield (
            f"  swaks --server {host.address} --port {host.ports['submission']} -tls "
            f"--auth PLAIN --auth-user {user.address} --auth-password {q(user.password)} "
            f"--tls-ca-path {q(str(info.ca_path))} --from {user.address} "
            f"--to {rcpt_hint or user.address}"
        )
        if "submissions" in host.ports:
            yield (
                f"  openssl s_client -connect {host.address}:{host.ports['submissions']} "
                f"-servername {host.name} -CAfile {q(str(info.ca_path))}   # port-465 style"
            )
