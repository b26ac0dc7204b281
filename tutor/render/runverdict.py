"""How a run ended against its scenario, in the words every view uses (the trace has no words)."""

from __future__ import annotations

from tutor.trace import ScenarioFinished

AS_EXPECTED = "as expected"
NOT_AS_EXPECTED = "NOT as expected"
NOT_JUDGED = "not judged (a what-if changed what to expect)"


def run_verdict(finished: ScenarioFinished) -> str:
    """AS_EXPECTED, NOT_AS_EXPECTED, or NOT_JUDGED when no recipient was judged at all."""
    if finished.mismatches:
        return NOT_AS_EXPECTED
    if finished.unjudged and len(finished.unjudged) == len(finished.outcomes):
        return NOT_JUDGED
    return AS_EXPECTED


__all__ = ["AS_EXPECTED", "NOT_AS_EXPECTED", "NOT_JUDGED", "run_verdict"]
