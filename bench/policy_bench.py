"""Receiver throughput with the full policy pipeline against bare aiosmtpd, in the same run.

Both servers run on this process's event loop on loopback and are fed by the same Python load
generator: several concurrent connections, each sending messages back to back (MAIL, RCPT,
DATA; no pipelining). The policy receiver is the world's MX with DNSBL, SPF, DKIM and DMARC
switched on, fed a DKIM-signed message from the SPF-authorised host, so every message costs a
blocklist lookup (per connection), HELO and MAIL FROM SPF evaluations, a DKIM verification and
a DMARC evaluation, two headers and a Maildir write; DNS answers come from the resolver's TTL
cache after the first lookup, as a real resolver's would. Bare aiosmtpd accepts and discards.

Prints messages/second for each and the ratio. Target (issue 4): >= 50 % of bare aiosmtpd.
Usage: python bench/policy_bench.py [--connections N] [--messages N] [--seconds S] [--profile N]

``--profile N`` runs the full-pipeline measurement under cProfile and prints its N most
expensive functions (by own time) afterwards; the profiler slows every call, so the figures of
a profiled run are not comparable with an unprofiled one.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from tutor.policy.dkim import sign
from tutor.scenario import parse_scenario
from tutor.world.network import Service
from tutor.world.sender.dkimkeys import world_key
from tutor.world.smtp.mailbox import Mailboxes
from tutor.world.world import World

SCENARIO = """
[scenario]
name = "policy-bench"
title = "policy bench"

[[host]]
name = "laptop.example.org"
role = "client"

[[host]]
name = "smtp.example.org"
role = "outbound"
domains = ["example.org"]
dkim_selector = "tutor"

[[host]]
name = "mx.example.net"
role = "mx"
domains = ["example.net"]
CHECKS_LINE
dnsbl_zones = ["bl.example"]

[[user]]
address = "alice@example.org"
password = "wonderland"

[[user]]
address = "bob@example.net"

[[zone]]
origin = "example.net"
text = "@ IN MX 10 mx.example.net."

[[zone]]
origin = "example.org"
text = '''
@       IN TXT "v=spf1 ip4:${smtp.example.org} -all"
smtp    IN TXT "v=spf1 a -all"
_dmarc  IN TXT "v=DMARC1; p=reject"
'''

[[zone]]
origin = "bl.example"
text = ""

[message]
from = "alice@example.org"
to = ["bob@example.net"]
"""
CHECKS = 'checks = ["dnsbl", "spf", "dkim", "dmarc"]'
SCENARIO = SCENARIO.replace("CHECKS_LINE", CHECKS)


def signed_message() -> bytes:
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = "alice@example.org"
    message["To"] = "bob@example.net"
    message["Subject"] = "Benchmark"
    message["Message-ID"] = "<bench@example.org>"
    message.set_content("Hello Bob,\n\n" + "A line of an ordinary short message.\n" * 20)
    content = message.as_bytes(policy=SMTP_POLICY)
    key = world_key("example.org", "tutor")
    return sign(content, "example.org", "tutor", key.private_pem)


# --------------------------------------------------------------------------- load generator


async def _reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


async def _expect(reader: asyncio.StreamReader, code: bytes) -> None:
    line = await _reply(reader)
    if not line.startswith(code):
        raise RuntimeError(f"expected {code.decode()}, got {line.decode().strip()}")


async def _one_connection(
    address: str, port: int, source: str, content: bytes, count: int, deadline: float
) -> int:
    reader, writer = await asyncio.open_connection(address, port, local_addr=(source, 0))
    sent = 0
    try:
        await _expect(reader, b"220")
        writer.write(b"EHLO smtp.example.org\r\n")
        await _expect(reader, b"250")
        payload = content + (b"" if content.endswith(b"\r\n") else b"\r\n") + b".\r\n"
        while sent < count and time.perf_counter() < deadline:
            writer.write(b"MAIL FROM:<alice@example.org>\r\n")
            await _expect(reader, b"250")
            writer.write(b"RCPT TO:<bob@example.net>\r\n")
            await _expect(reader, b"250")
            writer.write(b"DATA\r\n")
            await _expect(reader, b"354")
            writer.write(payload)
            await _expect(reader, b"250")
            sent += 1
        writer.write(b"QUIT\r\n")
        await _expect(reader, b"221")
    finally:
        writer.close()
    return sent


async def load(
    address: str, port: int, source: str, content: bytes, args: argparse.Namespace
) -> tuple[int, float]:
    """(messages accepted, seconds) for ``args.connections`` concurrent senders."""
    started = time.perf_counter()
    deadline = started + args.seconds
    counts = await asyncio.gather(
        *(
            _one_connection(address, port, source, content, args.messages, deadline)
            for _ in range(args.connections)
        )
    )
    return sum(counts), time.perf_counter() - started


# --------------------------------------------------------------------------- the two servers


class _Discard:
    """Bare aiosmtpd: accept and forget."""

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        return "250 2.0.0 Ok: queued"


class _Maildir(_Discard):
    """Bare aiosmtpd that stores each message like the world's MX (same Maildir code)."""

    def __init__(self, root: Path) -> None:
        self.mailboxes = Mailboxes(root)

    async def handle_DATA(self, server: SMTP, session: object, envelope: Any) -> str:
        for recipient in envelope.rcpt_tos:
            self.mailboxes.deliver(recipient, envelope.original_content)
        return "250 2.0.0 Ok: queued"


async def bare(content: bytes, args: argparse.Namespace, *, store: bool) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as root:
        handler = _Maildir(Path(root)) if store else _Discard()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="mx.example.net", loop=loop), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        try:
            return await load("127.0.0.1", port, "127.0.0.1", content, args)
        finally:
            server.close()
            await server.wait_closed()


async def world_receiver(
    content: bytes, args: argparse.Namespace, *, checks: bool
) -> tuple[int, float, int]:
    text = SCENARIO if checks else SCENARIO.replace(CHECKS, "checks = []")
    scenario = parse_scenario(text, Path("policy-bench.toml"))
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as run_dir:
        async with World(scenario, run_dir=Path(run_dir)) as world:
            mx = world.ctx.plan.host("mx.example.net")
            source = world.ctx.plan.host("smtp.example.org").bind_address
            count, seconds = await load(
                mx.bind_address, mx.ports[Service.SMTP], source, content, args
            )
            verdicts = [e for e in world.trace.events if e.type == "policy_verdict"]
            rejected = [e for e in verdicts if e.action != "none"]
            if rejected:
                raise RuntimeError(f"the bench message was not accepted cleanly: {rejected[0]}")
            return count, seconds, len(verdicts)


def _line(label: str, count: int, seconds: float, extra: str = "") -> float:
    rate = count / seconds
    print(f"{label:34s} {count:5d} msgs in {seconds:6.2f} s = {rate:8.1f} msg/s{extra}")
    return rate


async def main_async(args: argparse.Namespace) -> None:
    content = signed_message()
    warm_up = argparse.Namespace(**{**vars(args), "messages": 20})
    await bare(content, warm_up, store=False)
    await world_receiver(content, warm_up, checks=True)  # DKIM key, CA, imports
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    full = await world_receiver(content, args, checks=True)
    if profiler is not None:
        profiler.disable()
    plain = await world_receiver(content, args, checks=False)
    discard = await bare(content, args, store=False)
    store = await bare(content, args, store=True)
    print(
        f"{args.connections} connections, up to {args.messages} messages each, "
        f"{len(content)}-byte DKIM-signed message, one event loop"
    )
    bare_rate = _line("bare aiosmtpd (discard)", *discard)
    store_rate = _line("bare aiosmtpd + Maildir", *store)
    plain_rate = _line("world MX, no checks (traced)", plain[0], plain[1])
    full_rate = _line("world MX, dnsbl+spf+dkim+dmarc", full[0], full[1], f"  ({full[2]} verdicts)")
    ratio = full_rate / bare_rate
    print(
        f"full pipeline / bare aiosmtpd:       {ratio:.0%}  (target >= 50 %: "
        f"{'met' if ratio >= 0.5 else 'NOT met'})"
    )
    print(f"full pipeline / aiosmtpd + Maildir:  {full_rate / store_rate:.0%}")
    print(
        f"aiosmtpd + Maildir / bare aiosmtpd:  {store_rate / bare_rate:.0%}  (storing alone: an "
        "fsync'd delivery per message on one event loop, before any check or trace)"
    )
    print(
        f"full pipeline / world MX, no checks: {full_rate / plain_rate:.0%}  "
        "(the cost of the checks alone)"
    )
    if profiler is not None:
        print(f"\nfull pipeline under cProfile, top {args.profile} by own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--messages", type=int, default=150, help="per connection")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per server")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the full pipeline, show top N"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
