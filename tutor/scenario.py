"""Load and validate scenarios: the data a teacher writes to describe one small mail world.

A scenario is a TOML file (see lessons/scenarios/hello.toml for a commented example). Loading
never raises anything but ScenarioError, whose message names the file, the line when it can be
found, and what is wrong, so the command line can print it as one line and exit 2.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor import tomlfile
from tutor.errors import UserError
from tutor.tomlfile import TomlFile
from tutor.trace import Outcome

SCENARIO_SUFFIX = ".toml"


class ScenarioError(UserError):
    """A scenario file is missing or malformed; str() is the one line to show the user."""


class Role(StrEnum):
    """What a host does in the world."""

    CLIENT = "client"  # the sender's mail program: connects to submission, listens on nothing
    OUTBOUND = "outbound"  # submission + the sender's MTA (+ SMTP for its own domains)
    MX = "mx"  # receives mail for its domains over SMTP and delivers into mailboxes
    GATEWAY = "gateway"  # receives for its domains, checks, relays to an internal host


class Fault(StrEnum):
    """Faults the engine can switch on for a host.

    Temporary faults (all but no-starttls and tamper-body) stop once the world clock has run
    ``fault_clears_after`` seconds past the start, when the host sets it; RCPT-level faults
    apply to the users in ``fault_users`` only, when the host lists any.
    """

    DOWN = "down"  # the port is bound but not listening: connections are refused
    GREET_421 = "greet-421"  # greets with 421 and closes, like an overloaded server
    NO_STARTTLS = "no-starttls"  # does not offer STARTTLS
    TIMEOUT = "timeout"  # accepts the connection and never says a word
    RCPT_451 = "rcpt-451"  # 451 4.3.0 at RCPT TO (local problem)
    RCPT_452 = "rcpt-452"  # 452 4.5.3 at RCPT TO (too many recipients / insufficient storage)
    DATA_451 = "data-451"  # 451 4.3.0 after the end of DATA
    MAILBOX_FULL = "mailbox-full"  # 452 4.2.2 at RCPT TO: the mailbox is over its quota
    TAMPER_BODY = "tamper-body"  # a relaying hop appends a footer to the body (breaks DKIM)
    VRFY_DISABLED = "vrfy-disabled"  # VRFY verifies nothing: 252, as RFC 5321 §7.3 asks


# Faults that fault_clears_after never ends: what the host is, not trouble it has.
PERMANENT_FAULTS = frozenset({Fault.NO_STARTTLS, Fault.TAMPER_BODY, Fault.VRFY_DISABLED})


class Check(StrEnum):
    """Policy checks a receiving host can run, in the order Postfix would."""

    DNSBL = "dnsbl"
    GREYLIST = "greylist"
    SPF = "spf"
    DKIM = "dkim"
    DMARC = "dmarc"


DEFAULT_MAX_SIZE = 10_240_000  # Postfix message_size_limit default
DEFAULT_DNS_NAME = "ns.tutor.test"
DEFAULT_DNS_ADDRESS = "127.0.0.10"
FIRST_HOST_OCTET = 11


@dataclass(frozen=True)
class HostSpec:
    name: str
    role: Role
    address: str
    domains: tuple[str, ...] = ()
    tls: bool = True
    max_size: int = DEFAULT_MAX_SIZE
    faults: frozenset[Fault] = frozenset()
    relay_to: str = ""
    checks: tuple[Check, ...] = ()
    dnsbl_zones: tuple[str, ...] = ()
    dkim_selector: str = ""  # outbound: sign with this selector (key published in DNS)
    fault_clears_after: float = 0.0  # seconds of world time; 0 = the faults never clear
    fault_users: tuple[str, ...] = ()  # RCPT-level faults only for these recipients
    # outbound: pipeline MAIL/RCPT/DATA when offered (RFC 2920), as Postfix's smtp(8) does.
    # Off by default for now: tutor.learn's anchors and templates pair each reply with the
    # command just before it, which holds only for a lock-step client (issue 14 item 7).
    pipelining: bool = False


@dataclass(frozen=True)
class UserSpec:
    address: str
    password: str = ""  # empty: the user has a mailbox but may not submit

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class ZoneSpec:
    origin: str
    text: str


@dataclass(frozen=True)
class MessageSpec:
    sender: str
    recipients: tuple[str, ...]
    subject: str = "Hello"
    body: str = "Hello!\n"
    header_from: str = ""  # the RFC5322.From if it differs from the envelope sender
    pad_to: int = 0  # grow the body to about this many bytes (for size lessons)
    submit_as: str = ""  # the submission login; defaults to the sender


@dataclass(frozen=True)
class Expectation:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)  # recipient -> reply prefix


@dataclass(frozen=True)
class Timing:
    """Queue and greylist timing overrides (seconds), by the Postfix / postgrey option name."""

    retry: dict[str, float] = field(default_factory=dict)
    greylist: dict[str, float] = field(default_factory=dict)
    start: str = ""  # ISO 8601 start of the world clock; empty = now


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    hosts: tuple[HostSpec, ...]
    users: tuple[UserSpec, ...]
    zones: tuple[ZoneSpec, ...]
    message: MessageSpec
    expect: Expectation
    dns_name: str = DEFAULT_DNS_NAME
    dns_address: str = DEFAULT_DNS_ADDRESS
    timing: Timing = field(default_factory=Timing)
    source: Path | None = None

    def host(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def hosts_with_role(self, role: Role) -> list[HostSpec]:
        return [h for h in self.hosts if h.role is role]

    @property
    def client(self) -> HostSpec:
        return self.hosts_with_role(Role.CLIENT)[0]

    @property
    def outbound(self) -> HostSpec:
        return self.hosts_with_role(Role.OUTBOUND)[0]

    def with_host(self, name: str, **changes: Any) -> Scenario:
        hosts = tuple(
            dataclasses.replace(h, **changes) if h.name == name else h for h in self.hosts
        )
        return dataclasses.replace(self, hosts=hosts)


# --------------------------------------------------------------------------- where scenarios live


def shipped_root() -> Path:
    """The lessons/ folder: inside the installed wheel, or at the top of a source checkout."""
    installed = Path(__file__).parent / "_shipped" / "lessons"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "lessons"


def scenario_dir() -> Path:
    return shipped_root() / "scenarios"


def shipped_scenarios() -> list[Path]:
    return sorted(scenario_dir().glob(f"*{SCENARIO_SUFFIX}"))


def find_scenario(name_or_path: str) -> Path:
    """A shipped scenario's name, or a path to a scenario file."""
    candidate = Path(name_or_path)
    # A bare name is a file only if one is there: a directory called "mx-down" in the
    # current folder (a kept run, say) must not hide the shipped scenario of that name.
    if candidate.suffix == SCENARIO_SUFFIX or candidate.is_file() or "/" in name_or_path:
        if not candidate.is_file():
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return candidate
    shipped = scenario_dir() / f"{name_or_path}{SCENARIO_SUFFIX}"
    if shipped.is_file():
        return shipped
    names = [p.stem for p in shipped_scenarios()]
    suggestion = tomlfile.suggestion(name_or_path, names)
    raise ScenarioError(
        f"{name_or_path}: no such scenario{suggestion}; `smtp-tutor scenarios` lists them"
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = find_scenario(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    return parse_scenario(text, path)


# --------------------------------------------------------------------------- parsing


_TOP_KEYS = ("scenario", "dns", "host", "user", "zone", "message", "expect", "retry", "greylist")
_RETRY_KEYS = (
    "queue_run_delay",
    "minimal_backoff_time",
    "maximal_backoff_time",
    "maximal_queue_lifetime",
    "bounce_queue_lifetime",
    "delay_warning_time",
)
_GREYLIST_KEYS = ("delay", "retry_window", "max_age", "auto_whitelist_clients")
_SCENARIO_KEYS = ("name", "title", "description", "start")
_DNS_KEYS = ("name", "address")
_HOST_KEYS = (
    "name",
    "role",
    "address",
    "domains",
    "tls",
    "max_size",
    "faults",
    "relay_to",
    "checks",
    "dnsbl_zones",
    "dkim_selector",
    "fault_clears_after",
    "fault_users",
    "pipelining",
)
_USER_KEYS = ("address", "password")
_ZONE_KEYS = ("origin", "text")
_MESSAGE_KEYS = ("from", "to", "subject", "body", "header_from", "pad_to", "submit_as")
_EXPECT_KEYS = ("delivered", "rejected", "deferred", "bounced", "refused", "replies")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$", re.I
)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def parse_scenario(text: str, path: Path) -> Scenario:
    """Parse and validate scenario text; every problem becomes a ScenarioError."""
    reader = tomlfile.parse(text, path, error=ScenarioError)
    data = reader.data
    reader.check_keys("", data, _TOP_KEYS)

    meta = reader.table("", data, "scenario", required=True)
    reader.check_keys("scenario", meta, _SCENARIO_KEYS)
    name = reader.string("scenario", meta, "name", path.stem)
    title = reader.string("scenario", meta, "title")
    description = reader.string("scenario", meta, "description", title)

    dns = reader.table("", data, "dns")
    reader.check_keys("dns", dns, _DNS_KEYS)
    dns_name = reader.string("dns", dns, "name", DEFAULT_DNS_NAME).lower()
    dns_address = reader.string("dns", dns, "address", DEFAULT_DNS_ADDRESS)
    _check_loopback(reader, "dns.address", dns_address)

    hosts = _parse_hosts(reader, data, dns_address)
    users = _parse_users(reader, data)
    zones = _parse_zones(reader, data)
    message = _parse_message(reader, data)
    expect = _parse_expect(reader, data, message)
    timing = _parse_timing(reader, data, meta)

    scenario = Scenario(
        name=name,
        title=title,
        description=description,
        hosts=hosts,
        users=users,
        zones=zones,
        message=message,
        expect=expect,
        dns_name=dns_name,
        dns_address=dns_address,
        timing=timing,
        source=path,
    )
    _check_world(reader, scenario)
    return scenario


def _check_loopback(reader: TomlFile, where: str, address: str) -> None:
    if not re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", address) or any(
        int(octet) > 255 for octet in address.split(".")
    ):
        raise reader.fail(where, f"{address!r} is not a loopback address (127.0.0.0/8)")


def _parse_hosts(reader: TomlFile, data: dict[str, Any], dns_address: str) -> tuple[HostSpec, ...]:
    hosts: list[HostSpec] = []
    taken = {dns_address}
    next_octet = FIRST_HOST_OCTET
    for index, table in enumerate(reader.tables("", data, "host")):
        where = f"host[{index}]"
        reader.check_keys(where, table, _HOST_KEYS)
        name = reader.string(where, table, "name").lower().rstrip(".")
        if not _HOSTNAME.match(name):
            raise reader.fail(f"{where}.name", f"{name!r} is not a fully qualified host name")
        role_text = reader.string(where, table, "role")
        try:
            role = Role(role_text)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise reader.fail(
                f"{where}.role", f"unknown role {role_text!r}; one of {roles}"
            ) from None
        if "address" in table:
            address = reader.string(where, table, "address")
            _check_loopback(reader, f"{where}.address", address)
        else:
            while f"127.0.0.{next_octet}" in taken:
                next_octet += 1
            address = f"127.0.0.{next_octet}"
        if address in taken:
            raise reader.fail(f"{where}.address", f"{address} is already used by another host")
        taken.add(address)
        fault_names = reader.strings(where, table, "faults")
        faults = set()
        for fault_name in fault_names:
            try:
                faults.add(Fault(fault_name))
            except ValueError:
                known = ", ".join(f.value for f in Fault)
                raise reader.fail(
                    f"{where}.faults", f"unknown fault {fault_name!r}; one of {known}"
                ) from None
        domains = tuple(d.lower().rstrip(".") for d in reader.strings(where, table, "domains"))
        checks = []
        for check_name in reader.strings(where, table, "checks"):
            try:
                checks.append(Check(check_name))
            except ValueError:
                known = ", ".join(c.value for c in Check)
                raise reader.fail(
                    f"{where}.checks", f"unknown check {check_name!r}; one of {known}"
                ) from None
        dnsbl_zones = reader.strings(where, table, "dnsbl_zones")
        if Check.DNSBL in checks and not dnsbl_zones:
            raise reader.fail(where, 'checks = ["dnsbl"] needs dnsbl_zones = ["bl.example", ...]')
        if role in (Role.MX, Role.GATEWAY) and not domains:
            raise reader.fail(where, f"a {role} host needs domains = [...] it receives mail for")
        hosts.append(
            HostSpec(
                name=name,
                role=role,
                address=address,
                domains=domains,
                tls=reader.boolean(where, table, "tls", True),
                max_size=reader.integer(where, table, "max_size", DEFAULT_MAX_SIZE),
                faults=frozenset(faults),
                relay_to=reader.string(where, table, "relay_to", "").lower(),
                checks=tuple(checks),
                dnsbl_zones=tuple(z.lower().rstrip(".") for z in dnsbl_zones),
                dkim_selector=reader.string(where, table, "dkim_selector", ""),
                fault_clears_after=reader.duration(where, table, "fault_clears_after", 0.0),
                fault_users=reader.strings(where, table, "fault_users"),
                pipelining=reader.boolean(where, table, "pipelining", False),
            )
        )
    return tuple(hosts)


def _parse_users(reader: TomlFile, data: dict[str, Any]) -> tuple[UserSpec, ...]:
    users = []
    for index, table in enumerate(reader.tables("", data, "user")):
        where = f"user[{index}]"
        reader.check_keys(where, table, _USER_KEYS)
        address = reader.string(where, table, "address")
        if not _ADDRESS.match(address):
            raise reader.fail(f"{where}.address", f"{address!r} is not a mail address")
        users.append(
            UserSpec(address=address, password=reader.string(where, table, "password", ""))
        )
    return tuple(users)


def _parse_zones(reader: TomlFile, data: dict[str, Any]) -> tuple[ZoneSpec, ...]:
    zones = []
    for index, table in enumerate(reader.tables("", data, "zone")):
        where = f"zone[{index}]"
        reader.check_keys(where, table, _ZONE_KEYS)
        origin = reader.string(where, table, "origin").lower().rstrip(".")
        zones.append(ZoneSpec(origin=origin, text=reader.string(where, table, "text", "")))
    return tuple(zones)


def _parse_message(reader: TomlFile, data: dict[str, Any]) -> MessageSpec:
    table = reader.table("", data, "message", required=True)
    reader.check_keys("message", table, _MESSAGE_KEYS)
    sender = reader.string("message", table, "from")
    recipients = reader.strings("message", table, "to")
    if not recipients:
        raise reader.fail("message.to", "needs at least one recipient")
    for address in (sender, *recipients):
        if not _ADDRESS.match(address):
            raise reader.fail("message", f"{address!r} is not a mail address")
    return MessageSpec(
        sender=sender,
        recipients=recipients,
        subject=reader.string("message", table, "subject", "Hello"),
        body=reader.string("message", table, "body", "Hello!\n"),
        header_from=reader.string("message", table, "header_from", ""),
        pad_to=reader.integer("message", table, "pad_to", 0),
        submit_as=reader.string("message", table, "submit_as", ""),
    )


def _parse_expect(reader: TomlFile, data: dict[str, Any], message: MessageSpec) -> Expectation:
    table = reader.table("", data, "expect")
    reader.check_keys("expect", table, _EXPECT_KEYS)
    outcomes: dict[str, Outcome] = {}
    for outcome in Outcome:
        for address in reader.strings("expect", table, outcome.value):
            if address not in message.recipients:
                raise reader.fail(f"expect.{outcome.value}", f"{address!r} is not in message.to")
            outcomes[address] = outcome
    replies = table.get("replies", {})
    if not isinstance(replies, dict) or not all(isinstance(v, str) for v in replies.values()):
        raise reader.fail("expect.replies", 'must map recipients to reply prefixes ("550 5.1.1")')
    if not table:
        outcomes = {address: Outcome.DELIVERED for address in message.recipients}
    return Expectation(outcomes=outcomes, replies=dict(replies))


def _parse_timing(reader: TomlFile, data: dict[str, Any], meta: dict[str, Any]) -> Timing:
    retry_table = reader.table("", data, "retry")
    reader.check_keys("retry", retry_table, _RETRY_KEYS)
    greylist_table = reader.table("", data, "greylist")
    reader.check_keys("greylist", greylist_table, _GREYLIST_KEYS)
    retry = {k: reader.duration("retry", retry_table, k, 0.0) for k in retry_table}
    low = retry.get("minimal_backoff_time", 300.0)  # Postfix's defaults
    high = retry.get("maximal_backoff_time", 4000.0)
    if low > high:
        key = "minimal_backoff_time" if "minimal_backoff_time" in retry else "maximal_backoff_time"
        raise reader.fail(
            f"retry.{key}",
            f"minimal_backoff_time ({low:g} s) must not exceed maximal_backoff_time ({high:g} s)",
        )
    greylist = {
        k: (
            float(reader.integer("greylist", greylist_table, k, 0))
            if k == "auto_whitelist_clients"
            else reader.duration("greylist", greylist_table, k, 0.0)
        )
        for k in greylist_table
    }
    start = reader.string("scenario", meta, "start", "")
    if start:
        from datetime import datetime

        try:
            datetime.fromisoformat(start)
        except ValueError:
            raise reader.fail("scenario.start", f"{start!r} is not an ISO 8601 time") from None
    return Timing(retry=retry, greylist=greylist, start=start)


def _check_world(reader: TomlFile, scenario: Scenario) -> None:
    names = [h.name for h in scenario.hosts]
    for name in names:
        if names.count(name) > 1:
            raise reader.fail("host", f"host {name!r} is declared twice")
    for role in (Role.CLIENT, Role.OUTBOUND):
        if len(scenario.hosts_with_role(role)) != 1:
            raise reader.fail(
                "host", f"a scenario needs exactly one host with role = {role.value!r}"
            )
    for index, host in enumerate(scenario.hosts):
        if host.relay_to and host.relay_to not in names:
            raise reader.fail(f"host[{index}].relay_to", f"{host.relay_to!r} is not a host here")
    if not scenario.zones:
        raise reader.fail("zone", "a scenario needs at least one [[zone]] so mail can find an MX")
    submitter = scenario.message.submit_as or scenario.message.sender
    if not any(u.address == submitter and u.password for u in scenario.users):
        raise reader.fail(
            "user", f"{submitter!r} sends the message, so it needs a [[user]] with a password"
        )


# --------------------------------------------------------------------------- what-if toggles


@dataclass(frozen=True)
class WhatIf:
    """A fault a learner can switch on before a run, applicable to any scenario."""

    key: str
    label: str
    apply: Callable[[Scenario], Scenario]


def _mx_hosts(scenario: Scenario) -> list[HostSpec]:
    """The hosts that receive the message: MX and gateway hosts of the recipients' domains
    (not the sender's provider, which only receives the DSN), or every one if none says."""
    receiving = [h for h in scenario.hosts if h.role in (Role.MX, Role.GATEWAY)]
    domains = {r.rpartition("@")[2].lower() for r in scenario.message.recipients}
    ours = [h for h in receiving if domains & {d.lower() for d in h.domains}]
    return ours or receiving


def _add_fault(scenario: Scenario, hosts: list[HostSpec], fault: Fault) -> Scenario:
    for host in hosts:
        scenario = scenario.with_host(host.name, faults=host.faults | {fault})
    return scenario


def _mx_records(scenario: Scenario, domain: str) -> list[tuple[int, str]]:
    """(preference, host) of the MX records the scenario's zones publish for ``domain``,
    most preferred first. A light read of the zone text (owner ``@`` or the domain itself),
    so drawing the picker does not load dnspython."""
    domain = domain.rstrip(".").lower()
    records = []
    for zone in scenario.zones:
        if zone.origin.rstrip(".").lower() != domain:
            continue
        for line in zone.text.splitlines():
            tokens = line.split(";", 1)[0].split()
            upper = [t.upper() for t in tokens]
            if "MX" not in upper or line[:1].isspace():
                continue
            at = upper.index("MX")
            if tokens[0].rstrip(".").lower() not in ("@", domain) or len(tokens) < at + 3:
                continue
            if tokens[at + 1].isdigit():
                records.append((int(tokens[at + 1]), tokens[at + 2].rstrip(".").lower()))
    return sorted(records)


def _all_delivered(scenario: Scenario) -> bool:
    """Whether every recipient is expected to arrive: what the what-ifs can predict from."""
    outcomes = scenario.expect.outcomes
    return all(outcomes.get(r) is Outcome.DELIVERED for r in scenario.message.recipients)


def _unjudged(scenario: Scenario) -> Scenario:
    """No expected outcome any more: the what-if changes the story in a way it cannot tell
    in advance (the run shows what happened, marked as not judged)."""
    return dataclasses.replace(scenario, expect=Expectation())


def _preferred_mx_fails(scenario: Scenario, fault: Fault) -> Scenario:
    """The recipient domain's preferred MX gets ``fault``; the ending follows from how many
    MX hosts the domain has and whether the host's faults ever clear."""
    domain = scenario.message.recipients[0].rpartition("@")[2]
    records = _mx_records(scenario, domain)
    names = {h.name for h in scenario.hosts}
    preferred = [h for h in scenario.hosts if records and h.name == records[0][1]]
    target = preferred or _mx_hosts(scenario)[:1]
    if all(fault in host.faults for host in target):
        return scenario  # the scenario already has it: nothing changes
    scenario = _add_fault(scenario, target, fault)
    if len({host for _, host in records if host in names}) >= 2:
        # The sender falls back to the next MX: the same ending, if it was a plain delivery.
        return scenario if _all_delivered(scenario) else _unjudged(scenario)
    if target and not target[0].fault_clears_after:
        # The only MX never answers: five days of retries, then a DSN for every recipient.
        expect = Expectation(outcomes={r: Outcome.BOUNCED for r in scenario.message.recipients})
        return dataclasses.replace(scenario, expect=expect)
    return _unjudged(scenario)  # it comes back at some point: the scenario's own story


def _preferred_mx_down(scenario: Scenario) -> Scenario:
    return _preferred_mx_fails(scenario, Fault.DOWN)


def _no_starttls(scenario: Scenario) -> Scenario:
    return _add_fault(scenario, _mx_hosts(scenario), Fault.NO_STARTTLS)


def _unknown_recipient(scenario: Scenario) -> Scenario:
    domain = scenario.message.recipients[0].rpartition("@")[2]
    ghost = f"nobody@{domain}"
    message = dataclasses.replace(
        scenario.message, recipients=(*scenario.message.recipients, ghost)
    )
    if not _all_delivered(scenario):
        # Where the real recipient does not get through either (a blocklist, a dead MX),
        # the ghost never reaches the mailbox lookup: its fate is the scenario's, not 550.
        return dataclasses.replace(scenario, message=message)
    expect = Expectation(
        outcomes={**scenario.expect.outcomes, ghost: Outcome.BOUNCED},  # 550, then a DSN
        replies={**scenario.expect.replies, ghost: "550 5.1.1"},
    )
    return dataclasses.replace(scenario, message=message, expect=expect)


def _too_big(scenario: Scenario) -> Scenario:
    limit = min((h.max_size for h in _mx_hosts(scenario)), default=DEFAULT_MAX_SIZE)
    limit = min(limit, 20_000)
    for host in _mx_hosts(scenario):
        scenario = scenario.with_host(host.name, max_size=limit)
    message = dataclasses.replace(scenario.message, pad_to=limit * 2)
    if not _all_delivered(scenario):
        return _unjudged(dataclasses.replace(scenario, message=message))
    expect = Expectation(
        outcomes={r: Outcome.BOUNCED for r in message.recipients},  # the client's 5.3.4
        replies={r: "message size" for r in message.recipients},
    )
    return dataclasses.replace(scenario, message=message, expect=expect)


def _preferred_mx_greets_421(scenario: Scenario) -> Scenario:
    return _preferred_mx_fails(scenario, Fault.GREET_421)


WHAT_IF_GREYLIST_DELAY = 240.0  # as the greylist scenario: the first retry (5 min) gets in


def _greylisting(scenario: Scenario) -> Scenario:
    for host in _mx_hosts(scenario):
        if Check.GREYLIST not in host.checks:
            scenario = scenario.with_host(host.name, checks=(Check.GREYLIST, *host.checks))
    greylist = {"delay": WHAT_IF_GREYLIST_DELAY, **scenario.timing.greylist}
    return dataclasses.replace(
        scenario, timing=dataclasses.replace(scenario.timing, greylist=greylist)
    )


WHAT_IF_QUOTA_HOURS = 2


def _mailbox_full(scenario: Scenario) -> Scenario:
    first = scenario.message.recipients[0]
    hosts = _mx_hosts(scenario)
    # A host's faults share one clearing time: on a host whose own trouble never clears, the
    # quota never clears either, and the story is the scenario's rather than the what-if's.
    stuck = any(not h.fault_clears_after and h.faults - PERMANENT_FAULTS for h in hosts)
    for host in hosts:
        scenario = scenario.with_host(
            host.name,
            faults=host.faults | {Fault.MAILBOX_FULL},
            fault_users=(*host.fault_users, first),
            fault_clears_after=host.fault_clears_after
            or (0.0 if stuck else WHAT_IF_QUOTA_HOURS * 3600.0),
        )
    return _unjudged(scenario) if stuck else scenario


def _every_mx_down(scenario: Scenario) -> Scenario:
    for host in _mx_hosts(scenario):  # for good: no fault of the scenario's clears either
        scenario = scenario.with_host(
            host.name, faults=host.faults | {Fault.DOWN}, fault_clears_after=0.0
        )
    expect = Expectation(outcomes={r: Outcome.BOUNCED for r in scenario.message.recipients})
    return dataclasses.replace(scenario, expect=expect)  # five days of retries, then a DSN


WHAT_IFS: tuple[WhatIf, ...] = (
    WhatIf("mx-down", "Preferred MX is down (refuses)", _preferred_mx_down),
    WhatIf("greet-421", "Preferred MX greets 421 (busy)", _preferred_mx_greets_421),
    WhatIf("no-starttls", "MX offers no STARTTLS", _no_starttls),
    WhatIf("unknown-user", "Add an unknown recipient (550)", _unknown_recipient),
    WhatIf("too-big", "Message too big for the MX (5.3.4)", _too_big),
    WhatIf("greylist", "MX greylists new senders (450)", _greylisting),
    WhatIf(
        "mailbox-full",
        f"Mailbox full for {WHAT_IF_QUOTA_HOURS} h (452 4.2.2)",
        _mailbox_full,
    ),
    WhatIf("all-mx-down", "Every MX down for 5 days (DSN)", _every_mx_down),
)


def apply_what_ifs(scenario: Scenario, keys: set[str] | frozenset[str]) -> Scenario:
    """The scenario with the chosen what-if toggles applied, in a fixed order."""
    for what_if in WHAT_IFS:
        if what_if.key in keys:
            scenario = what_if.apply(scenario)
    return scenario
