"""Shared folds of a trace: what views, lessons and quizzes ask of a run, answered once.

Textual-free and world-free: story reads a sequence of trace events (live or recorded) and
nothing else. One module per question:

* ``sessions``  — one Session per connection: client, server, which ends recorded it, when;
* ``sides``     — the two sides of each step: a client record and its server-side twin;
* ``exchanges`` — which host answered what to which command, per session;
* ``stages``    — which lifecycle stages happened, in the run and per hop;
* ``message``   — the message as it grows hop by hop, and who added each header;
* ``dsn``       — each DSN's fields (Action, Status, Diagnostic-Code, ...) and their causes;
* ``timelines`` — retry timelines per queue id, and the gaps between attempts;
* ``mx``        — the MX records a sender got and the order it connected to them;
* ``verdicts``  — policy verdicts per check, what SPF checked, DMARC's alignment and policy;
* ``hosts``     — the world's hosts and the role each played (client, outbound, mx, gateway);
* ``ehlo``      — the extensions each server offered in answer to EHLO, before and after TLS.
"""

from tutor.story.dsn import Dsn, DsnCause, DsnField, dsn_causes, dsn_fields, dsns
from tutor.story.ehlo import EhloOffer, Extension, ehlo_offers
from tutor.story.exchanges import Exchange, Prompt, answer_to, commands, exchanges
from tutor.story.hosts import Host, Role, host_roles, receiving_hosts, world_hosts
from tutor.story.message import HeaderLine, MessageState, message_state, shaping_events
from tutor.story.mx import MxChoice, MxConnection, MxRecord, mx_choices, mx_records
from tutor.story.sessions import (
    Session,
    SessionBook,
    session_book,
    sessions,
    sessions_from_outside,
)
from tutor.story.sides import (
    TWO_ENDED_KINDS,
    DnsQuestions,
    SidePairs,
    StepSides,
    is_server_copy,
    pair_sides,
)
from tutor.story.stages import HopStages, hop_stages, stages_of, stages_seen
from tutor.story.timelines import (
    Attempt,
    DsnSent,
    RetryGap,
    Timeline,
    build_timelines,
    retry_gaps,
)
from tutor.story.verdicts import (
    Alignment,
    DmarcPolicy,
    SpfCheck,
    Verdict,
    dmarc_alignment,
    dmarc_policy,
    spf_check,
    verdicts,
    verdicts_by_check,
)

__all__ = [
    "TWO_ENDED_KINDS",
    "Alignment",
    "Attempt",
    "DmarcPolicy",
    "DnsQuestions",
    "Dsn",
    "DsnCause",
    "DsnField",
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
    "Verdict",
    "answer_to",
    "build_timelines",
    "commands",
    "dmarc_alignment",
    "dmarc_policy",
    "dsn_causes",
    "dsn_fields",
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
]
