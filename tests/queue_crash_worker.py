"""A queue runner for the kill -9 test: delivers a spool's messages to a counting sink file.

Run as ``python tests/queue_crash_worker.py SPOOL SINK RECOVERED [CRASH_AT]``. It recovers the
spool (appending the in-flight recipients it found to RECOVERED), then runs the queue like the
sender MTA will: move to active, mark in flight, "deliver" (append ``QID RCPT ATTEMPT`` to SINK
and fsync it: the remote server's 250), record the result, settle, remove. Recipients whose
local part starts with ``tempfail`` are deferred on their first attempt, to cross the deferred
queue too. With CRASH_AT=N the worker SIGKILLs itself at its N-th checkpoint, so a test can hit
every point between two writes deterministically; the test also kills it from outside at
random moments. Exit status 0 means the spool is empty.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.trace import Outcome
from tutor.world.queue.retry import RetryPolicy
from tutor.world.queue.spool import Disposition, QueueState, Spool

# Retry at once: the test is about crash safety, not about waiting.
IMMEDIATE = RetryPolicy(
    queue_run_delay=0,
    minimal_backoff_time=0,
    maximal_backoff_time=0,
    maximal_queue_lifetime=float("inf"),
)


class Checkpoints:
    """Counts the points between durable steps and dies at the chosen one."""

    def __init__(self, crash_at: int | None) -> None:
        self.crash_at = crash_at
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        if self.crash_at is not None and self.count >= self.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)


def deliver_to_sink(sink: Path, line: str) -> None:
    """The fake remote server: once this returns, the message is delivered (its 250)."""
    with open(sink, "a", encoding="ascii") as stream:
        stream.write(line)
        stream.flush()
        os.fsync(stream.fileno())


def run(spool_dir: Path, sink: Path, recovered_log: Path, crash_at: int | None) -> int:
    checkpoint = Checkpoints(crash_at)
    spool = Spool(spool_dir)
    recovered = spool.recover()
    if recovered:
        with open(recovered_log, "a", encoding="ascii") as stream:
            for item in recovered:
                stream.write(f"{item.queue_id} {item.address} {item.attempts}\n")
            stream.flush()
            os.fsync(stream.fileno())
    checkpoint()
    while True:
        now = time.time()
        batch = spool.due(now)
        if not batch:
            if not spool.load_all():
                return 0
            time.sleep(0.001)
            continue
        for message in batch:
            qid = message.queue_id
            spool.move(qid, QueueState.ACTIVE)
            checkpoint()
            for rcpt in message.unfinished():
                current = spool.begin_attempt(qid, [rcpt.address], time.time())
                checkpoint()
                attempts = current.recipient(rcpt.address).attempts
                if rcpt.address.startswith("tempfail") and attempts == 1:
                    reply = "451 4.3.0 try again later"
                    spool.record_result(qid, rcpt.address, Outcome.DEFERRED, reply, time.time())
                else:
                    deliver_to_sink(sink, f"{qid} {rcpt.address} {attempts}\n")
                    checkpoint()  # the one window: delivered, not yet recorded
                    reply = "250 2.0.0 Ok: queued"
                    spool.record_result(qid, rcpt.address, Outcome.DELIVERED, reply, time.time())
                checkpoint()
            settlement = spool.settle(qid, IMMEDIATE, time.time())
            checkpoint()
            if settlement.disposition == Disposition.DONE:
                spool.remove(qid)
                checkpoint()


def main(argv: list[str]) -> int:
    spool_dir, sink, recovered_log = (Path(a) for a in argv[1:4])
    crash_at = int(argv[4]) if len(argv) > 4 else None
    return run(spool_dir, sink, recovered_log, crash_at)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
