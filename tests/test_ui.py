"""The step-through TUI, driven with Textual's Pilot against a real world on loopback."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Markdown, Static
from ui_pilot import LARGE, SMALL, run_screen, settle, start_from_picker

from tutor.scenario import load_scenario
from tutor.trace import (
    Delivery,
    Direction,
    Event,
    LogLine,
    ScenarioFinished,
    ScenarioStarted,
    Side,
    SmtpLine,
    Stage,
    TcpConnect,
    WorldHost,
)
from tutor.ui.app import TutorApp
from tutor.ui.diagram import sequence_diagram
from tutor.ui.lifecycle import StageState, expected_skips, stage_states
from tutor.ui.lines import HostLabels, event_line, host_labels
from tutor.ui.linking import find_peer
from tutor.ui.message_growth import message_state
from tutor.ui.screens.help import HelpScreen
from tutor.ui.screens.run import RunScreen
from tutor.ui.session import EventFilter, LiveSource
from tutor.ui.widgets.traffic_log import TrafficLog


async def play_to_end(pilot, app: TutorApp, screen: RunScreen, timeout: float = 30) -> None:
    for _ in range(5):
        await pilot.press("plus")
    await pilot.press("p")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while screen.session is not None and screen.session.finished_event is None:
        assert loop.time() < deadline, "play did not reach the end of the run"
        await pilot.pause(0.05)
    await settle(pilot, app)


def plain(static: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def explanation_text(screen: RunScreen) -> str:
    return plain(screen.query_one("#explanation-text", Static))


# ------------------------------------------------------------------ stepping


async def test_one_step_reveals_exactly_one_more_line_and_the_world_waits() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        session = screen.session
        assert session is not None
        log = screen.query_one(TrafficLog)
        for _ in range(6):
            before_lines = log.option_count
            before_visible = session.visible()
            await pilot.press("space")
            await settle(pilot, app)
            after_visible = session.visible()
            assert log.option_count == before_lines + 1
            assert after_visible[:-1] == before_visible
            assert session.cursor == after_visible[-1]
        # The gate is closed: without another step the world records nothing more.
        recorded = len(session.events)
        await pilot.pause(0.3)
        assert len(session.events) == recorded
        assert isinstance(session.source, LiveSource)
        assert session.source.waiting_for


async def test_back_shows_the_previous_line_and_its_explanation() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=LARGE) as pilot:
        screen = await run_screen(pilot, app)
        session = screen.session
        assert session is not None
        for _ in range(4):
            await pilot.press("n")
            await settle(pilot, app)
        visible = session.visible()
        last = session.selected
        await pilot.press("b")
        await settle(pilot, app)
        previous = session.events[visible[-2]]
        assert session.selected is previous
        assert session.revealed == visible[-1] + 1  # going back rewinds nothing
        from tutor.render.explain import explain_event

        assert explain_event(previous).title in explanation_text(screen)
        await pilot.press("space")  # forward again walks the revealed lines first
        await settle(pilot, app)
        assert session.selected is last


async def test_play_reaches_the_end_of_hello_with_bob_delivered() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        await play_to_end(pilot, app, screen)
        assert screen.session is not None
        finished = screen.session.finished_event
        assert isinstance(finished, ScenarioFinished)
        assert finished.ok
        assert finished.outcomes == {"bob@example.net": "delivered"}
        log = screen.query_one(TrafficLog)
        last = log.get_option_at_index(log.option_count - 1)
        assert "finished, as expected: bob@example.net delivered" in str(last.prompt)
        assert "delivered" in plain(screen.query_one("#status", Static))


async def test_keep_and_record_work_in_the_tutor_as_with_plain(tmp_path: Path) -> None:
    """`smtp-tutor run hello --keep DIR --record FILE` without --plain keeps and records too."""
    from tutor.trace import read_trace

    keep, record = tmp_path / "kept", tmp_path / "run.jsonl"
    app = TutorApp("hello", keep=keep, record=record)
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        await play_to_end(pilot, app, screen)
    for path in (record, keep / "trace.jsonl"):
        header, events = read_trace(path)
        assert header.scenario == "hello"
        assert isinstance(events[-1], ScenarioFinished) and events[-1].ok
    assert list((keep / "mailboxes" / "bob@example.net" / "new").iterdir())
    assert "status=sent" in (keep / "log" / "maillog").read_text()


async def test_restart_stops_the_world_and_starts_a_fresh_one() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        for _ in range(5):
            await pilot.press("space")
        await settle(pilot, app)
        old = screen.session
        assert old is not None and len(old.visible()) == 6
        await pilot.press("r")
        await settle(pilot, app)
        new = screen.session
        assert new is not None and new is not old
        assert old.source.finished  # the old world was stopped
        assert [type(new.events[i]) for i in new.visible()] == [ScenarioStarted]
        assert screen.query_one(TrafficLog).option_count == 1
        await pilot.press("space")
        await settle(pilot, app)
        assert len(new.visible()) == 2


async def test_mx_down_what_if_chosen_in_the_picker_makes_mx2_deliver() -> None:
    app = TutorApp()
    async with app.run_test(size=LARGE) as pilot:
        await pilot.pause()
        await pilot.press("w")  # the start screen opens first; w opens the scenario picker
        screen = await start_from_picker(pilot, app, "hello", "mx-down")
        await play_to_end(pilot, app, screen)
        assert screen.session is not None
        events = screen.session.events
        connects = [e for e in events if isinstance(e, TcpConnect) and e.side is Side.CLIENT]
        relay = [e for e in connects if e.dst_host.startswith("mx")]
        assert [(e.dst_host, e.ok) for e in relay] == [
            ("mx1.example.net", False),
            ("mx2.example.net", True),
        ]
        deliveries = [e for e in events if isinstance(e, Delivery)]
        assert [d.host for d in deliveries] == ["mx2.example.net"]
        finished = screen.session.finished_event
        assert finished is not None and finished.outcomes == {"bob@example.net": "delivered"}


async def test_w_goes_from_a_run_back_to_the_picker_on_the_same_scenario() -> None:
    app = TutorApp("spf-pass")
    async with app.run_test(size=SMALL) as pilot:
        await run_screen(pilot, app)
        await pilot.press("w")
        await start_from_picker(pilot, app, "spf-pass", "greylist")


async def test_dns_filter_shows_only_dns_lines() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        await pilot.press("f", "f")  # all -> smtp -> dns
        await settle(pilot, app)
        session = screen.session
        assert session is not None and session.filter is EventFilter.DNS
        await pilot.press("space")
        await settle(pilot, app)
        shown = [session.events[i] for i in session.visible()]
        assert shown and all(e.stage is Stage.DNS for e in shown)


# ------------------------------------------------------------------ screens and modes


async def test_help_screen_shows_the_markdown_and_every_key() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        await run_screen(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        markdown = app.screen.query_one(Markdown)
        source = markdown.source
        assert "Stepping" in source
        for description in ("Step", "Back", "Play/pause", "Restart", "Filter", "Projector"):
            assert f"| {description} |" in source
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)


async def test_projector_mode_hides_secondary_panes_and_spotlights_the_line() -> None:
    app = TutorApp("hello", projector=True)
    async with app.run_test(size=LARGE) as pilot:
        screen = await run_screen(pilot, app)
        assert screen.has_class("-projector")
        assert app.theme == "tutor-projector"
        assert not screen.query_one("#hosts").display
        assert screen.query_one("#spotlight").display
        await pilot.press("t")
        await pilot.pause()
        assert not screen.has_class("-projector")
        assert app.theme == "tutor-dark"
        assert screen.query_one("#hosts").display


async def test_export_writes_the_current_screen_as_svg(tmp_path: Path) -> None:
    app = TutorApp("hello", export_dir=tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await run_screen(pilot, app)
        await pilot.press("x")
        await pilot.pause()
    svgs = list(tmp_path.glob("smtp-tutor-*.svg"))
    assert len(svgs) == 1
    assert "<svg" in svgs[0].read_text(encoding="utf-8")


async def test_command_palette_offers_the_stepping_actions() -> None:
    from tutor.ui.commands import TutorCommands

    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        await run_screen(pilot, app)
        provider = TutorCommands(app.screen)
        titles = [str(hit.text) async for hit in provider.search("restart")]
        assert "Restart" in titles
        titles = [str(hit.text) async for hit in provider.search("project")]
        assert "Projector" in titles


# ------------------------------------------------------------------ the views' models


def _line(seq: int, side: Side, session: str, text: str, direction: Direction) -> SmtpLine:
    return SmtpLine(
        seq=seq,
        host="laptop.example.org" if side is Side.CLIENT else "smtp.example.org",
        side=side,
        session=session,
        stage=Stage.EHLO,
        direction=direction,
        data=f"{text}\r\n".encode(),
        sender="laptop.example.org",
        receiver="smtp.example.org",
    )


def test_the_server_side_of_a_client_line_is_the_same_bytes_from_the_paired_session() -> None:
    c2s = Direction.CLIENT_TO_SERVER
    events: list[Event] = [
        _line(1, Side.SERVER, "s2", "EHLO laptop.example.org", c2s),
        _line(2, Side.CLIENT, "s1", "EHLO laptop.example.org", c2s),
        _line(3, Side.CLIENT, "s1", "QUIT", c2s),
        _line(4, Side.SERVER, "s2", "QUIT", c2s),
    ]
    assert find_peer(events, 1) is events[0]
    assert find_peer(events, 2) is events[3]


def test_lifecycle_bar_marks_the_current_stage_and_skips_filtering_without_a_gateway() -> None:
    scenario = load_scenario("hello")
    events = [_line(1, Side.CLIENT, "s1", "EHLO x", Direction.CLIENT_TO_SERVER)]
    states = dict(
        (s.key, state)
        for s, state in stage_states(events, events[0], predicted_skips=expected_skips(scenario))
    )
    assert states["ehlo"] is StageState.CURRENT
    assert states["filtering"] is StageState.SKIPPED
    assert states["data"] is StageState.PENDING


def test_filtering_is_expected_wherever_a_receiving_host_runs_checks() -> None:
    assert "filtering" not in expected_skips(load_scenario("spf-pass"))  # checks on the MX
    assert "filtering" not in expected_skips(load_scenario("gateway"))
    assert "filtering" in expected_skips(load_scenario("hello"))


async def test_log_lines_do_not_mark_later_stages_done_early(start_world) -> None:
    """The submission server's "connect from" line is logged at connect, not at queue time."""
    async with start_world("hello") as world:
        await world.run()
    events = list(world.trace.events)
    first_tls = next(
        i for i, e in enumerate(events) if isinstance(e, SmtpLine) and e.stage is Stage.STARTTLS
    )
    assert any(isinstance(e, LogLine) for e in events[:first_tls])
    states = {s.key: state for s, state in stage_states(events[: first_tls + 1], events[first_tls])}
    assert states["starttls"] is StageState.CURRENT
    assert states["connect"] is StageState.DONE
    assert states["queue"] is StageState.PENDING
    assert states["final"] is StageState.PENDING


def test_hosts_that_share_a_first_label_get_labels_that_tell_them_apart() -> None:
    labels = HostLabels(
        ["laptop.example.com", "smtp.example.com", "smtp.example.org", "mx.example.net"]
    )
    assert labels("smtp.example.com") == "smtp…com"
    assert labels("smtp.example.org") == "smtp…org"
    assert labels("mx.example.net") == "mx"
    assert HostLabels(["mx.example", "mx.example.net"])("mx.example") == "mx.example"


async def test_spf_fail_traffic_shows_the_forger_and_the_real_provider_apart(start_world) -> None:
    async with start_world("spf-fail") as world:
        await world.run()
    events = list(world.trace.events)
    lines = [event_line(e, host_labels(events)).plain for e in events if isinstance(e, SmtpLine)]
    assert any("smtp…com -> mx" in line for line in lines)  # Mallory's provider at Bob's MX
    assert any("smtp…org" in line for line in lines)  # the bounce to the real alice


def test_sequence_diagram_draws_one_arrow_per_line_between_host_columns() -> None:
    events: list[Event] = [
        ScenarioStarted(
            seq=1,
            name="t",
            hosts=(
                WorldHost(name="laptop.example.org", role="client"),
                WorldHost(name="smtp.example.org", role="outbound"),
            ),
        ),
        _line(2, Side.CLIENT, "s1", "EHLO laptop.example.org", Direction.CLIENT_TO_SERVER),
        SmtpLine(
            seq=3,
            side=Side.CLIENT,
            session="s1",
            direction=Direction.SERVER_TO_CLIENT,
            data=b"250 ok\r\n",
            sender="smtp.example.org",
            receiver="laptop.example.org",
        ),
    ]
    rows = sequence_diagram(events, width=60)
    assert rows[0].text.split() == ["laptop", "smtp", "dns"]
    arrows = [r for r in rows if r.seq is not None]
    assert [r.seq for r in arrows] == [2, 3]
    assert "▶" in arrows[0].text and "EHLO" in arrows[0].text
    assert "◀" in arrows[1].text and "250 ok" in arrows[1].text


def test_message_view_marks_headers_added_on_the_way() -> None:
    first = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"
    relayed = b"Received: from laptop by smtp\r\n" + first
    events: list[Event] = [
        SmtpLine(
            seq=1,
            side=Side.CLIENT,
            direction=Direction.CLIENT_TO_SERVER,
            data=first,
            sender="laptop.example.org",
            receiver="smtp.example.org",
            is_payload=True,
        ),
        SmtpLine(
            seq=2,
            side=Side.CLIENT,
            direction=Direction.CLIENT_TO_SERVER,
            data=relayed,
            sender="smtp.example.org",
            receiver="mx1.example.net",
            is_payload=True,
        ),
        Delivery(
            seq=3,
            host="mx1.example.net",
            recipient="b@example.net",
            mailbox="/x",
            headers_added=("Return-Path: <a@example.org>",),
        ),
    ]
    state = message_state(events)
    assert state is not None
    added = [(h.name, h.added_by) for h in state.headers]
    assert added == [
        ("Return-Path", "mx1.example.net"),
        ("Received", "smtp.example.org"),
        ("From", ""),
        ("Subject", ""),
    ]


@pytest.mark.parametrize("event_filter", list(EventFilter))
def test_filters_cycle_back_to_all(event_filter: EventFilter) -> None:
    seen = {event_filter}
    current = event_filter.next()
    while current is not event_filter:
        seen.add(current)
        current = current.next()
    assert seen == set(EventFilter)


async def test_the_message_pane_rereads_the_message_only_when_a_step_changed_it(
    start_world,
) -> None:
    from tutor.ui.message_growth import shaping_events

    async with start_world("hello") as world:
        await world.run()
    events = list(world.trace.events)
    payload = next(i for i, e in enumerate(events) if isinstance(e, SmtpLine) and e.is_payload)
    assert shaping_events(events[:payload]) == ()
    after = shaping_events(events[: payload + 1])
    assert after == (events[payload],)
    assert shaping_events(events[: payload + 3]) == after  # a 250, a QUIT: same message
    assert len(shaping_events(events)) > 1  # the MX hop and the delivery change it again
