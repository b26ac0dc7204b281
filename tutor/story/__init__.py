"""Shared folds of a trace: what views, lessons and quizzes ask of a run, answered once.

Textual-free and world-free: story reads a sequence of trace events (live or recorded) and
nothing else. One module per question:

* ``session``   — one Session per connection: client, server, which ends recorded it, when;
* ``side``      — the two sides of each step: a client record and its server-side twin;
* ``exchange``  — which host answered what to which command, per session;
* ``stage``     — which lifecycle stages happened, in the run and per hop;
* ``message``   — the message as it grows hop by hop, and who added each header;
* ``dsn``       — each DSN's fields (Action, Status, Diagnostic-Code, ...) and their causes;
* ``timeline``  — retry timelines per queue id, and the gaps between attempts;
* ``mx``        — the MX records a sender got and the order it connected to them;
* ``verdict``   — policy verdicts per check, what SPF checked, DMARC's alignment and policy;
* ``host``      — the world's hosts and the role each played (client, outbound, mx, gateway);
* ``ehlo``      — the extensions each server offered in answer to EHLO, before and after TLS.

Modules are named in the singular so that none shadows a function of the same name
(``story.sessions(events)`` is the function; ``tutor.story.session`` the module).

Names are loaded on first use (PEP 562): ``from tutor.story import SessionBook`` imports the
session module only, so ``run --plain``, which needs four of the folds, does not pay for all
nine (tests/test_story.py proves it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module (one fold) that defines it.
_HOME: dict[str, str] = {
    "Dsn": "dsn",
    "DsnCause": "dsn",
    "dsn_causes": "dsn",
    "dsns": "dsn",
    "Exchange": "exchange",
    "Prompt": "exchange",
    "answer_to": "exchange",
    "commands": "exchange",
    "exchanges": "exchange",
    "HeaderLine": "message",
    "MessageState": "message",
    "message_state": "message",
    "shaping_events": "message",
    "MxChoice": "mx",
    "MxConnection": "mx",
    "MxRecord": "mx",
    "mx_choices": "mx",
    "mx_records": "mx",
    "Session": "session",
    "SessionBook": "session",
    "session_book": "session",
    "sessions": "session",
    "sessions_from_outside": "session",
    "DnsQuestions": "side",
    "SidePairs": "side",
    "StepSides": "side",
    "TWO_ENDED_KINDS": "side",
    "is_server_copy": "side",
    "pair_sides": "side",
    "HopStages": "stage",
    "hop_stages": "stage",
    "stages_of": "stage",
    "stages_seen": "stage",
    "Attempt": "timeline",
    "DsnSent": "timeline",
    "RetryGap": "timeline",
    "Timeline": "timeline",
    "build_timelines": "timeline",
    "retry_gaps": "timeline",
    "Alignment": "verdict",
    "dmarc_alignment": "verdict",
    "verdicts": "verdict",
    "verdicts_by_check": "verdict",
    "DmarcPolicy": "verdict",
    "SpfCheck": "verdict",
    "dmarc_policy": "verdict",
    "spf_check": "verdict",
    "Host": "host",
    "Role": "host",
    "host_roles": "host",
    "receiving_hosts": "host",
    "world_hosts": "host",
    "EhloOffer": "ehlo",
    "Extension": "ehlo",
    "ehlo_offers": "ehlo",
}

__all__ = [
    "TWO_ENDED_KINDS",
    "Alignment",
    "Attempt",
    "DmarcPolicy",
    "DnsQuestions",
    "Dsn",
    "DsnCause",
    "DsnSent",
    "EhloOffer",
    "Exchange",
    "Extension",
    "HeaderLine",
    "HopStages",
    "Host",
    "MessageState",
    "MxChoice",
    "MxConnection",
    "MxRecord",
    "Prompt",
    "RetryGap",
    "Role",
    "Session",
    "SessionBook",
    "SidePairs",
    "SpfCheck",
    "StepSides",
    "Timeline",
    "answer_to",
    "build_timelines",
    "commands",
    "dmarc_alignment",
    "dmarc_policy",
    "dsn_causes",
    "dsns",
    "ehlo_offers",
    "exchanges",
    "hop_stages",
    "host_roles",
    "is_server_copy",
    "message_state",
    "mx_choices",
    "mx_records",
    "pair_sides",
    "receiving_hosts",
    "retry_gaps",
    "session_book",
    "sessions",
    "sessions_from_outside",
    "shaping_events",
    "spf_check",
    "stages_of",
    "stages_seen",
    "verdicts",
    "verdicts_by_check",
    "world_hosts",
]  # the same names as _HOME (a test checks)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tutor.story' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tutor.story.{home}"), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from tutor.story.dsn import Dsn, DsnCause, dsn_causes, dsns
    from tutor.story.ehlo import EhloOffer, Extension, ehlo_offers
    from tutor.story.exchange import Exchange, Prompt, answer_to, commands, exchanges
    from tutor.story.host import Host, Role, host_roles, receiving_hosts, world_hosts
    from tutor.story.message import HeaderLine, MessageState, message_state, shaping_events
    from tutor.story.mx import MxChoice, MxConnection, MxRecord, mx_choices, mx_records
    from tutor.story.session import (
        Session,
        SessionBook,
        session_book,
        sessions,
        sessions_from_outside,
    )
    from tutor.story.side import (
        TWO_ENDED_KINDS,
        DnsQuestions,
        SidePairs,
        StepSides,
        is_server_copy,
        pair_sides,
    )
    from tutor.story.stage import HopStages, hop_stages, stages_of, stages_seen
    from tutor.story.timeline import (
        Attempt,
        DsnSent,
        RetryGap,
        Timeline,
        build_timelines,
        retry_gaps,
    )
    from tutor.story.verdict import (
        Alignment,
        DmarcPolicy,
        SpfCheck,
        dmarc_alignment,
        dmarc_policy,
        spf_check,
        verdicts,
        verdicts_by_check,
    )
