"""Reference solutions and near-misses, done the way a student does them — and shown as such.

An ``smtp`` step is a session typed by hand: ``nc -C`` (every line typed, CRLF endings; with
``crlf = false`` the bare LF of nc without -C), or ``openssl s_client -starttls smtp -crlf
-quiet`` (the tool greets with EHLO and sends STARTTLS itself, verifies the certificate
against the lab's CA, then the student types the rest inside TLS). A ``dig`` step asks the
lab's DNS server one question over UDP. ``run_step`` does it over a real socket (blocking,
like the tools: call it from a thread); ``step_commands`` writes what the student types.
"""

from __future__ import annotations

import shlex
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tutor.learn.labs.model import Step, StepKind, TlsMode
from tutor.learn.labs.reach import endpoint, reachable

if TYPE_CHECKING:
    from tutor.runstate import WorldInfo

OPENSSL_EHLO = "mail.example.com"  # what openssl s_client -starttls smtp says in its EHLO


@dataclass
class StepLog:
    """What one step saw: lines sent and received (for the authoring check's error messages)."""

    lines: list[str] = field(default_factory=list)

    def sent(self, text: str) -> None:
        self.lines.append(f"-> {text}")

    def got(self, text: str) -> None:
        self.lines.append(f"<- {text}")

    def tail(self, count: int = 6) -> str:
        return " | ".join(self.lines[-count:])


class _LineSocket:
    """A socket read line by line, with no read-ahead past a reply (STARTTLS needs that)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self, log: StepLog) -> str:
        """One whole reply (every line of a multi-line one); its last line."""
        while True:
            text = self.line().decode("utf-8", "replace")
            log.got(text)
            if text[3:4] != "-":
                return text

    def send(self, text: str, ending: bytes, log: StepLog) -> None:
        log.sent(text)
        self.sock.sendall(text.encode("utf-8") + ending)


def run_step(step: Step, info: WorldInfo) -> StepLog:
    """Do one step against the running world; a timeout or a closed connection ends it."""
    if step.kind is StepKind.DIG:
        return _dig(step, info)
    return _smtp(step, info)


def _dig(step: Step, info: WorldInfo) -> StepLog:
    import dns.message
    import dns.query

    log = StepLog()
    query = dns.message.make_query(step.name, step.rdtype)
    log.sent(f"{step.name} {step.rdtype}")
    response = dns.query.udp(
        query, reachable(info, info.dns_address), port=info.dns_port, timeout=3
    )
    for rrset in response.answer:
        log.got(rrset.to_text())
    return log


def _smtp(step: Step, info: WorldInfo) -> StepLog:
    log = StepLog()
    address, port = endpoint(info, step.host, step.service)
    ending = b"\r\n" if step.crlf else b"\n"
    with socket.create_connection((address, port), timeout=step.timeout) as raw:
        conn = _LineSocket(raw)
        try:
            conn.reply(log)  # the greeting
            if step.tls is TlsMode.STARTTLS:
                conn.send(f"EHLO {OPENSSL_EHLO}", b"\r\n", log)
                conn.reply(log)
                conn.send("STARTTLS", b"\r\n", log)
                if not conn.reply(log).startswith("220"):
                    return log
                context = ssl.create_default_context(cafile=str(info.ca_path))
                conn = _LineSocket(context.wrap_socket(raw, server_hostname=step.host))
                log.lines.append("[tls] handshake done, certificate verified")
            in_data = False
            for line in step.lines:
                conn.send(line, ending, log)
                if in_data and line != ".":
                    continue
                reply = conn.reply(log)
                in_data = line.split(" ", 1)[0].upper() == "DATA" and reply.startswith("354")
                if line.upper() == "QUIT":
                    break
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            log.lines.append(f"[ended: {exc or type(exc).__name__}]")
    return log


# --------------------------------------------------------------------------- as typed


def step_commands(step: Step, info: WorldInfo) -> list[str]:
    """The command a student runs for ``step``, then each line they type (indented)."""
    q = shlex.quote
    if step.kind is StepKind.DIG:
        dns_at = reachable(info, info.dns_address)
        return [f"dig @{dns_at} -p {info.dns_port} {step.name} {step.rdtype}"]
    address, port = endpoint(info, step.host, step.service)
    if step.tls is TlsMode.STARTTLS:
        command = (
            f"openssl s_client -starttls smtp -connect {address}:{port} "
            f"-servername {step.host} -CAfile {q(str(info.ca_path))} -verify_return_error "
            "-crlf -quiet"
        )
    else:
        command = f"nc -C {address} {port}" if step.crlf else f"nc {address} {port}"
    return [command, *(f"    {line}" for line in step.lines)]


def placeholder_commands(step: Step) -> list[str]:
    """``step_commands`` without a running world: addresses and ports as placeholders."""
    if step.kind is StepKind.DIG:
        return [f"dig @DNS-ADDRESS -p DNS-PORT {step.name} {step.rdtype}"]
    target = f"ADDRESS-OF-{step.host} {step.service.upper()}-PORT"
    if step.tls is TlsMode.STARTTLS:
        command = (
            f"openssl s_client -starttls smtp -connect ADDRESS-OF-{step.host}:"
            f"{step.service.upper()}-PORT -servername {step.host} -CAfile CA-FILE "
            "-verify_return_error -crlf -quiet"
        )
    else:
        command = f"nc -C {target}" if step.crlf else f"nc {target}"
    return [command, *(f"    {line}" for line in step.lines)]
