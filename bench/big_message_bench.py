"""One large message through the world's MX against bare aiosmtpd storing the same Maildir.

Both run on this process's event loop on loopback and receive the same message over one
connection; sizes up to the MX's SIZE limit (Postfix's message_size_limit, 10 240 000 bytes).
The world MX reads every line twice (aiosmtpd parses it; the trace taps it), so it may cost a
few times more per byte, but it must grow linearly with the size, as bare aiosmtpd does: a
quadratic buffer would show as a ratio that grows with the size.

    python bench/big_message_bench.py [--sizes 1,4,10]   (megabytes)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # policy_bench, from a checkout

import policy_bench


def message_of(size: int) -> bytes:
    line = b"X" * 76 + b"\r\n"
    head = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: big\r\n\r\n"
    return head + line * (size // len(line))


async def main_async(sizes: list[float]) -> None:
    one = argparse.Namespace(connections=1, messages=1, seconds=120.0, profile=0)
    print(f"{'size':>8}  {'world MX':>10}  {'bare aiosmtpd + Maildir':>24}  ratio")
    for megabytes in sizes:
        content = message_of(int(megabytes * 1_000_000))
        _, world, _ = await policy_bench.world_receiver(content, one, checks=False)
        _, bare = await policy_bench.bare(content, one, store=True)
        print(f"{len(content) / 1e6:6.1f} MB  {world:8.2f} s  {bare:22.2f} s  {world / bare:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,10", help="comma-separated megabytes")
    args = parser.parse_args()
    asyncio.run(main_async([float(s) for s in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
