"""The retry schedule of each queued message as a table: attempt, time, reply, next attempt.

The attempts come from the trace through ``tutor.story.build_timelines``; this module words
them. Each row shows the replies that attempt got and when the queue manager will try next,
or how the message left the queue (delivered, returned to the sender with a DSN).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime

from tutor.story import Attempt, Timeline, build_timelines
from tutor.trace import BounceAction, Event, Outcome

WIDTH = 100


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%m-%d %H:%M:%S")


def compact_span(seconds: float) -> str:
    """A duration as a schedule shows it: '45s', '5m', '9m57s', '1h20m', '4d23h59m'."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s" if whole % 60 else f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
    return f"{whole // 86400}d{(whole % 86400) // 3600:02d}h{(whole % 3600) // 60:02d}m"


def _span(seconds: float) -> str:
    return "+" + compact_span(seconds)


def _reply(attempt: Attempt) -> str:
    parts = []
    for result in attempt.results:
        who = result.recipient.split("@", 1)[0]
        reply = result.reply or str(result.outcome)
        parts.append(f"{who}: {reply}" if len(attempt.results) > 1 else reply)
    return "; ".join(parts) or "-"


def _notes(attempt: Attempt) -> list[str]:
    """How the message left the queue after the attempt, or which DSN went to the sender."""
    delivered = all(r.outcome == Outcome.DELIVERED for r in attempt.results)
    if attempt.left_queue and not attempt.dsns and delivered:
        return ["delivered: removed from the queue"]
    return [
        f"{'delay warning' if dsn.action == BounceAction.DELAYED else 'returned to sender'}: "
        f"DSN {dsn.dsn_queue_id}"
        for dsn in attempt.dsns
    ]


def _next(attempt: Attempt) -> str:
    """When the queue manager tries again, and how the message left the queue, if it did."""
    nxt = ""
    if attempt.next_at is not None:
        nxt = f"{_span(attempt.next_at - attempt.at)} ({_when(attempt.next_at)[6:]})"
    extra = "; ".join(_notes(attempt))
    return f"{nxt}; {extra}" if nxt and extra else nxt or extra


def render_timeline(timeline: Timeline, width: int = WIDTH, *, stacked: bool = False) -> list[str]:
    """The table: attempt number, world time (and time since arrival), reply, what next.

    ``stacked`` lays each attempt out on several lines wrapped to ``width`` instead of one
    table row, for a pane too narrow for the table (the TUI's side panel); nothing is cut off.
    """
    if stacked:
        return _render_stacked(timeline, width)
    head = f"Retry timeline of {timeline.queue_id} (arrived {_when(timeline.arrival)} UTC)"
    lines = [head, "─" * min(width, max(len(head), 40))]
    lines.append(f"{'#':>4}  {'time':<14} {'since':>10}  {'reply':<40}  next")
    reply_width = max(20, width - 4 - 2 - 15 - 11 - 2 - 2 - 24)
    for attempt in timeline.attempts:
        reply = _reply(attempt)
        if len(reply) > reply_width:
            reply = reply[: reply_width - 1] + "…"
        nxt = _next(attempt)
        since = _span(attempt.at - timeline.arrival)
        when = _when(attempt.at)
        lines.append(f"{attempt.number:>4}  {when:<14} {since:>10}  {reply:<{reply_width}}  {nxt}")
    return lines


def _render_stacked(timeline: Timeline, width: int) -> list[str]:
    def wrapped(label: str, text: str) -> list[str]:
        indent = " " * (len(label) + 4)
        return textwrap.wrap(
            text, width, initial_indent=f"  {label}: ", subsequent_indent=indent
        ) or [f"  {label}:"]

    lines = textwrap.wrap(
        f"Retry timeline of {timeline.queue_id} (arrived {_when(timeline.arrival)} UTC)", width
    )
    lines.append("─" * min(width, 40))
    if not timeline.attempts:
        lines.append("  (queued; the queue manager has not tried it yet)")
    for attempt in timeline.attempts:
        since = _span(attempt.at - timeline.arrival)
        lines.append(f"attempt {attempt.number}  {_when(attempt.at)}  {since}")
        for result in attempt.results:
            who = f"{result.recipient}: " if len(attempt.results) > 1 else ""
            lines += wrapped("reply", who + (result.reply or str(result.outcome)))
        nxt = _next(attempt)
        if nxt:
            lines += wrapped("next", nxt)
        elif not attempt.results:
            lines.append("  (attempt in progress)")
    return lines


def render_timelines(events: Iterable[Event], width: int = WIDTH) -> list[str]:
    """Timelines of every message that was tried more than once (nothing if none was)."""
    out: list[str] = []
    for timeline in build_timelines(events):
        if timeline.retried:
            out += ["", *render_timeline(timeline, width)]
    return out


__all__ = ["Attempt", "Timeline", "build_timelines", "render_timeline", "render_timelines"]
