"""The sender's persistent mail queue: a Postfix-like spool directory that survives kill -9.

Layout (one directory per queue, as in /var/spool/postfix)::

    ROOT/incoming/QUEUEID   just arrived, not yet tried
    ROOT/active/QUEUEID     being delivered right now
    ROOT/deferred/QUEUEID   waiting for its next attempt (``next_attempt`` in the file)
    ROOT/hold/QUEUEID       parked by an operator; never tried until released
    ROOT/tmp/               half-written files; anything here after a crash is garbage

Each queue file is one JSON document: envelope (sender, arrival, per-recipient state) and the
message content (latin-1 text, lossless for every byte, as in the trace). Every change is
written to tmp/, fsync'ed, renamed over the old file with ``os.replace`` and the directory is
fsync'ed, so a reader only ever sees a whole old or a whole new file. Moving between queues is
a single ``os.replace`` into the other directory (atomic on one file system).

Crash safety, the contract with the sender MTA:

1. ``begin_attempt`` marks the recipients of one SMTP transaction *in flight* and persists that
   before the transaction's end-of-data is sent.
2. ``record_result`` persists each recipient's outcome as soon as the reply is read, before the
   next recipient (or the next transaction) is tried.
3. After a crash, ``recover`` moves active files back to incoming (Postfix's qmgr does the same
   on start-up) and turns every in-flight recipient into a deferred one.

So a kill -9 never loses a message and never repeats a delivery whose 250 was recorded. The one
window that cannot be closed: the server said 250 for the message, and we died before
``record_result`` reached the disk. We cannot know whether the server took it, so the recipient
is tried again and may get the message twice. Postfix has exactly this window (RFC 5321 section
6.1 accepts duplicates over loss); it is kept to one fsync'ed write, and ``recover`` names every
recipient that was in it (``RecoveredRecipient``) so the views can say so.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor.files import private_dir, private_opener
from tutor.trace import Outcome, QueueChange, Stage
from tutor.trace import QueueState as TracedQueueState  # these directories, and "removed"
from tutor.world.queue.ids import new_queue_id
from tutor.world.queue.retry import MTIME_SLACK, RetryPolicy

QUEUE_FILE_VERSION = 1


class QueueState(StrEnum):
    """The Postfix queue a message is in (the directory its file lives in)."""

    INCOMING = "incoming"
    ACTIVE = "active"
    DEFERRED = "deferred"
    HOLD = "hold"


class RcptStatus(StrEnum):
    """Where one recipient of a queued message stands."""

    PENDING = "pending"  # not tried yet
    IN_FLIGHT = "in_flight"  # an SMTP transaction for it is under way
    DELIVERED = "delivered"  # the next hop said 2xx
    DEFERRED = "deferred"  # temporary failure; will be retried
    BOUNCED = "bounced"  # permanent failure or expired; the sender gets a DSN

    @property
    def done(self) -> bool:
        return self in (RcptStatus.DELIVERED, RcptStatus.BOUNCED)


_OUTCOME_STATUS = {
    Outcome.DELIVERED: RcptStatus.DELIVERED,
    Outcome.DEFERRED: RcptStatus.DEFERRED,
    Outcome.REJECTED: RcptStatus.BOUNCED,
    Outcome.BOUNCED: RcptStatus.BOUNCED,
    Outcome.REFUSED: RcptStatus.BOUNCED,
}


class QueueError(Exception):
    """A queue operation that cannot be done (unknown queue id, corrupt file)."""


@dataclass
class RecipientState:
    """One recipient's progress, persisted in the queue file."""

    address: str
    original: str = ""  # ORCPT / address before rewriting, for Original-Recipient
    status: RcptStatus = RcptStatus.PENDING
    reply: str = ""  # the deciding reply, e.g. "451 4.7.1 ...", or a connect error
    dsn: str = ""  # enhanced status code, e.g. "4.7.1"
    relay: str = ""  # "mx1.example.net[127.0.0.11]:2525" or "none"
    attempts: int = 0
    first_attempt: float | None = None
    last_attempt: float | None = None
    notified: bool = False  # the sender got its DSN for this bounce

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "original": self.original,
            "status": str(self.status),
            "reply": self.reply,
            "dsn": self.dsn,
            "relay": self.relay,
            "attempts": self.attempts,
            "first_attempt": self.first_attempt,
            "last_attempt": self.last_attempt,
            "notified": self.notified,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecipientState:
        return cls(**{**obj, "status": RcptStatus(obj["status"])})


@dataclass
class QueuedMessage:
    """A queue file in memory. ``state`` is the directory it was read from."""

    queue_id: str
    sender: str
    arrival: float
    recipients: list[RecipientState]
    content: bytes
    state: QueueState = QueueState.INCOMING
    next_attempt: float = 0.0
    warned: bool = False  # the one delay warning went out
    revision: int = 0  # bumped on every write; breaks ties if a file ever exists twice
    reason: str = ""  # why it is where it is (last deferral reason)

    @property
    def is_bounce(self) -> bool:
        """A null-sender message (a DSN): it is never bounced itself."""
        return self.sender == ""

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def done(self) -> bool:
        return all(r.status.done for r in self.recipients)

    def recipient(self, address: str) -> RecipientState:
        for rcpt in self.recipients:
            if rcpt.address.lower() == address.lower():
                return rcpt
        raise QueueError(f"{self.queue_id}: no recipient {address}")

    def unfinished(self) -> list[RecipientState]:
        """Recipients still to be delivered (pending, deferred, or in flight)."""
        return [r for r in self.recipients if not r.status.done]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": QUEUE_FILE_VERSION,
            "queue_id": self.queue_id,
            "sender": self.sender,
            "arrival": self.arrival,
            "state": str(self.state),
            "next_attempt": self.next_attempt,
            "warned": self.warned,
            "revision": self.revision,
            "reason": self.reason,
            "recipients": [r.to_json() for r in self.recipients],
            "content": self.content.decode("latin-1"),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], state: QueueState) -> QueuedMessage:
        if obj.get("version") != QUEUE_FILE_VERSION:
            raise QueueError(f"queue file version {obj.get('version')!r} is not supported")
        return cls(
            queue_id=obj["queue_id"],
            sender=obj["sender"],
            arrival=float(obj["arrival"]),
            recipients=[RecipientState.from_json(r) for r in obj["recipients"]],
            content=obj["content"].encode("latin-1"),
            state=state,
            next_attempt=float(obj.get("next_attempt", 0.0)),
            warned=bool(obj.get("warned", False)),
            revision=int(obj.get("revision", 0)),
            reason=str(obj.get("reason", "")),
        )


class Disposition(StrEnum):
    """What the queue manager does with a message after an attempt."""

    DONE = "done"  # every recipient delivered or bounced: remove once DSNs are queued
    DEFERRED = "deferred"  # some recipients wait for ``next_attempt``


@dataclass(frozen=True)
class Settlement:
    """The end of one attempt: what to do next and which notifications the sender is owed."""

    message: QueuedMessage
    disposition: Disposition
    next_attempt: float | None = None
    expired: bool = False  # the lifetime ran out; deferred recipients were bounced
    bounce: tuple[RecipientState, ...] = ()  # bounced recipients not yet told to the sender
    warn: tuple[RecipientState, ...] = ()  # recipients for a delay warning (Action: delayed)


@dataclass(frozen=True)
class RecoveredRecipient:
    """A recipient that was in flight when the previous run died (the duplicate window)."""

    queue_id: str
    address: str
    attempts: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A queue directory. All writes are atomic and durable before the call returns.

    ``context`` (a WorldContext) is optional so tests can run a spool without a world; with one,
    every state change is published as a QueueChange event on the world clock.
    """

    def __init__(self, root: Path | str, context: Any | None = None, host: str = "") -> None:
        self.root = Path(root)
        self.context = context
        self.host = host
        self.tmp = self.root / "tmp"
        # queue id -> seq of the event that published its arrival (a DSN's Arrival-Date links
        # to it); only for messages that arrived in this process.
        self.arrival_seq: dict[str, int] = {}
        private_dir(self.root)
        for name in (*QueueState, "tmp"):
            (self.root / str(name)).mkdir(exist_ok=True, mode=0o700)

    # ------------------------------------------------------------------ paths and I/O

    def _dir(self, state: QueueState) -> Path:
        return self.root / str(state)

    def _path(self, qid: str, state: QueueState) -> Path:
        return self._dir(state) / qid

    def _write(self, message: QueuedMessage, state: QueueState) -> None:
        """Write the whole file atomically into ``state``'s directory and make it durable."""
        message.revision += 1
        message.state = state
        data = json.dumps(message.to_json(), ensure_ascii=True, separators=(",", ":"))
        tmp = self.tmp / f"{message.queue_id}.{os.getpid()}.{message.revision}"
        with open(tmp, "w", encoding="ascii", opener=private_opener) as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, self._path(message.queue_id, state))
        _fsync_dir(self._dir(state))

    def _read(self, path: Path, state: QueueState) -> QueuedMessage:
        try:
            return QueuedMessage.from_json(json.loads(path.read_text("ascii")), state)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise QueueError(f"{path}: unreadable queue file: {exc}") from exc

    def _locate(self, qid: str) -> tuple[Path, QueueState]:
        for state in QueueState:
            path = self._path(qid, state)
            if path.exists():
                return path, state
        raise QueueError(f"{qid}: no such message in {self.root}")

    def _publish(self, message: QueuedMessage, state: str, reason: str = "") -> None:
        if self.context is None:
            return
        next_attempt = message.next_attempt if state == QueueState.DEFERRED else None
        event = self.context.publish(
            QueueChange(
                host=self.host,
                stage=Stage.QUEUE,
                queue_id=message.queue_id,
                state=TracedQueueState(state),
                reason=reason,
                next_attempt=next_attempt,
                explain=f"queue.{state}",
            )
        )
        if state == QueueState.INCOMING and reason == "new message":
            self.arrival_seq[message.queue_id] = event.seq

    # ------------------------------------------------------------------ reading

    def get(self, qid: str) -> QueuedMessage:
        path, state = self._locate(qid)
        return self._read(path, state)

    def __iter__(self) -> Iterator[QueuedMessage]:
        return iter(self.load_all())

    def load_all(self) -> list[QueuedMessage]:
        """Every message in every queue, oldest first (a file found twice keeps its newest)."""
        found: dict[str, QueuedMessage] = {}
        for state in QueueState:
            for path in self._dir(state).iterdir():
                if not path.is_file():
                    continue
                message = self._read(path, state)
                old = found.get(message.queue_id)
                if old is None or message.revision > old.revision:
                    found[message.queue_id] = message
        return sorted(found.values(), key=lambda m: (m.arrival, m.queue_id))

    def due(self, now: float) -> list[QueuedMessage]:
        """Messages a queue run at ``now`` takes: all of incoming, and deferred files whose
        time has come (with Postfix's one second of slack). Hold and active are left alone."""
        ready = [
            m
            for m in self.load_all()
            if m.state == QueueState.INCOMING
            or (m.state == QueueState.DEFERRED and m.next_attempt <= now + MTIME_SLACK)
        ]
        return sorted(ready, key=lambda m: (m.state != QueueState.INCOMING, m.next_attempt))

    def next_wakeup(self) -> float | None:
        """The earliest time a deferred message becomes due (None if none is waiting)."""
        times = [m.next_attempt for m in self.load_all() if m.state == QueueState.DEFERRED]
        return min(times) if times else None

    # ------------------------------------------------------------------ writing

    def enqueue(
        self,
        sender: str,
        recipients: Iterable[str],
        content: bytes,
        arrival: float,
        *,
        queue_id: str | None = None,
        original_recipients: dict[str, str] | None = None,
    ) -> QueuedMessage:
        """Put a new message into incoming. Durable when this returns (before the 250)."""
        qid = queue_id or new_queue_id()
        while queue_id is None and any(self._path(qid, s).exists() for s in QueueState):
            qid = new_queue_id()
        originals = original_recipients or {}
        message = QueuedMessage(
            queue_id=qid,
            sender=sender,
            arrival=arrival,
            recipients=[RecipientState(a, original=originals.get(a, "")) for a in recipients],
            content=content,
            next_attempt=arrival,
        )
        if not message.recipients:
            raise QueueError("a message needs at least one recipient")
        self._write(message, QueueState.INCOMING)
        self._publish(message, QueueState.INCOMING, "new message")
        return message

    def move(
        self,
        qid: str,
        state: QueueState,
        *,
        next_attempt: float | None = None,
        reason: str = "",
    ) -> QueuedMessage:
        """Move a message to another queue (updating its wake-up time and reason first)."""
        path, current = self._locate(qid)
        message = self._read(path, current)
        if next_attempt is not None:
            message.next_attempt = next_attempt
        if reason:
            message.reason = reason
        if next_attempt is not None or reason or state != current:
            # Rewrite in place first, then rename: each step leaves exactly one whole file.
            self._write(message, current)
            if state != current:
                os.replace(path, self._path(qid, state))
                _fsync_dir(self._dir(state))
                _fsync_dir(self._dir(current))
                message.state = state
        self._publish(message, state, reason)
        return message

    def begin_attempt(self, qid: str, recipients: Iterable[str], when: float) -> QueuedMessage:
        """Mark the recipients of one SMTP transaction in flight, durably, before its DATA ends.

        If the process dies before ``record_result``, ``recover`` finds them here and knows the
        outcome is unknown (the documented duplicate window).
        """
        message = self.get(qid)
        for address in recipients:
            rcpt = message.recipient(address)
            if rcpt.status.done:
                raise QueueError(f"{qid}: {address} is already {rcpt.status}")
            rcpt.status = RcptStatus.IN_FLIGHT
            rcpt.attempts += 1
            rcpt.last_attempt = when
            if rcpt.first_attempt is None:
                rcpt.first_attempt = when
        self._write(message, message.state)
        return message

    def record_result(
        self,
        qid: str,
        recipient: str,
        outcome: Outcome | RcptStatus,
        reply: str,
        when: float,
        *,
        relay: str = "",
        dsn: str = "",
    ) -> QueuedMessage:
        """Persist one recipient's outcome now, before anything else is tried."""
        message = self.get(qid)
        rcpt = message.recipient(recipient)
        status = outcome if isinstance(outcome, RcptStatus) else _OUTCOME_STATUS[outcome]
        if rcpt.status != RcptStatus.IN_FLIGHT:
            # Callers that skip begin_attempt (e.g. a connect failure) still count the attempt.
            rcpt.attempts += 1
            if rcpt.first_attempt is None:
                rcpt.first_attempt = when
        rcpt.status = status
        rcpt.reply = reply
        rcpt.dsn = dsn or _enhanced_code(reply)
        rcpt.relay = relay
        rcpt.last_attempt = when
        if status == RcptStatus.DEFERRED:
            message.reason = reply
        self._write(message, message.state)
        return message

    def settle(
        self,
        qid: str,
        policy: RetryPolicy,
        now: float,
        epoch: float | None = None,
    ) -> Settlement:
        """Decide what happens after an attempt, as Postfix's qmgr_active_done does.

        Order matters and follows Postfix: expiry first (deferred recipients of a too-old
        message become bounced, keeping their last 4.x.x reply), then the one delay warning,
        then either completion or a move to deferred with the backed-off wake-up time. The
        caller queues the DSNs for ``bounce``/``warn``, calls ``mark_notified``, and removes a
        DONE message.
        """
        message = self.get(qid)
        expired = False
        unfinished = message.unfinished()
        if unfinished and policy.expired(message.arrival, now, message.is_bounce):
            expired = True
            for rcpt in unfinished:
                rcpt.status = RcptStatus.BOUNCED
                rcpt.reply = rcpt.reply or "delivery temporarily suspended: message expired"
            self._write(message, message.state)
            unfinished = []
        bounce = tuple(
            r for r in message.recipients if r.status == RcptStatus.BOUNCED and not r.notified
        )
        if not unfinished:
            return Settlement(message, Disposition.DONE, expired=expired, bounce=bounce)
        warn: tuple[RecipientState, ...] = ()
        if not message.is_bounce and policy.warn_due(message.arrival, now, message.warned):
            warn = tuple(unfinished)
        nxt = policy.next_attempt(message.arrival, now, epoch)
        moved = self.move(qid, QueueState.DEFERRED, next_attempt=nxt, reason=message.reason)
        return Settlement(moved, Disposition.DEFERRED, next_attempt=nxt, bounce=bounce, warn=warn)

    def mark_notified(
        self, qid: str, recipients: Iterable[str] = (), *, warned: bool = False
    ) -> QueuedMessage:
        """Record that the sender was sent its DSN (for these bounced recipients / the warning).

        Call after the DSN itself is safely enqueued: a crash in between repeats a DSN rather
        than losing one.
        """
        message = self.get(qid)
        for address in recipients:
            message.recipient(address).notified = True
        message.warned = message.warned or warned
        self._write(message, message.state)
        return message

    def remove(self, qid: str, reason: str = "") -> None:
        """Delete a finished message (Postfix logs "QUEUEID: removed")."""
        path, _state = self._locate(qid)
        message = self._read(path, _state)
        os.unlink(path)
        _fsync_dir(path.parent)
        self._publish(message, "removed", reason)

    def recover(self) -> list[RecoveredRecipient]:
        """Clean up after a crash; call once before the first queue run.

        Half-written files in tmp/ are dropped (their old version is still in place), active
        messages go back to incoming so they are tried at once, and in-flight recipients become
        deferred. Returns the in-flight recipients: the ones that may receive a duplicate.
        """
        for leftover in self.tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        unknown: list[RecoveredRecipient] = []
        for message in self.load_all():
            in_flight = [r for r in message.recipients if r.status == RcptStatus.IN_FLIGHT]
            for rcpt in in_flight:
                rcpt.status = RcptStatus.DEFERRED
                rcpt.reply = rcpt.reply or "delivery status unknown: interrupted by a crash"
                unknown.append(RecoveredRecipient(message.queue_id, rcpt.address, rcpt.attempts))
            if in_flight:
                self._write(message, message.state)
            if message.state == QueueState.ACTIVE:
                self.move(message.queue_id, QueueState.INCOMING, reason="recovered after restart")
        return unknown


def _enhanced_code(reply: str) -> str:
    """The RFC 3463 code in a reply ("550 5.1.1 ..." -> "5.1.1"), else one from the basic code."""
    parts = reply.split(maxsplit=2)
    if len(parts) >= 2 and parts[0][:1] in "245" and _looks_enhanced(parts[1]):
        return parts[1]
    if parts and len(parts[0]) >= 3 and parts[0][:3].isdigit() and parts[0][0] in "245":
        return f"{parts[0][0]}.0.0"
    return ""


def _looks_enhanced(token: str) -> bool:
    pieces = token.split(".")
    return len(pieces) == 3 and all(p.isdigit() for p in pieces) and pieces[0] in "245"


__all__ = [
    "Disposition",
    "QueueError",
    "QueueState",
    "QueuedMessage",
    "RcptStatus",
    "RecipientState",
    "RecoveredRecipient",
    "Settlement",
    "Spool",
]
