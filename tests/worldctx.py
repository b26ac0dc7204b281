"""Test helper: read the trace behind a bare WorldContext (the world's parts cannot)."""

from __future__ import annotations

from tutor.trace import Trace
from tutor.world.context import WorldContext


def trace_of(ctx: WorldContext) -> Trace:
    """The Trace whose ``publish`` the context was given: tests read it, the world never does."""
    trace = getattr(ctx.publish, "__self__", None)
    assert isinstance(trace, Trace), "this context does not publish into a Trace"
    return trace
