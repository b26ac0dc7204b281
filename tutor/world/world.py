"""The world: builds every server of a scenario on loopback, runs the message through, tears down.

Views never talk to this module's sockets; they read ``world.trace``. Typical use::

    async with World(load_scenario("hello")) as world:   # servers up, ScenarioStarted
        result = await world.run()                        # submit, deliver, ScenarioFinished
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tutor.clock import Clock, FastForwardClock, spoken_span
from tutor.files import private_dir
from tutor.runstate import HostInfo, UserInfo, WorldInfo
from tutor.scenario import Fault, Role, Scenario
from tutor.trace import (
    Outcome,
    RecipientResult,
    ScenarioFinished,
    ScenarioStarted,
    Trace,
    WorldHost,
)
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.dns import DnsServer, WorldResolver, build_zones
from tutor.world.dns.zones import zone_file_text
from tutor.world.gate import StepGate
from tutor.world.maillog.writer import MailLog
from tutor.world.network import NetworkPlan, Service
from tutor.world.queue.local import LocalDelivery
from tutor.world.queue.retry import RetryPolicy
from tutor.world.queue.runner import QueueRunner, final_outcome
from tutor.world.queue.spool import Spool
from tutor.world.sender.message import build_message
from tutor.world.sender.mta import OutboundMta, submit
from tutor.world.smtp.faults import client_timeout, fault_policies
from tutor.world.smtp.greylisting import greylist_policy
from tutor.world.smtp.mailbox import Mailboxes
from tutor.world.smtp.policies import build_policies
from tutor.world.smtp.receiver import Receiver
from tutor.world.smtp.relay import GatewayReceiver, drain_relays
from tutor.world.smtp.submission import SubmissionServer, SubmittedMessage


@dataclass
class RunResult:
    """How the run ended, recipient by recipient, against what the scenario expected."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)  # no expectation left (a what-if)

    @property
    def ok(self) -> bool:
        return not self.mismatches


class World:
    """One scenario's servers, clients and mailboxes, all on loopback, all traced."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        run_dir: Path | None = None,
        trace: Trace | None = None,
        clock: Clock | None = None,
        gate: StepGate | None = None,
        shared_loopback: bool | None = None,
    ) -> None:
        self.scenario = scenario
        self._keep = run_dir is not None
        if run_dir is None:
            run_dir = Path(tempfile.mkdtemp(prefix="smtp-tutor-"))
        private_dir(run_dir)  # mail, logs and the trace are the user's alone
        # Retries over days play out in seconds: real time between waits, waits skipped.
        self.clock = clock or FastForwardClock(start=scenario_start(scenario))
        self.trace = trace or Trace()
        self.trace.set_clock(self.clock.now)
        wanted = {scenario.dns_name: scenario.dns_address}
        wanted |= {h.name: h.address for h in scenario.hosts}
        # The world writes its trace and never reads it: its parts get only ``publish``.
        self.ctx = WorldContext(
            publish=self.trace.publish,
            clock=self.clock,
            plan=NetworkPlan.build(wanted, shared_loopback=shared_loopback),
            gate=gate or StepGate(),
            run_dir=run_dir,
        )
        # While the world waits for the learner at a step, world time stands still.
        self.ctx.gate.hold_time = self.clock.held
        self.mailboxes = Mailboxes(self.ctx.mailbox_root)
        self._servers: list[Any] = []
        self.results: list[RecipientResult] = []
        self._mta: OutboundMta | None = None
        self.queue: QueueRunner | None = None  # the outbound host's queue manager (issue 5)
        self.maillog: MailLog | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def gate(self) -> StepGate:
        return self.ctx.gate

    @property
    def run_dir(self) -> Path:
        return self.ctx.run_dir

    async def __aenter__(self) -> World:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start DNS and every listening service; publish ScenarioStarted."""
        ctx, scenario, plan = self.ctx, self.scenario, self.ctx.plan
        ctx.maillog = self.maillog = MailLog(ctx.publish, ctx.run_dir / "log")
        ctx.ca = WorldCA(ctx.run_dir)
        dns_port = plan.allocate_port(scenario.dns_name, Service.DNS)
        dns_host = plan.host(scenario.dns_name)
        zones = build_zones(scenario)
        ctx.zone_file.write_text(zone_file_text(zones), encoding="utf-8")
        dns = DnsServer(ctx, zones, scenario.dns_name, dns_host.bind_address, dns_port)
        await self._start_server(dns)
        ctx.resolver = WorldResolver(ctx, dns_host.bind_address, dns_port)

        for host in scenario.hosts:
            if host.role is Role.CLIENT:
                continue
            tls = ctx.ca.server_context(host.name, host.address) if host.tls else None
            smtp_port = plan.allocate_port(host.name, Service.SMTP)
            # Filtering (issue 4): the host's checks as policies; a gateway relays onwards.
            kind = GatewayReceiver if host.relay_to else Receiver
            policies = build_policies(
                ctx, host, scenario, greylist=greylist_policy(ctx, host, scenario)
            )
            policies += fault_policies(ctx, host)  # temporary faults answer last (issue 5)
            await self._start_server(
                kind(ctx, host, scenario, self.mailboxes, tls, smtp_port, policies=policies)
            )
            if host.role is Role.OUTBOUND:
                sub_port = plan.allocate_port(host.name, Service.SUBMISSION)
                subs_port = plan.allocate_port(host.name, Service.SUBMISSIONS)
                submission = SubmissionServer(
                    ctx,
                    host,
                    scenario,
                    ctx.ca.server_context(host.name, host.address),
                    sub_port,
                    subs_port,
                    self._accept_submission,
                )
                await self._start_server(submission)
                timeout = client_timeout(scenario)
                self._mta = OutboundMta(
                    ctx, host, ctx.resolver, **({"timeout": timeout} if timeout else {})
                )
                self.queue = self._start_queue(host)
        self._started = True
        ctx.publish(
            ScenarioStarted(
                host=scenario.outbound.name,
                name=scenario.name,
                title=scenario.title,
                hosts=tuple(
                    WorldHost(name=h.name, address=h.address, role=h.role, ports=h.ports)
                    for h in self._host_infos()
                ),
            )
        )

    def _start_queue(self, host: Any) -> QueueRunner:
        """The outbound host's spool and queue manager, and the world's mail log (issue 5)."""
        ctx = self.ctx
        assert self._mta is not None
        spool = Spool(ctx.run_dir / "spool" / host.name, ctx, host.name)
        policy = RetryPolicy.from_overrides(self.scenario.timing.retry)
        addresses = [u.address for u in self.scenario.users]
        local = LocalDelivery.for_host(ctx, host, addresses, self.mailboxes)
        runner = QueueRunner(ctx, host, self._mta, spool, policy, local)
        runner.start()
        return runner

    async def _start_server(self, server: Any) -> None:
        await server.start()
        self._servers.append(server)

    async def stop(self) -> None:
        """Stop every server; remove the run directory unless the caller chose it."""
        if self.queue is not None:
            await self.queue.stop()
        for server in reversed(self._servers):
            await server.stop()
        self._servers.clear()
        if self.maillog is not None:
            self.maillog.close()
        if not self._keep:
            shutil.rmtree(self.ctx.run_dir, ignore_errors=True)

    # ------------------------------------------------------------------ the run

    async def run(self) -> RunResult:
        """Submit the scenario's message from the client host and wait until it is settled."""
        if not self._started:
            await self.start()
        scenario, ctx = self.scenario, self.ctx
        client, outbound = scenario.client, scenario.outbound
        login = scenario.message.submit_as or scenario.message.sender
        password = next(u.password for u in scenario.users if u.address == login)
        content = build_message(ctx, scenario.message)
        address = ctx.plan.host(outbound.name).address
        port = ctx.plan.host(outbound.name).ports[Service.SUBMISSION]
        await submit(
            ctx,
            client_host=client.name,
            server_host=outbound.name,
            address=address,
            port=port,
            user=login,
            password=password,
            sender=scenario.message.sender,
            recipients=list(scenario.message.recipients),
            content=content,
        )
        await self.settled()
        await asyncio.sleep(0)  # the last log lines go out before the run is declared over
        result = self.evaluate()
        ctx.publish(
            ScenarioFinished(
                host=outbound.name,
                name=scenario.name,
                ok=result.ok,
                outcomes=dict(result.outcomes),
                mismatches=tuple(result.mismatches),
                unjudged=tuple(result.unjudged),
            )
        )
        return result

    async def _accept_submission(self, message: SubmittedMessage) -> str:
        """The submission server accepted a message: queue it durably before the 250."""
        assert self.queue is not None
        return await self.queue.accept(
            message.sender, message.recipients, message.content, message.queue_id
        )

    async def settled(self) -> None:
        """Wait until the queue is empty: every message delivered or returned to its sender."""
        if self.queue is not None:
            await self.queue.idle()
        await drain_relays(self._servers)  # a gateway's second hop (issue 4)

    def evaluate(self) -> RunResult:
        """Compare what happened with what the scenario expects."""
        result = RunResult()
        if self.queue is not None:
            self.results = [r for r in self.queue.results if r.queue_id in self.queue.final]
            for recipients in self.queue.final.values():
                for address, rcpt in recipients.items():
                    result.outcomes[address] = final_outcome(rcpt)
                    result.replies[address] = rcpt.reply
        expect = self.scenario.expect
        rejected = {e.recipient for e in self.results if e.outcome is Outcome.REJECTED}
        for recipient, wanted in expect.outcomes.items():
            got = result.outcomes.get(recipient)
            # "rejected" names the server's 5xx; with a queue its end is a bounce to the sender.
            said_5xx = wanted is Outcome.REJECTED and recipient in rejected
            if got is not wanted and not (said_5xx and got is Outcome.BOUNCED):
                result.mismatches.append(
                    f"{recipient}: expected {wanted}, got {got or 'no result'}"
                )
        for recipient, prefix in expect.replies.items():
            reply = result.replies.get(recipient, "")
            if not reply.startswith(prefix):
                result.mismatches.append(f"{recipient}: expected reply {prefix!r}, got {reply!r}")
        result.unjudged = [r for r in result.outcomes if r not in expect.outcomes]
        return result

    # ------------------------------------------------------------------ for serve and labs

    def _host_infos(self) -> list[HostInfo]:
        infos = []
        for spec in self.scenario.hosts:
            planned = self.ctx.plan.host(spec.name)
            # A down host keeps its port (bound, not listening): connecting is refused.
            ports = {str(service): port for service, port in planned.ports.items()}
            state = ""
            if Fault.DOWN in spec.faults:
                clears = spec.fault_clears_after
                state = "down: refuses connections" + (
                    f" until {spoken_span(clears)} after the start" if clears > 0 else ""
                )
            infos.append(HostInfo(spec.name, spec.address, str(spec.role), ports, state))
        return infos

    def describe(self) -> WorldInfo:
        dns = self.ctx.plan.host(self.scenario.dns_name)
        assert self.ctx.ca is not None
        return WorldInfo(
            scenario=self.scenario.name,
            dns_name=self.scenario.dns_name,
            dns_address=dns.address,
            dns_port=dns.ports[Service.DNS],
            ca_path=self.ctx.ca.path,
            mailbox_root=self.ctx.mailbox_root,
            zone_file=self.ctx.zone_file,
            run_dir=self.ctx.run_dir,
            hosts=tuple(self._host_infos()),
            users=tuple(UserInfo(u.address, u.password) for u in self.scenario.users),
            shared_loopback=self.ctx.plan.shared_loopback,
        )


def scenario_start(scenario: Scenario) -> float | None:
    """The world clock's start from ``[scenario] start`` (ISO 8601; UTC if no zone), else now."""
    if not scenario.timing.start:
        return None
    moment = datetime.fromisoformat(scenario.timing.start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
