"""The Queue tab: retry timelines as of the selected step, and a bounce's DSN fields as links."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import OptionList, Static, TabbedContent
from ui_pilot import LARGE, SMALL, run_screen, settle

from tutor.render.dsnlinks import dsn_links
from tutor.trace import (
    Bounce,
    Direction,
    DsnFieldLink,
    Event,
    Note,
    QueueChange,
    RecipientResult,
    ScenarioStarted,
    SmtpLine,
    Trace,
)
from tutor.ui.app import TutorApp
from tutor.ui.screens.picker import PickerScreen
from tutor.ui.screens.run import RunScreen
from tutor.ui.session import EventFilter, ReplaySource, RunSession
from tutor.ui.widgets.queue_pane import NOTHING_QUEUED, QueuePane
from tutor.ui.widgets.traffic_log import TrafficLog


async def step_to_end(pilot, app: TutorApp, screen: RunScreen) -> RunSession:
    """Every step of the run, one at a time as the space key takes them (faster than play)."""
    while await screen.step_once():
        pass
    await settle(pilot, app)
    assert screen.session is not None and screen.session.finished_event is not None
    return screen.session


def plain(static: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def queue_text(screen: RunScreen) -> str:
    return plain(screen.query_one("#queue-text", Static))


def index_of(session: RunSession, kind: type[Event]) -> int:
    return next(i for i, e in enumerate(session.revealed_events) if isinstance(e, kind))


# ------------------------------------------------------------------ the retry timeline


async def test_queue_tab_shows_each_queued_message_with_its_attempts_and_replies() -> None:
    app = TutorApp("user-unknown-bounce")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        session = await step_to_end(pilot, app, screen)
        await pilot.press("u")
        await settle(pilot, app)
        assert screen.query_one("#details", TabbedContent).active == "queue"
        text = queue_text(screen)
        bounce = next(e for e in session.events if isinstance(e, Bounce))
        # The message to robert: one attempt, the 550, then returned with a DSN; and the DSN
        # itself, queued in turn and delivered to alice on its first attempt.
        assert f"Retry timeline of {bounce.queue_id}" in text
        assert f"Retry timeline of {bounce.dsn_queue_id}" in text
        assert text.count("attempt 1 ") == 2
        assert "attempt 2" not in text
        assert "reply: 550 5.1.1 <robert@example.net>" in text
        assert f"returned to sender: DSN {bounce.dsn_queue_id}" in text
        assert "delivered: removed from the queue" in text
        width = screen.query_one(QueuePane).scrollable_content_region.width
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width


async def test_queue_tab_shows_the_queue_as_it_was_at_the_selected_step() -> None:
    app = TutorApp("user-unknown-bounce")
    async with app.run_test(size=LARGE) as pilot:
        screen = await run_screen(pilot, app)
        session = await step_to_end(pilot, app, screen)
        await pilot.press("u")
        session.select(index_of(session, ScenarioStarted))
        await settle(pilot, app)
        assert queue_text(screen).strip() == NOTHING_QUEUED
        session.select(index_of(session, QueueChange))  # arrival: queued, not tried yet
        await settle(pilot, app)
        text = queue_text(screen)
        assert "not tried it yet" in text and "attempt 1" not in text
        session.select(index_of(session, RecipientResult))  # the 550, no bounce yet
        await settle(pilot, app)
        text = queue_text(screen)
        assert "550 5.1.1" in text and "returned to sender" not in text


# ------------------------------------------------------------------ DSN links


async def test_following_the_recipients_dsn_link_selects_the_550_that_caused_it() -> None:
    app = TutorApp("user-unknown-bounce")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        session = await step_to_end(pilot, app, screen)
        bounce_index = index_of(session, Bounce)
        session.select(bounce_index)
        await settle(pilot, app)
        await pilot.press("g")
        await settle(pilot, app)
        pane = screen.query_one(QueuePane)
        links = pane.query_one("#queue-links", OptionList)
        assert app.focused is links
        prompts = [str(links.get_option_at_index(i).prompt) for i in range(links.option_count)]
        assert "Arrival-Date" in prompts[0]
        assert "Status: 5.1.1" in prompts[1] and "Diagnostic-Code: 550 5.1.1" in prompts[1]
        await pilot.press("down", "enter")
        await settle(pilot, app)
        chosen = session.selected
        assert isinstance(chosen, RecipientResult)
        assert chosen.recipient == "robert@example.net"
        assert chosen.reply.startswith("550 5.1.1")
        assert chosen.seq == session.events[bounce_index].links[-1].seq
        await pilot.press("g")  # and back to the DSN, its links ready for the next one
        await settle(pilot, app)
        assert session.cursor == bounce_index
        assert app.focused is links
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert session.selected is chosen
        # It is the sender's verdict on the MX's 550 to RCPT TO, read earlier in that session.
        replies = [
            e.text
            for e in session.events[: session.cursor]
            if isinstance(e, SmtpLine)
            and (e.host, e.session) == (chosen.host, chosen.session)
            and e.direction is Direction.SERVER_TO_CLIENT
        ]
        assert any(r.startswith("550 5.1.1 <robert@example.net>") for r in replies)
        log = screen.query_one(TrafficLog)
        assert log.indexes[log.highlighted] == session.cursor
        assert app.focused is log


async def test_following_the_arrival_date_link_selects_the_message_entering_the_queue() -> None:
    app = TutorApp("user-unknown-bounce")
    async with app.run_test(size=LARGE) as pilot:
        screen = await run_screen(pilot, app)
        session = await step_to_end(pilot, app, screen)
        await pilot.press("f", "f")  # DNS only: the queue line is hidden...
        await settle(pilot, app)
        await pilot.press("g")  # ...and no bounce is selected: g goes to the latest one
        await settle(pilot, app)
        bounce = session.selected
        assert isinstance(bounce, Bounce)
        await pilot.press("enter")
        await settle(pilot, app)
        chosen = session.selected
        assert isinstance(chosen, QueueChange)
        assert chosen.state == "incoming" and chosen.queue_id == bounce.queue_id
        assert session.filter is EventFilter.ALL  # shown, so the log can highlight it
        log = screen.query_one(TrafficLog)
        assert log.indexes[log.highlighted] == session.cursor


async def test_dsn_links_key_says_so_when_there_is_no_bounce_yet() -> None:
    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        screen = await run_screen(pilot, app)
        await pilot.press("g")
        await settle(pilot, app)
        assert screen.query_one("#details", TabbedContent).active == "explain"
        assert any("No bounce yet" in str(n.message) for n in app._notifications)


def test_a_replayed_trace_maps_link_numbers_to_its_own_events_not_to_positions() -> None:
    # A trimmed or normalised recording keeps the numbers it was recorded with.
    events = [Note(seq=seq, text=f"event {seq}") for seq in (1, 2, 5, 9)]
    session = RunSession(ReplaySource(events))
    session.events.extend(events)
    assert session.index_of_seq(5) == 2
    assert session.index_of_seq(9) == 3
    assert session.index_of_seq(2) == 1
    assert session.index_of_seq(3) is None
    assert session.index_of_seq(0) is None


def test_a_live_trace_numbers_events_from_one_in_order() -> None:
    trace = Trace()
    for n in range(4):
        trace.publish(Note(text=f"event {n}"))
    session = RunSession(ReplaySource(trace.events))
    session.events.extend(trace.events)
    assert [session.index_of_seq(e.seq) for e in trace.events] == [0, 1, 2, 3]


def test_dsn_links_group_a_recipients_fields_under_the_event_they_came_from() -> None:
    source = "the reply to RCPT TO in session s2"
    bob = "bob@example.net"
    bounce = Bounce(
        queue_id="Q1",
        dsn_queue_id="Q2",
        recipients=("bob@example.net",),
        links=(
            DsnFieldLink(field="Arrival-Date", seq=7, source="Q1 arrived"),
            DsnFieldLink(recipient=bob, field="Action", value="failed", seq=42, source=source),
            DsnFieldLink(recipient=bob, field="Status", value="5.1.1", seq=42, source=source),
            DsnFieldLink(recipient=bob, field="Last-Attempt-Date", seq=42, source=source),
        ),
    )
    links = dsn_links(bounce)
    assert [(link.recipient, link.seq) for link in links] == [("", 7), ("bob@example.net", 42)]
    assert links[1].fields == ("Action: failed", "Status: 5.1.1", "Last-Attempt-Date")
    assert links[1].text == (
        f"bob@example.net: Action: failed; Status: 5.1.1; Last-Attempt-Date ← event #42 ({source})"
    )


# ------------------------------------------------------------------ the picker


async def test_picker_opens_at_the_top_with_the_first_scenario_highlighted() -> None:
    app = TutorApp()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("w")  # the start screen opens first; w opens the scenario picker
        for _ in range(50):
            if isinstance(app.screen, PickerScreen):
                break
            await pilot.pause(0.02)
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        scenarios = picker.query_one("#scenarios", OptionList)
        assert scenarios.highlighted == 0
        assert scenarios.scroll_y == 0
        assert picker.chosen_name == "hello"  # the first lesson comes first


async def test_command_palette_offers_the_queue_tab_and_the_dsn_links() -> None:
    from tutor.ui.commands import TutorCommands

    app = TutorApp("hello")
    async with app.run_test(size=SMALL) as pilot:
        await run_screen(pilot, app)
        provider = TutorCommands(app.screen)
        assert "Queue tab" in [str(hit.text) async for hit in provider.search("queue")]
        assert "DSN links" in [str(hit.text) async for hit in provider.search("dsn")]
