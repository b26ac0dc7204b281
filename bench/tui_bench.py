"""Benchmark the TUI: cold start to first interactive frame, and step latency. Prints figures only.

* Cold start: a fresh interpreter runs the tutor on `hello` until the run screen has drawn its
  first frame, against a bare Textual app with the same widget set (header, bar, option list,
  tabbed panes, status, footer) started the same way, in the same run. Target ratio <= 1.3x.
* Step latency: from the key press to the new traffic-log line being on screen, median over the
  whole `hello` run with the live world on loopback. Target <= 50 ms.

    python bench/tui_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Both children record the same moment: the first paint of the screen that the user works in
# (patched into Screen._compositor_refresh), then how long until the loop runs a callback queued
# right after it, which is when a key press would be handled ("interactive").
_PROBE = """
import sys, time
from textual.screen import Screen

_paint = Screen._compositor_refresh


def _probe(self):
    _paint(self)
    if self.is_current and type(self).__name__ == TARGET and not getattr(sys, "_painted", 0):
        sys._painted = time.time()

        def interactive():
            print(sys._painted, time.time(), flush=True)
            self.app.exit()

        self.app.call_later(interactive)


Screen._compositor_refresh = _probe
"""

_TUTOR_CHILD = (
    'TARGET = "RunScreen"\n'
    + _PROBE
    + """
from tutor.ui.app import TutorApp

TutorApp("hello").run(headless=True, size=(120, 40))
"""
)

_BARE_CHILD = (
    'TARGET = "Screen"\n'
    + _PROBE
    + """
from textual.app import App
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

TABS = ("Explain", "Sides", "DNS", "TLS", "Message", "Queue", "Sequence", "Hosts")


class Bare(App):
    def compose(self):
        yield Header()
        yield Static("DNS -> connect -> EHLO -> STARTTLS -> AUTH -> envelope -> DATA -> QUIT")
        yield Static("", id="spotlight")
        with Horizontal():
            yield OptionList(Option("scenario started"))
            with Vertical():
                yield Static("hosts")
                with TabbedContent():
                    for name in TABS:
                        with TabPane(name):
                            with VerticalScroll():
                                yield Static(name)
        yield Static("status")
        yield Footer()


Bare().run(headless=True, size=(120, 40))
"""
)


def cold_start(child: str) -> tuple[float, float]:
    """Seconds from spawning a fresh interpreter to its first frame, and to being interactive."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, check=True
    )
    painted, interactive = map(float, done.stdout.strip().splitlines()[-1].split())
    return painted - started, interactive - started


async def step_latencies() -> list[float]:
    """Milliseconds from each key press to the frame that shows the new line (live hello run)."""
    sys.path.insert(0, str(ROOT))
    from textual import events
    from textual.screen import Screen

    from tutor.ui.app import TutorApp
    from tutor.ui.screens.run import RunScreen
    from tutor.ui.widgets.traffic_log import TrafficLog

    app = TutorApp("hello")
    painted: list[tuple[float, int]] = []  # (when, lines in the log) for every frame
    paint = Screen._compositor_refresh

    def probe(screen: Screen) -> None:
        paint(screen)
        if isinstance(screen, RunScreen) and screen.is_current:
            painted.append((time.perf_counter(), screen.query_one(TrafficLog).option_count))

    Screen._compositor_refresh = probe  # type: ignore[method-assign]
    latencies: list[float] = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            while not (isinstance(app.screen, RunScreen) and app.screen.session is not None):
                await pilot.pause(0.01)
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            log = screen.query_one(TrafficLog)
            while screen.session is not None and not screen.session.at_end:
                before = log.option_count
                painted.clear()
                started = time.perf_counter()
                app.post_message(events.Key("space", " "))
                frame = None
                while frame is None and time.perf_counter() - started < 10:
                    await asyncio.sleep(0.0005)
                    frame = next((t for t, lines in painted if lines > before), None)
                if frame is None:
                    break
                latencies.append((frame - started) * 1000)
                await app.workers.wait_for_complete()
    finally:
        Screen._compositor_refresh = paint  # type: ignore[method-assign]
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each app (default 5)")
    args = parser.parse_args()

    tutor, bare = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        bare.append(cold_start(_BARE_CHILD))
        tutor.append(cold_start(_TUTOR_CHILD))
    for what, index in (("first frame", 0), ("interactive", 1)):
        bare_ms = statistics.median(b[index] for b in bare) * 1000
        tutor_ms = statistics.median(t[index] for t in tutor) * 1000
        # Each pair ran back to back, so its ratio is the least disturbed by a busy neighbour.
        paired = statistics.median(t[index] / b[index] for b, t in zip(bare, tutor, strict=True))
        print(
            f"cold start to {what:<11}: bare Textual app (same widgets) {bare_ms:6.1f} ms, "
            f"smtp-tutor on hello {tutor_ms:6.1f} ms, ratio {tutor_ms / bare_ms:.2f}x, "
            f"median of paired ratios {paired:.2f}x (target <= 1.3x)"
        )

    latencies = asyncio.run(step_latencies())
    print(
        f"step latency (key -> new line drawn), {len(latencies)} steps of hello: "
        f"median {statistics.median(latencies):.1f} ms, "
        f"p90 {statistics.quantiles(latencies, n=10)[-1]:.1f} ms, max {max(latencies):.1f} ms "
        "(target median <= 50 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
