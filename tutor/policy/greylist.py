"""Greylisting with postgrey's semantics, on the world clock, its state in a small JSON file.

What postgrey (1.37, ``smtpd_access_policy``) does and this module does the same way:

* The key is the triplet (client network, sender, recipient), lower-cased. The client network is
  the /24 of an IPv4 address (``--lookup-by-subnet``, the default), because big senders retry
  from another address of the same pool; an IPv6 address is used whole. The sender is
  normalised so that per-message return paths do not make a new triplet each time: a BATV
  ``prvs=TAG=user`` prefix is removed, a ``+extension`` is stripped and every run of digits
  that is a word of its own becomes ``#`` (VERP).
* First sight of a triplet: defer. A retry earlier than ``delay`` (300 s) after first sight:
  defer again, with the seconds still missing. Later: pass, with an ``X-Greylist`` header
  saying how long the mail was delayed; once a triplet has passed, it passes at once.
* A triplet that never passed and is retried more than ``retry_window`` (2 days) after first
  sight starts over; any triplet unseen for ``max_age`` (35 days) is forgotten.
* Auto-whitelist: each time a client address passes greylisting (at most once an hour) its
  count goes up; from ``auto_whitelist_clients`` (5) passes on, it is not greylisted at all.

The reply is the one a Postfix MX with postgrey as its policy service sends: postgrey answers
``DEFER_IF_PERMIT 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/DOMAIN.html`` (its
--greylist-action and --greylist-text; the 4.2.0 because Postfix passes etrn_domain), and
Postfix's smtpd turns that into ``450 4.2.0 <rcpt>: Recipient address rejected: Greylisted,
see ...`` (access_map_defer_code = 450). What differs: the help URL cannot be opened from this
world (the trace's steps say what it would explain), and the greylist scenario sets a shorter
delay than postgrey's 300 s (see its comments).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor.clock import Clock, spoken_span
from tutor.policy.verdict import Action, Verdict

STORE_VERSION = 1
AWL_COUNT_INTERVAL = 3600.0  # postgrey counts at most one pass per client and hour


@dataclass(frozen=True)
class GreylistPolicy:
    """postgrey's options (seconds, not days), plus the reply this MX sends."""

    delay: float = 300.0  # --delay
    retry_window: float = 2 * 86400.0  # --retry-window (2 days)
    max_age: float = 35 * 86400.0  # --max-age (35 days)
    auto_whitelist_clients: int = 5  # --auto-whitelist-clients; 0 turns it off
    lookup_by_host: bool = False  # --lookup-by-host: key on the whole address, not the /24
    reply_code: int = 450  # Postfix's access_map_defer_code, for DEFER_IF_PERMIT
    enhanced_code: str = "4.2.0"  # postgrey's, "a workaround for an Exchange bug"
    greylist_text: str = "Greylisted, see http://postgrey.schweikert.ch/help/%r.html"
    hostname: str = "mx"  # for the X-Greylist header (postgrey's --hostname)

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, float], hostname: str) -> GreylistPolicy:
        """postgrey defaults with a scenario's ``[greylist]`` table on top (``Timing.greylist``)."""
        values: dict[str, Any] = dict(overrides)
        if "auto_whitelist_clients" in values:
            values["auto_whitelist_clients"] = int(values["auto_whitelist_clients"])
        return cls(hostname=hostname, **values)


class GreylistAction(StrEnum):
    PASS = "pass"
    DEFER = "defer"


class GreylistResult(StrEnum):
    """Why the decision came out as it did (the Verdict's result word)."""

    NEW = "new"  # first sight of the triplet: deferred
    EARLY_RETRY = "early-retry"  # retried before the delay was over: deferred
    PASSED = "pass"  # retried after the delay: accepted now (with X-Greylist)
    KNOWN = "known"  # triplet passed before: accepted without delay
    WHITELISTED = "whitelisted"  # the client is on the auto-whitelist


@dataclass(frozen=True)
class GreylistDecision:
    """One answer of the greylist: what to do, the reply to send, and the steps that led to it."""

    action: GreylistAction
    result: GreylistResult
    triplet: tuple[str, str, str]
    reply: str = ""  # set when action is DEFER: the whole reply line, without CRLF
    seconds_left: int = 0  # for DEFER: how long until a retry would pass
    delayed: int = 0  # for PASSED: how long the triplet was held back
    header: str = ""  # for PASSED: the X-Greylist header line to prepend
    reasons: tuple[str, ...] = ()

    @property
    def deferred(self) -> bool:
        return self.action == GreylistAction.DEFER

    @property
    def postgrey_reason(self) -> str:
        """The ``reason=`` postgrey logs for this decision."""
        return {
            GreylistResult.NEW: "new",
            GreylistResult.EARLY_RETRY: f"early-retry ({self.seconds_left}s missing)",
            GreylistResult.PASSED: "triplet found",
            GreylistResult.KNOWN: "triplet found",
            GreylistResult.WHITELISTED: "client AWL",
        }[self.result]

    def to_verdict(self) -> Verdict:
        """The decision as the policy pipeline's Verdict (check "greylist")."""
        return Verdict(
            check="greylist",
            result=str(self.result),
            reasons=self.reasons,
            action=Action.DEFER if self.deferred else Action.NONE,
            reply=self.reply,
            header=self.header,
            extra={
                "triplet": self.triplet,
                "seconds_left": self.seconds_left,
                "delayed": self.delayed,
            },
        )


@dataclass
class _Triplet:
    first: float
    last: float

    def passed(self, delay: float) -> bool:
        # postgrey's test for "the last time was successful": last - first >= delay
        return self.last - self.first >= delay


@dataclass
class _State:
    triplets: dict[str, _Triplet] = field(default_factory=dict)
    clients: dict[str, tuple[int, float]] = field(default_factory=dict)  # ip -> (count, last)


def normalise_sender(sender: str) -> str:
    """postgrey's sender substitutions: drop BATV tags, +extensions and VERP numbers."""
    user, at, domain = sender.partition("@")
    if not at:
        return sender.lower()
    if user.lower().startswith("prvs="):
        parts = user.split("=")
        if len(parts) == 3:
            tagged = re.compile(r"^[0-9a-z]{10}", re.IGNORECASE)
            if tagged.match(parts[1]) and not tagged.match(parts[2]):
                user = parts[2]
            elif tagged.match(parts[2]) and not tagged.match(parts[1]):
                user = parts[1]
            else:
                user = parts[2]
    user = user.split("+", 1)[0]
    user = re.sub(r"\b\d+\b", "#", user)
    return f"{user}@{domain}".lower()


def client_network(client_ip: str, lookup_by_host: bool = False) -> str:
    """The client part of the key: the /24 network of an IPv4 address (as postgrey writes it,
    ``192.0.2.0``), or the whole address."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip.lower()
    if lookup_by_host or address.version != 4:
        return str(address)
    network = ipaddress.ip_network(f"{address}/24", strict=False)
    return str(network.network_address)


class Greylist:
    """The greylist of one MX. ``check`` is called for each RCPT TO; the state survives restarts.

    ``store_path`` None keeps the state in memory only (tests, one-off worlds).
    """

    def __init__(
        self,
        clock: Clock,
        store_path: Path | str | None = None,
        policy: GreylistPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy or GreylistPolicy()
        self.store_path = Path(store_path) if store_path is not None else None
        self._state = self._load()

    # ------------------------------------------------------------------ the decision

    def check(self, client_ip: str, sender: str, recipient: str) -> GreylistDecision:
        """Decide for one recipient of one attempt, and remember that this attempt happened."""
        policy = self.policy
        now = self.clock.now()
        net = client_network(client_ip, policy.lookup_by_host)
        norm_sender = normalise_sender(sender)
        triplet = (net, norm_sender, recipient.lower())
        key = "/".join(triplet)
        steps = [
            f"triplet: client network {net}, sender <{norm_sender}>, "
            f"recipient <{recipient.lower()}>"
        ]
        if norm_sender != sender.lower():
            steps.append(f"sender <{sender}> normalised to <{norm_sender}> as postgrey does")

        count, _last = self._state.clients.get(client_ip, (0, 0.0))
        if policy.auto_whitelist_clients and count >= policy.auto_whitelist_clients:
            if now >= _last + AWL_COUNT_INTERVAL:
                self._state.clients[client_ip] = (count + 1, now)
                self._save()
            steps.append(
                f"client {client_ip} passed greylisting {count} times "
                f"(auto-whitelist from {policy.auto_whitelist_clients}): no greylisting"
            )
            return GreylistDecision(
                GreylistAction.PASS, GreylistResult.WHITELISTED, triplet, reasons=tuple(steps)
            )

        entry = self._state.triplets.get(key)
        if entry is not None and now - entry.last > policy.max_age:
            steps.append(f"last seen {spoken_span(now - entry.last)} ago, past max-age: forgotten")
            entry = None
        was_passed = entry is not None and entry.passed(policy.delay)
        if entry is None:
            first = now
            steps.append("never seen before")
        elif not was_passed and now - entry.first > policy.retry_window:
            first = now
            steps.append(
                f"first seen {spoken_span(now - entry.first)} ago, past the "
                f"{spoken_span(policy.retry_window)} retry window: starting over"
            )
        else:
            first = entry.first
            steps.append(f"first seen {spoken_span(now - first)} ago")
        self._state.triplets[key] = _Triplet(first, now)
        left = policy.delay - (now - first)

        counts = count == 0 or now >= _last + AWL_COUNT_INTERVAL
        if left <= 0 and not was_passed and policy.auto_whitelist_clients and counts:
            self._state.clients[client_ip] = (count + 1, now)
        self._save()

        if left > 0:
            seconds = int(-(-left // 1))  # round up: never invite a retry that is still early
            result = GreylistResult.NEW if first == now else GreylistResult.EARLY_RETRY
            why = (
                "this client network, sender and recipient have not been seen together before"
                if result == GreylistResult.NEW
                else f"the retry came {seconds} s too early"
            )
            steps.append(f"deferred: {why}; a retry after {seconds} s will pass")
            return GreylistDecision(
                GreylistAction.DEFER,
                result,
                triplet,
                reply=self._reply(recipient, seconds, result),
                seconds_left=seconds,
                reasons=tuple(steps),
            )
        if was_passed:
            steps.append("this triplet passed greylisting before: accepted at once")
            return GreylistDecision(
                GreylistAction.PASS, GreylistResult.KNOWN, triplet, reasons=tuple(steps)
            )
        delayed = int(now - first)
        steps.append(
            f"retried after {delayed} s (at least {int(policy.delay)} s): a real MTA with a "
            "queue, accepted and marked with X-Greylist"
        )
        return GreylistDecision(
            GreylistAction.PASS,
            GreylistResult.PASSED,
            triplet,
            delayed=delayed,
            header=self.header(delayed, now),
            reasons=tuple(steps),
        )

    def evaluate(self, client_ip: str, sender: str, recipient: str) -> Verdict:
        """``check`` as a Verdict, for the receiver's policy pipeline."""
        return self.check(client_ip, sender, recipient).to_verdict()

    def _reply(self, recipient: str, seconds: int, result: GreylistResult) -> str:
        """Postfix's reply to postgrey's DEFER_IF_PERMIT: ``%r`` is the recipient's domain and
        ``%s`` the seconds still to wait, as postgrey substitutes them in --greylist-text."""
        policy = self.policy
        domain = recipient.rpartition("@")[2]
        text = policy.greylist_text.replace("%s", str(seconds), 1).replace("%r", domain, 1)
        return (
            f"{policy.reply_code} {policy.enhanced_code} <{recipient}>: Recipient address "
            f"rejected: {text}"
        )

    def header(self, delayed: int, when: float) -> str:
        """The X-Greylist header line, in postgrey's wording with this tutor's name."""
        date = format_datetime(datetime.fromtimestamp(when, UTC))
        return (
            f"X-Greylist: delayed {delayed} seconds by smtp-tutor greylist at "
            f"{self.policy.hostname}; {date}"
        )

    # ------------------------------------------------------------------ persistence

    def _load(self) -> _State:
        if self.store_path is None or not self.store_path.exists():
            return _State()
        try:
            data: dict[str, Any] = json.loads(self.store_path.read_text("utf-8"))
            if data.get("version") != STORE_VERSION:
                return _State()
            return _State(
                triplets={k: _Triplet(*v) for k, v in data.get("triplets", {}).items()},
                clients={k: (int(v[0]), float(v[1])) for k, v in data.get("clients", {}).items()},
            )
        except (OSError, ValueError, TypeError):
            # A damaged greylist only costs one more delay per sender: start afresh.
            return _State()

    def _save(self) -> None:
        if self.store_path is None:
            return
        now = self.clock.now()
        self._expire(now)
        data = {
            "version": STORE_VERSION,
            "triplets": {k: [t.first, t.last] for k, t in self._state.triplets.items()},
            "clients": {k: [c, last] for k, (c, last) in self._state.clients.items()},
        }
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.store_path.with_suffix(self.store_path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, self.store_path)

    def _expire(self, now: float) -> None:
        """postgrey's nightly maintenance, done on every save (the store is tiny)."""
        delay, window, max_age = self.policy.delay, self.policy.retry_window, self.policy.max_age
        for key, t in list(self._state.triplets.items()):
            if now - t.last > max_age or (not t.passed(delay) and now - t.last > window):
                del self._state.triplets[key]
        for ip, (_count, last) in list(self._state.clients.items()):
            if now - last > max_age:
                with contextlib.suppress(KeyError):
                    del self._state.clients[ip]
