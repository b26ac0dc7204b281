"""A whole world whose queue runner is killed with SIGKILL mid-delivery, for test_queue_world.py.

``python tests/queue_world_crash_worker.py submit RUN_DIR ACCEPTED COUNT KIND N``: start the
crash scenario's world in RUN_DIR, submit COUNT messages (appending each Message-ID to ACCEPTED
once the submission server said 250), and SIGKILL this process at the N-th trace event of KIND
(``rcpt``: a RCPT TO line the sender MTA sent; ``result``: a RecipientResult, after the queue
runner persisted it; ``active``: a message moved to the active queue). Exit 3 if it was never
killed.

``python tests/queue_world_crash_worker.py resume RUN_DIR``: start the same world on the same
RUN_DIR (spool, mailboxes, logs survive) and let the recovered queue run until it is empty.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.scenario import parse_scenario
from tutor.trace import Direction, Event, QueueChange, RecipientResult, Side, SmtpLine
from tutor.world.network import Service
from tutor.world.sender.message import build_message
from tutor.world.sender.mta import submit
from tutor.world.world import World

# bob takes everything, carol's lookups fail for 20 simulated minutes, robert does not exist.
SCENARIO = """
[scenario]
name = "crash"
title = "kill -9 of the queue runner"
start = "2025-03-03T09:00:00+00:00"

[[host]]
name = "laptop.example.org"
role = "client"

[[host]]
name = "smtp.example.org"
role = "outbound"
domains = ["example.org"]

[[host]]
name = "mx.example.net"
role = "mx"
domains = ["example.net"]
faults = ["rcpt-451"]
fault_users = ["carol@example.net"]
fault_clears_after = "20m"

[[user]]
address = "alice@example.org"
password = "wonderland"

[[user]]
address = "bob@example.net"

[[user]]
address = "carol@example.net"

[[zone]]
origin = "example.net"
text = "@ IN MX 10 mx.example.net."

[[zone]]
origin = "example.org"
text = "@ IN MX 10 smtp.example.org."

[message]
from = "alice@example.org"
to = ["bob@example.net", "carol@example.net", "robert@example.net"]
"""


def scenario():
    return parse_scenario(SCENARIO, Path("crash.toml"))


class Killer:
    def __init__(self, kind: str, nth: int) -> None:
        self.kind, self.nth, self.seen = kind, nth, 0

    def __call__(self, event: Event) -> None:
        if self._matches(event):
            self.seen += 1
            if self.seen >= self.nth:
                os.kill(os.getpid(), signal.SIGKILL)

    def _matches(self, event: Event) -> bool:
        if self.kind == "rcpt":
            return (
                isinstance(event, SmtpLine)
                and event.side is Side.CLIENT
                and event.direction is Direction.CLIENT_TO_SERVER
                and event.sender == "smtp.example.org"
                and event.text.startswith("RCPT TO")
            )
        if self.kind == "result":
            return isinstance(event, RecipientResult) and event.host == "smtp.example.org"
        return isinstance(event, QueueChange) and event.state == "active"


async def submit_many(run_dir: Path, accepted: Path, count: int, kind: str, nth: int) -> int:
    spec = scenario()
    async with World(spec, run_dir=run_dir, shared_loopback=None) as world:
        world.trace.subscribe(Killer(kind, nth))
        ctx, outbound = world.ctx, spec.outbound
        host = ctx.plan.host(outbound.name)
        for number in range(count):
            message = dataclasses.replace(spec.message, subject=f"Message {number}")
            content = build_message(ctx, message)
            await submit(
                ctx,
                client_host=spec.client.name,
                server_host=outbound.name,
                address=host.address,
                port=host.ports[Service.SUBMISSION],
                user="alice@example.org",
                password="wonderland",
                sender=message.sender,
                recipients=list(message.recipients),
                content=content,
            )
            message_id = next(
                line.split(b":", 1)[1].strip()
                for line in content.split(b"\r\n")
                if line.lower().startswith(b"message-id:")
            )
            with open(accepted, "ab") as stream:
                stream.write(message_id + b"\n")
        await world.settled()
    return 3


async def resume(run_dir: Path) -> int:
    async with World(scenario(), run_dir=run_dir) as world:
        await world.settled()
    return 0


def main() -> int:
    mode, run_dir = sys.argv[1], Path(sys.argv[2])
    if mode == "submit":
        accepted, count, kind, nth = (
            Path(sys.argv[3]),
            int(sys.argv[4]),
            sys.argv[5],
            int(sys.argv[6]),
        )
        return asyncio.run(submit_many(run_dir, accepted, count, kind, nth))
    return asyncio.run(resume(run_dir))


if __name__ == "__main__":
    sys.exit(main())
