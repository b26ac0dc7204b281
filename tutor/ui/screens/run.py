"""The run screen: the lifecycle bar, the traffic log, and the panes that explain the selection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, TabbedContent, TabPane

from tutor.render.runverdict import AS_EXPECTED, run_verdict
from tutor.run import resolve_scenario
from tutor.scenario import Scenario
from tutor.trace import Bounce, Event, ScenarioFinished, ScenarioStarted
from tutor.ui.lifecycle import StageState, bar_stage_of, expected_skips, stage_states
from tutor.ui.lines import host_labels
from tutor.ui.session import (
    EventFilter,
    LiveSource,
    ReplaySource,
    RunSession,
    Source,
)
from tutor.ui.widgets.both_sides_pane import BothSidesPane
from tutor.ui.widgets.dns_pane import DnsPane
from tutor.ui.widgets.explanation_pane import ExplanationPane
from tutor.ui.widgets.hosts_panel import HostsPanel
from tutor.ui.widgets.lifecycle_bar import LifecycleBar
from tutor.ui.widgets.message_pane import MessagePane
from tutor.ui.widgets.queue_pane import QueuePane
from tutor.ui.widgets.sequence_pane import SequencePane
from tutor.ui.widgets.spotlight import Spotlight
from tutor.ui.widgets.status_line import StatusLine
from tutor.ui.widgets.tls_pane import TlsPane
from tutor.ui.widgets.traffic_log import TrafficLog

SPEEDS: tuple[float, ...] = (0.5, 1, 2, 4, 8, 16, 32, 64)
DEFAULT_SPEED = 4

DETAIL_TABS: tuple[tuple[str, str], ...] = (
    ("explain", "Explain"),
    ("both-sides", "Both sides"),
    ("dns", "DNS"),
    ("tls", "TLS"),
    ("message", "Message"),
    ("queue", "Queue"),
    ("sequence", "Sequence"),
    ("hosts-tab", "Hosts"),
)


@dataclass(frozen=True)
class RunSpec:
    """What to run: a scenario with its what-ifs, or a recorded trace to replay."""

    scenario: Scenario | str | None = None
    what_ifs: frozenset[str] = frozenset()
    replay: tuple[Event, ...] | None = None
    label: str = ""
    keep: Path | None = None  # `run --keep DIR`: mailboxes, logs and the trace stay there
    record: Path | None = None  # `run --record FILE`: the trace as JSON Lines

    def make_source(self) -> tuple[Source, Scenario | None]:
        if self.replay is not None:
            return ReplaySource(self.replay), None
        assert self.scenario is not None
        scenario = resolve_scenario(self.scenario, self.what_ifs)
        return LiveSource(scenario, keep=self.keep, record=self.record), scenario

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        name = (
            self.scenario if isinstance(self.scenario, str) else getattr(self.scenario, "name", "")
        )
        extras = " + ".join(sorted(self.what_ifs))
        return f"{name} + {extras}" if extras else str(name)


class RunScreen(Screen[None]):
    """Steps one run of a scenario; every action is a binding (footer, help and palette)."""

    BINDINGS = [
        Binding("space,n", "step", "Step", key_display="space"),
        Binding("b,left", "back", "Back", key_display="b/←"),
        Binding("right", "step", "Forward", show=False),
        Binding("p", "play", "Play/pause"),
        # One footer entry for both speed keys: at 80 columns every entry counts.
        Binding("plus,equals_sign", "faster", "Speed", key_display="+/-"),
        Binding("minus", "slower", "Slower", show=False),
        Binding("r", "restart", "Restart"),
        Binding("f", "filter", "Filter"),
        Binding("g", "dsn_links", "DSN links"),
        Binding("v", "server_side", "Show server-side lines", show=False),
        Binding("e", "tab('explain')", "Explain tab", show=False),
        Binding("o", "tab('both-sides')", "Sides tab (both ends of a line)", show=False),
        Binding("d", "tab('dns')", "DNS tab", show=False),
        Binding("l", "tab('tls')", "TLS tab", show=False),
        Binding("m", "tab('message')", "Message tab", show=False),
        Binding("u", "tab('queue')", "Queue tab", show=False),
        Binding("s", "tab('sequence')", "Sequence diagram tab", show=False),
        Binding("h", "tab('hosts-tab')", "Hosts tab", show=False),
        Binding("w", "pick", "Scenarios & what-ifs", show=False),
    ]

    def __init__(self, spec: RunSpec, *, stepped: bool = True) -> None:
        super().__init__()
        self.spec = spec
        self.stepped = stepped
        self.session: RunSession | None = None
        self.scenario: Scenario | None = None
        self.speed_index = SPEEDS.index(DEFAULT_SPEED)
        self._play_timer: Timer | None = None
        self._refresh_pending = False
        self._shown_selection: tuple[int, int] | None = None
        self._dsn_origin: int | None = None  # the bounce whose DSN link was followed last

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield LifecycleBar(id="bar")
        yield Spotlight(id="spotlight")
        with Horizontal(id="main"):
            yield TrafficLog(id="traffic")
            with Vertical(id="side"):
                yield HostsPanel("starting the world…", id="hosts")
                with TabbedContent(id="details", initial="explain"):
                    with TabPane("Explain", id="explain"):
                        yield ExplanationPane(id="explanation")
                    with TabPane("Sides", id="both-sides"):
                        yield BothSidesPane(id="both-sides-pane")
                    with TabPane("DNS", id="dns"):
                        yield DnsPane(id="dns-pane")
                    with TabPane("TLS", id="tls"):
                        yield TlsPane(id="tls-pane")
                    with TabPane("Message", id="message"):
                        yield MessagePane(id="message-pane")
                    with TabPane("Queue", id="queue"):
                        yield QueuePane(id="queue-pane")
                    with TabPane("Sequence", id="sequence"):
                        yield SequencePane(id="sequence-pane")
                    with TabPane("Hosts", id="hosts-tab"):
                        yield HostsPanel("starting the world…", id="hosts-in-tab")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "smtp-tutor"
        self.sub_title = self.spec.title
        self.set_projector(getattr(self.app, "projector", False))
        self.query_one(TrafficLog).focus()
        # Draw the screen first, then start the world: its imports and CA set-up take a while
        # and the learner should see the tutor at once.
        self.call_after_refresh(self.start_run)

    def set_projector(self, on: bool) -> None:
        self.set_class(on, "-projector")
        if on:
            with contextlib.suppress(Exception):
                self.query_one("#details", TabbedContent).active = "explain"
        self.schedule_refresh()

    # ------------------------------------------------------------------ the run

    @work(exclusive=True, group="run")
    async def start_run(self) -> None:
        """Stop the previous world (if any) and start a fresh one; shared by mount and restart."""
        self.pause()
        if self.session is not None:
            old = self.session
            self.session = None
            old.close()
            await old.source.stop()
        self._shown_selection = None
        self._dsn_origin = None
        if self.spec.replay is None:
            from tutor.run import load_world_modules

            await asyncio.to_thread(load_world_modules)
        source, self.scenario = self.spec.make_source()
        if isinstance(source, LiveSource) and not self.stepped:
            source.play()
        session = RunSession(source)
        session.listen(self.schedule_refresh)
        self.session = session
        self.session_opened(session)
        self.query_one(TrafficLog).sync([], [], -1)
        await source.start()
        # ScenarioStarted is the first line: show it so the learner sees the world is up.
        await session.step()

    def session_opened(self, session: RunSession) -> None:
        """Called with each new session, before its first event (the lesson screen follows it)."""

    async def step_once(self) -> bool:
        """One step; exposed for tests and the benchmark (key press does the same)."""
        if self.session is None:
            return False
        return await self.session.step()

    @work(group="step")
    async def action_step(self) -> None:
        moved = await self.step_once()
        if not moved and self.session is not None and self.session.at_end:
            self.pause()

    def action_back(self) -> None:
        self.pause()
        if self.session is not None:
            self.session.back()

    def action_play(self) -> None:
        if self._play_timer is not None:
            self.pause()
        else:
            self._start_timer()
        self.schedule_refresh()

    def _start_timer(self) -> None:
        self._play_timer = self.set_interval(1 / SPEEDS[self.speed_index], self._play_tick)

    def pause(self) -> None:
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None
            self.schedule_refresh()

    @property
    def playing(self) -> bool:
        return self._play_timer is not None

    async def _play_tick(self) -> None:
        session = self.session
        if session is None:
            return
        if session.at_end:
            self.pause()
            return
        if not session._stepping.locked():
            self.action_step()

    def _change_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        if self._play_timer is not None:
            self._play_timer.stop()
            self._start_timer()
        self.schedule_refresh()

    def action_faster(self) -> None:
        self._change_speed(+1)

    def action_slower(self) -> None:
        self._change_speed(-1)

    def action_restart(self) -> None:
        self.notify("Restarting: a fresh world on the same scenario.", timeout=2)
        self.start_run()

    def action_filter(self) -> None:
        if self.session is not None:
            self.session.set_filter(self.session.filter.next())
            self.notify(f"Showing {self.session.filter} events", timeout=1.5)

    def action_server_side(self) -> None:
        if self.session is not None:
            self.session.show_server_side = not self.session.show_server_side
            self.session.set_filter(self.session.filter)

    def action_tab(self, tab: str) -> None:
        self.query_one("#details", TabbedContent).active = tab
        self.schedule_refresh()

    def action_dsn_links(self) -> None:
        """Open the selected bounce's DSN links (or the latest bounce's) in the Queue tab."""
        session = self.session
        if session is None:
            return
        if not isinstance(session.selected, Bounce):
            bounces = [i for i, e in enumerate(session.revealed_events) if isinstance(e, Bounce)]
            if not bounces:
                self.notify("No bounce yet: DSN links appear once a DSN has been generated.")
                return
            # Back to the DSN whose link was followed last, else the latest one.
            origin = self._dsn_origin
            self._show_event(origin if origin in bounces else bounces[-1])
        self.query_one("#details", TabbedContent).active = "queue"
        self.refresh_views()  # now, so the links exist before they take the focus
        if not self.query_one(QueuePane).focus_links():
            self.notify("This DSN has no field that points at an event.")

    def follow_link(self, seq: int) -> Event | None:
        """Select the event a DSN field came from; returns it (None if it is not revealed)."""
        session = self.session
        index = session.index_of_seq(seq) if session is not None else None
        if session is None or index is None or index >= session.revealed:
            self.notify(f"Event #{seq} is not in this run's log.", severity="warning")
            return None
        self._dsn_origin = session.cursor if isinstance(session.selected, Bounce) else None
        self._show_event(index)
        self.query_one(TrafficLog).focus()
        event = session.events[index]
        self.notify(f"#{seq} is where that DSN field came from; g goes back to the DSN.")
        return event

    def _show_event(self, index: int) -> None:
        """Select an event even if the current filter hides its line (then show everything)."""
        assert self.session is not None
        if not self.session.shows(self.session.events[index]):
            self.session.set_filter(EventFilter.ALL)
            if not self.session.shows(self.session.events[index]):
                self.session.show_server_side = True
                self.session.set_filter(EventFilter.ALL)
        self.session.select(index)

    def action_pick(self) -> None:
        # On the app's queue, not here: the app's action is a coroutine that replaces this
        # screen, and calling it from the screen's own handler would only create it.
        self.app.call_later(self.app.action_pick_scenario)

    async def stop_run(self) -> None:
        self.pause()
        if self.session is not None:
            session, self.session = self.session, None
            session.close()
            await session.source.stop()

    # ------------------------------------------------------------------ views

    def on_traffic_log_picked(self, message: TrafficLog.Picked) -> None:
        if self.session is not None:
            self.session.select(message.index)

    def on_queue_pane_link_followed(self, message: QueuePane.LinkFollowed) -> None:
        self.follow_link(message.seq)

    def on_tabbed_content_tab_activated(self) -> None:
        self.schedule_refresh()

    def schedule_refresh(self) -> None:
        """Coalesce many trace events in one loop turn into one redraw."""
        if not self._refresh_pending:
            self._refresh_pending = True
            self.call_later(self.refresh_views)

    def refresh_views(self) -> None:
        self._refresh_pending = False
        session = self.session
        if session is None or not self.is_mounted:
            return
        events = session.events
        revealed = session.revealed_events
        selected = session.selected
        upto = revealed[: session.cursor + 1] if selected is not None else revealed
        visible = session.visible()
        self.query_one(TrafficLog).sync(events, visible, session.cursor)

        finished = session.finished_event
        states = stage_states(
            upto,
            selected,
            predicted_skips=expected_skips(self.scenario),
            finished=finished is not None and selected is finished,
        )
        fallback = ""
        if isinstance(selected, ScenarioStarted):
            fallback = "start"
        elif isinstance(selected, ScenarioFinished):
            fallback = "finished"
        self.query_one(LifecycleBar).show(states, fallback)
        self._show_status(session, visible, finished)

        started = next((e for e in revealed if isinstance(e, ScenarioStarted)), None)
        if started is not None:
            for panel in self.query(HostsPanel):
                panel.show(started.hosts, self._dns_label())

        current_label = next((s.label for s, state in states if state is StageState.CURRENT), "")
        if self.has_class("-projector"):
            self.query_one(Spotlight).show(current_label, selected, host_labels(events))

        selection = (session.cursor, session.revealed)
        active = self.query_one("#details", TabbedContent).active
        if selection == self._shown_selection and active == getattr(self, "_shown_tab", None):
            return
        self._shown_selection = selection
        self._shown_tab = active
        self._show_details(active, revealed, session.cursor, selected)

    def _show_details(
        self, active: str, revealed: Sequence[Event], cursor: int, selected: Event | None
    ) -> None:
        """Only the visible tab is redrawn, so a step stays cheap however long the run is."""
        upto = revealed[: cursor + 1] if selected is not None else revealed
        if active == "explain":
            self.query_one(ExplanationPane).show(selected)
        elif active == "both-sides":
            self.query_one(BothSidesPane).show(revealed, cursor)
        elif active == "dns":
            self.query_one(DnsPane).show(upto)
        elif active == "tls":
            self.query_one(TlsPane).show(upto)
        elif active == "message":
            self.query_one(MessagePane).show(upto)
        elif active == "queue":
            self.query_one(QueuePane).show(upto, selected)
        elif active == "sequence":
            self.query_one(SequencePane).show(revealed, selected.seq if selected else None)

    def _dns_label(self) -> str:
        source = self.session.source if self.session else None
        if isinstance(source, LiveSource) and self.scenario is not None:
            with contextlib.suppress(Exception):
                info = source.run.state.info
                return f"{info.dns_address}:{info.dns_port}"
        return self.scenario.dns_address if self.scenario else ""

    def _show_status(
        self, session: RunSession, visible: list[int], finished: ScenarioFinished | None
    ) -> None:
        ending = ""
        if finished is not None:
            outcomes = ", ".join(f"{r}: {o}" for r, o in finished.outcomes.items())
            words = run_verdict(finished)
            verdict = "" if words == AS_EXPECTED else f" · {words}"
            ending = f"■ finished: {outcomes}{verdict}"
        else:
            source = session.source
            summary = getattr(source, "summary", None)
            if summary is not None and summary.error:
                ending = f"✗ the world failed: {summary.error}"
        waiting = getattr(session.source, "waiting_for", "")
        position = visible.index(session.cursor) + 1 if session.cursor in visible else 0
        self.query_one(StatusLine).show(
            playing=self.playing,
            speed=SPEEDS[self.speed_index],
            event_filter=str(session.filter),
            shown=position,
            recorded=len(visible),
            waiting_for=waiting,
            ending=ending,
        )

    # ------------------------------------------------------------------ for tests and export

    def bar_stage_of_selected(self) -> str:
        selected = self.session.selected if self.session else None
        found = bar_stage_of(selected.stage) if selected else None
        return found.key if found else ""
