"""The sender's queue manager: delivers queued mail, retries, bounces and logs, like Postfix's qmgr.

One runner per outbound host, on the world's event loop. Its cycle, as Postfix's qmgr and
smtp(8) do it (queue.py and retry.py hold the rules, this module only drives them):

1. A submitted message is written to the spool (``accept``) before the client hears 250.
2. Each queue run takes everything in incoming and every deferred message whose time has come,
   moves it to active, marks its unfinished recipients in flight, and hands it to the outbound
   MTA: a real SMTP session per MX on loopback. Each recipient's result is written to the queue
   file the moment the MTA publishes it, so a kill -9 never repeats a recorded delivery.
3. After the attempt ``Spool.settle`` decides: done, or deferred until the next queue run
   after the backed-off wake-up time. Recipients that failed for good (5xx, or the message
   outlived maximal_queue_lifetime) get an RFC 3464 DSN, queued with the null sender and
   delivered by this same runner over real SMTP to the sender's MX; a DSN itself is never
   bounced. The optional delay warning goes out the same way.
4. With nothing due, the runner sleeps on the world clock until the next queue run; on a
   FastForwardClock that wait is skipped, so five days of retries take as long as their SMTP
   sessions do.

Everything is published: QueueChange (the spool), RecipientResult (the MTA), Bounce with the
events each DSN field came from, Notes, and the Postfix log lines of qmgr, smtp and bounce.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tutor.clock import iso
from tutor.trace import (
    Bounce,
    BounceAction,
    DsnFieldLink,
    Event,
    Outcome,
    RecipientResult,
    Stage,
)
from tutor.world.maillog.records import (
    BounceNotice,
    CleanupMessageId,
    ConnectFailure,
    DiscardedBounce,
    LogRecord,
    QmgrExpired,
    QmgrQueued,
    QmgrRemoved,
    SkippedServer,
    delivery_from_result,
    server_said,
)
from tutor.world.maillog.records import (
    Delivery as DeliveryRecord,
)
from tutor.world.queue.bounce import DSN_POLICY, DsnAction, DsnReport, build_dsn, report_for
from tutor.world.queue.ids import new_queue_id
from tutor.world.queue.local import DELIVERED, LOCAL_RELAY, LocalDelivery
from tutor.world.queue.retry import RetryPolicy
from tutor.world.queue.spool import (
    Disposition,
    QueuedMessage,
    QueueState,
    RcptStatus,
    RecipientState,
    Spool,
)

if TYPE_CHECKING:
    from tutor.scenario import HostSpec
    from tutor.world.context import WorldContext
    from tutor.world.sender.mta import OutboundMta

_WIRE = DSN_POLICY.clone(linesep="\r\n")


@dataclass
class _Attempt:
    """One attempt of one message, as the MTA tells it (the runner is its DeliveryObserver)."""

    queue_id: str
    started: float
    connect_times: dict[str, float] = field(default_factory=dict)  # session -> connect time
    early: set[str] = field(default_factory=set)  # delivered, persisted at the 250 itself


class QueueRunner:
    """The queue manager of ``host``; ``start`` it with the world, ``stop`` it before teardown."""

    def __init__(
        self,
        ctx: WorldContext,
        host: HostSpec,
        mta: OutboundMta,
        spool: Spool,
        policy: RetryPolicy,
        local: LocalDelivery | None = None,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.mta = mta
        self.spool = spool
        self.policy = policy
        self.local = local  # the host's own domains: delivered here, not sent over SMTP
        self.epoch = ctx.clock.now()
        # Final state of every recipient of every message that is not itself a DSN.
        self.final: dict[str, dict[str, RecipientState]] = {}
        self.dsns: list[str] = []  # queue ids of the DSNs this runner generated
        self.results: list[RecipientResult] = []  # every decision the MTA told, in order
        self._result_seq: dict[tuple[str, str], tuple[int, str]] = {}  # -> (seq, session)
        self._commands: dict[tuple[str, str], str] = {}  # (qid, rcpt) -> deciding command
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt: _Attempt | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        # Cancel until it has stopped: a library await that swallows one cancellation (as
        # 3.11's wait_for can) must not leave the runner waiting for mail forever.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if task is not None and not task.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                task.result()

    async def idle(self) -> None:
        """Wait until the queue is empty: every message delivered or returned to its sender."""
        while True:
            if self._task is not None and self._task.done():
                self._task.result()  # a crashed runner must fail the run, not hang it
                return
            waiter = asyncio.ensure_future(self._idle.wait())
            assert self._task is not None
            await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self._idle.is_set():
                return

    async def accept(
        self, sender: str, recipients: list[str] | tuple[str, ...], content: bytes, queue_id: str
    ) -> str:
        """Queue a submitted message durably (call before replying 250); returns its queue id."""
        message = self.spool.enqueue(
            sender, list(recipients), content, self.ctx.clock.now(), queue_id=queue_id or None
        )
        self._idle.clear()
        self._wake.set()
        return message.queue_id

    # ------------------------------------------------------------------ the queue runs

    async def _run(self) -> None:
        for lost in self.spool.recover():
            self._note(
                f"{lost.queue_id}: {lost.address} was in flight when the last run stopped; its "
                "outcome is unknown, so it is tried again (RFC 5321 §6.1 prefers a duplicate to "
                "a lost message)",
                level="warning",
            )
        while True:
            # Let the servers' log lines of the submission that woke us go first.
            await asyncio.sleep(0)
            batch = self.spool.due(self.ctx.clock.now())
            for message in batch:
                await self._deliver(message)
            if batch:
                continue
            wake = self.spool.next_wakeup()
            if wake is None and not self.spool.load_all():
                self._idle.set()
            if wake is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._sleep_until(self.policy.next_queue_run(wake, self.epoch))

    async def _sleep_until(self, when: float) -> None:
        """Sleep on the world clock until ``when``, or until new mail arrives."""
        delay = when - self.ctx.clock.now()
        if delay <= 0:
            return
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.ctx.clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        _, pending = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def _deliver(self, queued: QueuedMessage) -> None:
        qid = queued.queue_id
        message = self.spool.move(qid, QueueState.ACTIVE)
        self._log(QmgrQueued(qid, message.sender, message.size, len(message.recipients)))
        todo = [r.address for r in message.unfinished()]
        started = self.ctx.clock.now()
        self.spool.begin_attempt(qid, todo, started)
        attempt = self._attempt = _Attempt(qid, started)
        here = [r for r in todo if self.local is not None and self.local.serves(r)]
        remote = [r for r in todo if r not in here]
        local_results: list[RecipientResult] = []
        try:
            local_results = [self._deliver_here(message, r) for r in here]
            results = (
                await self.mta.deliver(qid, message.sender, remote, message.content, observer=self)
                if remote
                else []
            )
        except Exception as exc:  # a bug must show in the trace, and the message stay queued
            self._note(f"delivery of {qid} failed inside the MTA: {exc!r}", level="error")
            results = []
        finally:
            self._attempt = None
        current = self.spool.get(qid)
        for rcpt in current.recipients:
            if rcpt.status == RcptStatus.IN_FLIGHT:  # the MTA died before deciding it
                self.spool.record_result(
                    qid, rcpt.address, RcptStatus.DEFERRED, "4.3.0 internal error", started
                )
        for result in local_results:
            self._log_local(result, message, attempt)
        for result in results:
            self._log_result(result, message, attempt)
        self._settle(message)

    def _deliver_here(self, message: QueuedMessage, recipient: str) -> RecipientResult:
        """virtual(8): a recipient of a domain this host serves goes into its Maildir, under
        this message's queue id (a DSN to a local sender too), persisted at once."""
        assert self.local is not None
        qid = message.queue_id

        def stored() -> None:  # persisted before any event: kill -9 never delivers it twice
            dsn, reply = split_status(DELIVERED)
            now = self.ctx.clock.now()
            self.spool.record_result(
                qid, recipient, RcptStatus.DELIVERED, reply, now, relay=LOCAL_RELAY, dsn=dsn
            )
            if self._attempt is not None:
                self._attempt.early.add(recipient.lower())

        result = self.local.deliver(qid, message.sender, recipient, message.content, stored)
        self.decided(result, "")
        return result

    def _log_local(self, result: RecipientResult, message: QueuedMessage, a: _Attempt) -> None:
        rcpt = self.spool.get(message.queue_id).recipient(result.recipient)
        before = max(0.0, a.started - message.arrival)
        record = DeliveryRecord(
            queue_id=message.queue_id,
            recipient=result.recipient,
            relay=LOCAL_RELAY,
            delay=max(0.0, result.time - message.arrival),
            delays=(before, 0.0, 0.0, max(0.0, result.time - a.started)),
            dsn=rcpt.dsn or ("2.0.0" if result.outcome is Outcome.DELIVERED else "5.1.1"),
            status="sent" if result.outcome is Outcome.DELIVERED else "bounced",
            reason=rcpt.reply,
            program="postfix/virtual",
        )
        self._log(record, result)

    def _settle(self, message: QueuedMessage) -> None:
        qid = message.queue_id
        now = self.ctx.clock.now()
        settled = self.spool.settle(qid, self.policy, now, self.epoch)
        if settled.expired:
            self._log(QmgrExpired(qid, message.sender))
        if settled.bounce:
            addresses = [r.address for r in settled.bounce]
            if message.is_bounce:
                self._log(DiscardedBounce(qid))
                self._note(
                    f"{qid} is itself a delivery status notification (null sender <>): it is "
                    "never bounced, so no notification about it goes anywhere (RFC 3464 §2, "
                    "RFC 5321 §4.5.5)",
                    level="warning",
                )
            else:
                self._send_dsn(settled.message, settled.bounce, DsnAction.FAILED, now)
            self.spool.mark_notified(qid, addresses)
        if settled.warn:
            self._send_dsn(settled.message, settled.warn, DsnAction.DELAYED, now)
            self.spool.mark_notified(qid, warned=True)
        if not message.is_bounce:
            self.final[qid] = {r.address: r for r in self.spool.get(qid).recipients}
        if settled.disposition is Disposition.DONE:
            self.spool.remove(qid, "all recipients done")
            self._log(QmgrRemoved(qid))

    # ------------------------------------------------------------------ DSNs

    def _send_dsn(
        self,
        message: QueuedMessage,
        recipients: tuple[RecipientState, ...],
        action: DsnAction,
        now: float,
    ) -> str:
        report = report_for(message, recipients, action, self.host.name, self.policy)
        report = self._with_commands(report, message.queue_id)
        dsn_qid = new_queue_id()
        dsn = build_dsn(report, now, dsn_queue_id=dsn_qid)
        content = dsn.as_bytes(policy=_WIRE)
        self.spool.enqueue("", [message.sender], content, now, queue_id=dsn_qid)
        self.dsns.append(dsn_qid)
        kind = "non-delivery" if action is DsnAction.FAILED else "delay"
        self._log(CleanupMessageId(dsn_qid, str(dsn["Message-ID"])))
        self._log(BounceNotice(message.queue_id, dsn_qid, kind))
        self.ctx.publish(
            Bounce(
                host=self.host.name,
                stage=Stage.BOUNCE,
                explain=f"bounce.{action}",
                queue_id=message.queue_id,
                dsn_queue_id=dsn_qid,
                recipients=tuple(r.address for r in recipients),
                action=BounceAction(action),
                links=self._links(message, report),
            )
        )
        return dsn_qid

    def _with_commands(self, report: DsnReport, qid: str) -> DsnReport:
        """Say which command each reply answered, as the trace saw it (not guessed from text)."""
        fixed = []
        for rcpt in report.recipients:
            command = self._commands.get((qid, rcpt.address), rcpt.command)
            fixed.append(dataclasses.replace(rcpt, command=command))
        return dataclasses.replace(report, recipients=tuple(fixed))

    def _links(self, message: QueuedMessage, report: DsnReport) -> tuple[DsnFieldLink, ...]:
        """Each DSN field with the trace event it came from (seq), for the views to link."""
        arrival = DsnFieldLink(
            field="Arrival-Date",
            seq=self.spool.arrival_seq.get(message.queue_id, 0),
            source=f"{message.queue_id} entered the queue at {iso(message.arrival)}",
        )
        links: list[DsnFieldLink] = [arrival]
        for rcpt in report.recipients:
            seq, session = self._result_seq.get((message.queue_id, rcpt.address), (0, ""))
            command = self._commands.get((message.queue_id, rcpt.address), "")
            source = f"the reply to {command}" if command else "the outcome"
            source += f" in session {session}" if session else ""
            source += f" at {iso(rcpt.last_attempt)}" if rcpt.last_attempt else ""
            if rcpt.action is DsnAction.FAILED and rcpt.status.startswith("4"):
                source += ", the last attempt, made once the queue lifetime had run out"
            values = {"Action": str(rcpt.action), "Status": rcpt.status}
            if rcpt.remote_mta:  # the DSN has no Remote-MTA when no server was reached
                values["Remote-MTA"] = rcpt.remote_mta
            values["Diagnostic-Code"] = rcpt.diagnostic
            if rcpt.last_attempt is not None:
                values["Last-Attempt-Date"] = ""
            for name, value in values.items():
                links.append(
                    DsnFieldLink(
                        recipient=rcpt.address, field=name, value=value, seq=seq, source=source
                    )
                )
        return tuple(links)

    # ------------------------------------------------------------------ what the MTA tells

    def connected(self, session: str, relay: str, time: float) -> None:
        if self._attempt is not None:
            self._attempt.connect_times[session] = time

    def connect_failed(self, relay: str, reason: str) -> None:
        self._log(ConnectFailure(relay, reason))

    def skipped(self, relay: str, reply: str, command: str) -> None:
        if self._attempt is not None:
            self._log(SkippedServer(self._attempt.queue_id, server_said(relay, reply, command)))

    def handed_over(
        self, session: str, recipients: Sequence[str], reply: str, relay: str, time: float
    ) -> None:
        """The server took responsibility: persist it now, not after QUIT when the MTA
        reports, so a kill -9 in between cannot make us send the message again."""
        attempt = self._attempt
        if attempt is None:
            return
        for address in recipients:
            self.spool.record_result(
                attempt.queue_id,
                address,
                RcptStatus.DELIVERED,
                reply,
                time,
                relay=relay,
                dsn=split_status(reply[4:])[0],
            )
            attempt.early.add(address.lower())

    def decided(self, result: RecipientResult, command: str) -> None:
        """Persist a recipient's result the moment the MTA decides it."""
        attempt = self._attempt
        if attempt is None or result.queue_id != attempt.queue_id:
            return
        self.results.append(result)
        key = (attempt.queue_id, result.recipient)
        self._result_seq[key] = (result.seq, result.session)
        self._commands[key] = command
        if result.recipient.lower() in attempt.early and result.outcome is Outcome.DELIVERED:
            return  # already persisted when the 250 came in
        dsn, reply = split_status(result.reply)
        self.spool.record_result(
            attempt.queue_id,
            result.recipient,
            result.outcome,
            reply,
            result.time,
            relay=result.relay,
            dsn=dsn,
        )

    # ------------------------------------------------------------------ logging

    def _log_result(self, result: RecipientResult, message: QueuedMessage, a: _Attempt) -> None:
        connected = a.connect_times.get(result.session, result.time)
        delays = (
            max(0.0, a.started - message.arrival),
            0.0,
            max(0.0, connected - a.started),
            max(0.0, result.time - connected),
        )
        rcpt = self.spool.get(message.queue_id).recipient(result.recipient)
        record = delivery_from_result(
            dataclasses.replace(result, reply=rcpt.reply),
            arrival=message.arrival,
            delays=delays,
            command=self._commands.get((message.queue_id, result.recipient), ""),
            dsn=rcpt.dsn,
        )
        self._log(record, result)

    def _log(self, record: LogRecord, source: Event | None = None) -> None:
        time = source.time if source is not None else 0.0
        self.ctx.maillog.log(record, host=self.host.name, time=time)

    def _note(self, text: str, *, level: str = "info") -> None:
        self.ctx.note(text, host=self.host.name, stage=Stage.QUEUE, level=level)


_LEADING_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3}) (.*)$", re.DOTALL)


def split_status(reply: str) -> tuple[str, str]:
    """("4.4.1", "connect to ...: Connection refused") from the MTA's "4.4.1 connect to ...".

    A reason that is not a server's reply carries its RFC 3463 code in front; Postfix keeps the
    two apart (dsn=4.4.1, and the bare text in the log and the DSN's X-Postfix diagnostic).
    A server's reply ("451 4.7.1 ...") is left whole; its code is read from it later.
    """
    match = _LEADING_STATUS.match(reply)
    return (match.group(1), match.group(2)) if match else ("", reply)


def final_outcome(rcpt: RecipientState) -> Outcome:
    """How a queue recipient ended, in the trace's words: bounced means a DSN went back."""
    return {
        RcptStatus.DELIVERED: Outcome.DELIVERED,
        RcptStatus.BOUNCED: Outcome.BOUNCED,
    }.get(rcpt.status, Outcome.DEFERRED)


__all__ = ["QueueRunner", "final_outcome", "split_status"]
