"""Which lifecycle stages happened: in the whole run, and in each hop (session) of it.

A stage is ticked for a hop only when it happened in that hop: the submission hop of hello
has AUTH, the MX hop does not, although both have EHLO and STARTTLS. Lesson anchors ("when
the client sends STARTTLS to the MX") and quizzes ask per hop; the lifecycle bar shows the
whole run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tutor.story.session import sessions
from tutor.trace import Event, PolicyVerdict, Stage


def stages_of(event: Event) -> tuple[Stage, ...]:
    """The stages an event marks as happened: its own, and filtering for a policy verdict
    (a check is filtering wherever the server files it)."""
    if isinstance(event, PolicyVerdict) and event.stage != Stage.FILTERING:
        return (event.stage, Stage.FILTERING)
    return (event.stage,)


def stages_seen(events: Iterable[Event]) -> frozenset[Stage]:
    """Every stage some event of ``events`` marks as happened."""
    return frozenset(stage for event in events for stage in stages_of(event))


@dataclass(frozen=True)
class HopStages:
    """The stages one hop (one session, client to server) went through, in first-seen order."""

    session: str
    client: str
    server: str
    stages: tuple[Stage, ...]

    def happened(self, stage: Stage) -> bool:
        return stage in self.stages


def hop_stages(events: Iterable[Event]) -> tuple[HopStages, ...]:
    """For every session of the trace, the stages that happened in it."""
    out = []
    for session in sessions(events):
        ordered = dict.fromkeys(stage for e in session.events for stage in stages_of(e))
        out.append(HopStages(session.id, session.client, session.server, tuple(ordered)))
    return tuple(out)
