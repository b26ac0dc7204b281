"""The lifecycle bar's model: the stages of one email's life and where the run is among them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tutor.scenario import Role, Scenario
from tutor.story import stages_seen
from tutor.trace import Event, Stage


@dataclass(frozen=True)
class BarStage:
    """One box of the bar: a label and the trace stages that light it up."""

    key: str
    label: str
    stages: frozenset[Stage]


BAR_STAGES: tuple[BarStage, ...] = (
    BarStage("dns", "DNS", frozenset({Stage.DNS})),
    BarStage("connect", "connect", frozenset({Stage.CONNECT})),
    BarStage("ehlo", "EHLO", frozenset({Stage.EHLO})),
    BarStage("starttls", "STARTTLS", frozenset({Stage.STARTTLS})),
    BarStage("auth", "AUTH", frozenset({Stage.AUTH})),
    BarStage("envelope", "envelope", frozenset({Stage.ENVELOPE})),
    BarStage("data", "DATA", frozenset({Stage.DATA})),
    BarStage("quit", "QUIT", frozenset({Stage.QUIT})),
    BarStage("filtering", "filtering", frozenset({Stage.FILTERING})),
    BarStage("queue", "queue/retry", frozenset({Stage.QUEUE})),
    BarStage("final", "bounce/delivery", frozenset({Stage.BOUNCE, Stage.DELIVERY})),
)


class StageState(StrEnum):
    """How a stage is drawn; each state has its own marker so colour is never the only cue."""

    PENDING = "pending"
    DONE = "done"
    CURRENT = "current"
    SKIPPED = "skipped"


MARKERS: dict[StageState, str] = {
    StageState.PENDING: "·",
    StageState.DONE: "✓",
    StageState.CURRENT: "▶",
    StageState.SKIPPED: "–",
}


def bar_stage_of(stage: Stage) -> BarStage | None:
    for bar_stage in BAR_STAGES:
        if stage in bar_stage.stages:
            return bar_stage
    return None


def expected_skips(scenario: Scenario | None) -> frozenset[str]:
    """Stages this scenario cannot reach, known before the run starts.

    Filtering happens only where a receiving host runs checks (DNSBL, greylisting, SPF, DKIM,
    DMARC) or a gateway sits in front of the mailbox server. Other stages depend on what the
    servers answer, so the bar learns of them from the run.
    """
    if scenario is None:
        return frozenset()
    filters = scenario.hosts_with_role(Role.GATEWAY) or any(h.checks for h in scenario.hosts)
    return frozenset() if filters else frozenset({"filtering"})


def stage_states(
    events: Sequence[Event],
    current: Event | None,
    *,
    predicted_skips: frozenset[str] = frozenset(),
    finished: bool = False,
) -> list[tuple[BarStage, StageState]]:
    """The state of every bar stage after ``events`` (the revealed ones), with ``current`` selected.

    The bar shows the whole run: a stage is done once it happened in any hop (the per-hop
    answer is ``tutor.story.hop_stages``).

    Once the run is over, a stage that never happened is shown as skipped, whatever was
    predicted; before that, a predicted skip turns into a real stage if it happens after all.
    """
    seen = {b.key for stage in stages_seen(events) if (b := bar_stage_of(stage)) is not None}
    current_key = ""
    if current is not None:
        bar_stage = bar_stage_of(current.stage)
        current_key = bar_stage.key if bar_stage else ""
    states = []
    for bar_stage in BAR_STAGES:
        if bar_stage.key == current_key:
            state = StageState.CURRENT
        elif bar_stage.key in seen:
            state = StageState.DONE
        elif finished or bar_stage.key in predicted_skips:
            state = StageState.SKIPPED
        else:
            state = StageState.PENDING
        states.append((bar_stage, state))
    return states
