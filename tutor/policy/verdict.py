"""The verdict every policy check returns: its result, the action it asks for, and its reasons.

Every check (SPF, DKIM, DMARC, DNSBL, greylisting) answers the receiver with one ``Verdict``.
The receiver only reads ``action`` (and ``reply`` when it rejects or defers); the learner reads
``reasons``: the steps, in order, that led to the result, written for a student. A verdict turns
into the trace's ``PolicyVerdict`` event with ``to_event`` so views never see policy objects.

Reasons are built with ``Steps``: a list of ``Step`` lines with a nesting depth, so that an SPF
``include:`` or a DMARC fallback to the organizational domain reads as an indented block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tutor.trace import PolicyAction, PolicyCheck, PolicyResult, PolicyVerdict, Stage

# The trace's vocabulary is the policy's: what a check asks for is what the trace records.
Action = PolicyAction

# Order for combining the actions of several checks: reject > defer > quarantine > none.
_SEVERITY = {Action.NONE: 0, Action.QUARANTINE: 1, Action.DEFER: 2, Action.REJECT: 3}


@dataclass(frozen=True)
class Step:
    """One line of reasoning; ``depth`` > 0 means it happened inside a nested evaluation."""

    text: str
    depth: int = 0

    def __str__(self) -> str:
        return "  " * self.depth + self.text


class Steps:
    """An ordered, nestable list of steps that a check appends to while it works.

    Use ``with steps.nested():`` around a sub-evaluation (an SPF include, a redirect) so its
    lines are indented under the line that started it.
    """

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._depth = 0

    def add(self, text: str) -> Step:
        step = Step(text, self._depth)
        self._steps.append(step)
        return step

    @contextmanager
    def nested(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def freeze(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


def _empty_extra() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Verdict:
    """The answer of one policy check.

    ``check`` names the check ("spf", "dkim", "dmarc", "dnsbl", "greylist"); ``result`` is the
    check's own result word as its RFC spells it ("pass", "softfail", "listed", ...);
    ``reasons`` are the human-readable steps (indented by depth); ``reply`` is the SMTP reply
    the receiver should send when ``action`` is reject or defer (e.g. "550 5.7.23 ...");
    ``header`` is a header line the receiver should prepend (e.g. "Received-SPF: ...");
    ``extra`` holds check-specific facts other checks need (DMARC reads SPF's domain).
    """

    check: str
    result: str
    reasons: tuple[str, ...] = ()
    action: Action = Action.NONE
    reply: str = ""
    header: str = ""
    extra: Mapping[str, Any] = field(default_factory=_empty_extra)

    @staticmethod
    def reasons_from(steps: Steps | tuple[Step, ...]) -> tuple[str, ...]:
        """Render steps as indented lines, the form ``reasons`` and the trace carry."""
        return tuple(str(step) for step in steps)

    def to_event(self, *, host: str, session: str = "", explain: str = "") -> PolicyVerdict:
        """The trace event for this verdict (stage FILTERING), ready for ``Trace.publish``."""
        return PolicyVerdict(
            host=host,
            session=session,
            stage=Stage.FILTERING,
            explain=explain or f"policy.{self.check}.{self.result}",
            check=PolicyCheck(self.check),
            result=PolicyResult(self.result),
            reasons=self.reasons,
            action=self.action,
        )


def strongest_action(verdicts: tuple[Verdict, ...] | list[Verdict]) -> Action:
    """The action the receiver should take when several checks have spoken."""
    return max((v.action for v in verdicts), key=_SEVERITY.__getitem__, default=Action.NONE)
