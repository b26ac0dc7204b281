"""The trace is a documented contract (docs/trace.md): round trips, vocabularies, compatibility."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from tutor import trace as trace_module
from tutor.trace import (
    EVENT_TYPES,
    Bounce,
    BounceAction,
    Direction,
    DnsAnswer,
    DsnFieldLink,
    Event,
    NoteLevel,
    Outcome,
    PolicyAction,
    PolicyCheck,
    PolicyResult,
    PolicyVerdict,
    QueueChange,
    QueueState,
    RecipientResult,
    ScenarioFinished,
    ScenarioStarted,
    Side,
    SmtpLine,
    Stage,
    Trace,
    TraceFormatError,
    TraceHeader,
    UnknownEvent,
    WorldHost,
    event_from_json,
    read_trace,
    write_trace,
)

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN_V1 = DATA / "trace-v1.jsonl"
HEADER_V1 = '{"trace": "smtp-tutor", "version": 1, "scenario": "hello", "started": "x"}\n'


def sample_events() -> list:
    return [
        SmtpLine(
            host="smtp.example.org",
            stage=Stage.EHLO,
            session="s2",
            side=Side.CLIENT,
            direction=Direction.CLIENT_TO_SERVER,
            data=b"EHLO smtp.example.org\r\n",
            sender="smtp.example.org",
            receiver="mx1.example.net",
        ),
        SmtpLine(
            host="smtp.example.org",
            stage=Stage.DATA,
            direction=Direction.CLIENT_TO_SERVER,
            data=bytes(range(256)),  # every byte value must survive
            sender="a",
            receiver="b",
            encrypted=True,
            is_payload=True,
        ),
        DnsAnswer(
            host="smtp.example.org",
            qname="example.net.",
            qtype="MX",
            server="127.0.0.10:5353",
            rcode="NOERROR",
            flags=("qr", "aa"),
            answer=("example.net. 3600 IN MX 10 mx1.example.net.",),
        ),
        RecipientResult(
            host="smtp.example.org",
            recipient="bob@example.net",
            outcome=Outcome.DELIVERED,
            reply="250 2.0.0 Ok",
        ),
    ]


def write_lines(tmp_path: Path, *events: dict[str, Any], header: str = HEADER_V1) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text(header + "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the bus and round trips


def test_publish_numbers_events_in_order_and_stamps_time() -> None:
    trace = Trace(now=lambda: 1234.5)
    seen = []
    trace.subscribe(seen.append)
    for event in sample_events():
        trace.publish(event)
    assert [e.seq for e in trace] == [1, 2, 3, 4]
    assert all(e.time == 1234.5 for e in trace)
    assert seen == trace.events


def test_round_trip_through_json_lines_keeps_every_field(tmp_path: Path) -> None:
    trace = Trace(now=lambda: 1.0)
    for event in sample_events():
        trace.publish(event)
    path = tmp_path / "run.jsonl"
    write_trace(path, TraceHeader(scenario="hello", started="2026-11-28T09:00:00Z"), trace)
    header, events = read_trace(path)
    assert header.scenario == "hello"
    assert events == trace.events
    assert isinstance(events[0].stage, Stage) and isinstance(events[3].outcome, Outcome)


def test_every_event_type_is_registered_and_round_trips() -> None:
    for cls in EVENT_TYPES.values():
        hints = get_type_hints(cls)
        required = {
            f.name: _dummy(hints[f.name])
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        event = cls(**required)
        again = event_from_json(json.loads(json.dumps(event.to_json())))
        assert again == event and type(again) is cls, cls


def _dummy(hint: Any) -> Any:
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return list(hint)[-1]
    if get_origin(hint) is tuple:
        return (_dummy(get_args(hint)[0]),)
    return {str: "x", bytes: b"x\r\n", bool: True, int: 1, float: 1.5}[hint]


# ------------------------------------------------------------------ vocabularies


def test_vocabularies_are_rebuilt_from_their_version_1_strings() -> None:
    verdict = event_from_json(
        {"type": "policy_verdict", "check": "spf", "result": "softfail", "action": "quarantine"}
    )
    assert verdict == PolicyVerdict(
        check=PolicyCheck.SPF, result=PolicyResult.SOFTFAIL, action=PolicyAction.QUARANTINE
    )
    assert verdict.action == "quarantine"  # StrEnum: string comparisons keep working
    change = event_from_json({"type": "queue_change", "queue_id": "Q", "state": "removed"})
    assert change.state is QueueState.REMOVED
    note = event_from_json({"type": "note", "text": "t", "level": "warning"})
    assert note.level is NoteLevel.WARNING
    finished = event_from_json(
        {"type": "scenario_finished", "name": "n", "ok": True, "outcomes": {"b@x": "bounced"}}
    )
    assert finished.outcomes == {"b@x": Outcome.BOUNCED}
    assert isinstance(finished.outcomes["b@x"], Outcome)


def test_hosts_and_dsn_links_are_small_dataclasses_written_as_version_1_objects() -> None:
    # Exactly as version 1 writers put them: the arrival link has no "value".
    hosts = [{"name": "mx1", "address": "127.0.0.13", "role": "mx", "ports": {"smtp": 25}}]
    links = [
        {"recipient": "", "field": "Arrival-Date", "seq": 7, "source": "Q1 arrived"},
        {"recipient": "bob@x", "field": "Status", "value": "5.1.1", "seq": 42, "source": "RCPT"},
    ]  # fmt: skip
    started = event_from_json({"type": "scenario_started", "name": "hello", "hosts": hosts})
    bounce = event_from_json(
        {"type": "bounce", "queue_id": "Q1", "dsn_queue_id": "Q2", "recipients": ["bob@x"],
         "action": "failed", "links": links}
    )  # fmt: skip
    assert started.hosts == (
        WorldHost(name="mx1", address="127.0.0.13", role="mx", ports={"smtp": 25}),
    )
    assert isinstance(bounce, Bounce) and bounce.action is BounceAction.FAILED
    assert bounce.links == (
        DsnFieldLink(field="Arrival-Date", seq=7, source="Q1 arrived"),
        DsnFieldLink(recipient="bob@x", field="Status", value="5.1.1", seq=42, source="RCPT"),
    )
    assert started.to_json()["hosts"] == hosts
    assert bounce.to_json()["links"][1] == links[1]
    assert bounce.to_json()["links"][0] == {**links[0], "value": ""}


def test_a_finished_run_carries_no_words_only_facts() -> None:
    # The English verdict is a view's (tutor/render/runverdict.py), not the trace's.
    assert not hasattr(ScenarioFinished, "verdict")


# ------------------------------------------------------------------ compatibility rules


def test_fields_a_reader_does_not_know_are_ignored(tmp_path: Path) -> None:
    line = {**RecipientResult(recipient="b@x", outcome=Outcome.DELIVERED).to_json(), "peer": "x"}
    _, (event,) = read_trace(write_lines(tmp_path, line))
    assert event == RecipientResult(recipient="b@x", outcome=Outcome.DELIVERED)


def test_unknown_header_line_keys_are_ignored(tmp_path: Path) -> None:
    header = '{"trace": "smtp-tutor", "version": 1, "scenario": "s", "started": "t", "by": "x"}\n'
    read_header, events = read_trace(write_lines(tmp_path, header=header))
    assert (read_header.scenario, read_header.version, events) == ("s", 1, [])


def test_an_unknown_event_type_is_kept_as_an_opaque_event(tmp_path: Path) -> None:
    alien = {"type": "arc_verdict", "seq": 3, "time": 2.5, "host": "mx", "stage": "filtering",
             "session": "s2", "side": "server", "explain": "", "chain": ["i=1"]}  # fmt: skip
    after = RecipientResult(seq=4, recipient="b@x", outcome=Outcome.DELIVERED)
    _, (opaque, known) = read_trace(write_lines(tmp_path, alien, after.to_json()))
    assert isinstance(opaque, UnknownEvent) and known == after
    assert (opaque.original_type, opaque.seq, opaque.host) == ("arc_verdict", 3, "mx")
    assert (opaque.stage, opaque.session, opaque.side) == (Stage.FILTERING, "s2", Side.SERVER)
    assert opaque.problem == "unknown event type 'arc_verdict'"
    assert opaque.to_json() == alien  # re-recording a replay loses nothing


def test_a_value_outside_a_vocabulary_makes_that_event_opaque() -> None:
    newer = {"type": "policy_verdict", "seq": 9, "stage": "filtering", "check": "arc",
             "result": "pass", "action": "none"}  # fmt: skip
    opaque = event_from_json(newer)
    assert isinstance(opaque, UnknownEvent) and opaque.original_type == "policy_verdict"
    assert opaque.seq == 9 and "'arc' is not a PolicyCheck" in opaque.problem
    new_stage = event_from_json({"type": "note", "seq": 2, "stage": "arc", "text": "t"})
    assert isinstance(new_stage, UnknownEvent) and new_stage.stage is Stage.SCENARIO


def test_views_show_an_opaque_event_instead_of_failing() -> None:
    from tutor.render.explain import explain_event
    from tutor.render.transcript import render_event

    opaque = event_from_json({"type": "arc_verdict", "seq": 1, "host": "mx"})
    assert render_event(opaque)[0].startswith("[unknown] arc_verdict event, not known")
    assert explain_event(opaque).title


def test_a_newer_major_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = write_lines(tmp_path, header='{"trace": "smtp-tutor", "version": 2}\n')
    with pytest.raises(TraceFormatError) as caught:
        read_trace(path)
    assert str(caught.value) == (
        f"{path}:1: trace version 2 is newer than this smtp-tutor reads (version 1); "
        "replay it with the smtp-tutor that recorded it, or newer"
    )


def test_older_versions_keep_reading_through_their_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend version 2 renamed Note.text to "words": a v1 file must still load, as v2 events.
    monkeypatch.setattr(trace_module, "TRACE_VERSION", 2)
    monkeypatch.setitem(trace_module.UPGRADES, 1, lambda obj: {**obj, "words": obj["text"]})
    path = write_lines(tmp_path, {"type": "note", "seq": 1, "text": "continuing in clear"})
    header, (note,) = read_trace(path)
    assert header.version == 1 and note.text == "continuing in clear"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", ":1: empty file"),
        ("not json\n", ":1: not JSON"),
        ('{"hello": 1}\n', ":1: not a smtp-tutor trace"),
        ('{"trace": "smtp-tutor", "version": 99}\n', ":1: trace version 99 is newer"),
        ('{"trace": "smtp-tutor", "version": 0}\n', ":1: trace version 0 is not one"),
        ('{"trace": "smtp-tutor", "version": "1"}\n', ":1: trace version '1' is not one"),
        (HEADER_V1 + "[1, 2]\n", ":2: bad event: an event is a JSON object"),
        (HEADER_V1 + '{"seq": 1}\n', ":2: bad event: the event has no type"),
        (HEADER_V1 + '{"type": "note"}\n', ":2: bad event"),  # a required field is missing
        (HEADER_V1 + '{"type": "note", "text": 5}\n', ":2: bad event: text: expected str"),
        (HEADER_V1 + '{"type": "note", "text": "t", "seq": 1.5}\n', ":2: bad event: seq"),
        (HEADER_V1 + '{"type": "scenario_started", "name": "n", "hosts": {}}\n', ":2: bad event"),
    ],
)
def test_bad_trace_files_name_file_and_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TraceFormatError) as caught:
        read_trace(path)
    assert str(caught.value).startswith(str(path) + problem)


# ------------------------------------------------------------------ the golden version 1 file


def test_the_golden_version_1_trace_loads_to_the_events_it_recorded() -> None:
    # tests/data/trace-v1.jsonl is `smtp-tutor run hello --plain --record` as version 1 wrote
    # it. Never re-record it: it is here so that nobody changes the format by accident.
    header, events = read_trace(GOLDEN_V1)
    assert (header.scenario, header.version) == ("hello", 1)
    assert Counter(e.type for e in events) == {
        "smtp_line": 118, "log_line": 14, "dns_query": 10, "dns_answer": 10, "tcp_connect": 4,
        "tls_handshake": 4, "tcp_close": 4, "queue_change": 3, "auth_result": 2,
        "scenario_started": 1, "delivery": 1, "recipient_result": 1, "scenario_finished": 1,
    }  # fmt: skip
    assert [e.seq for e in events] == list(range(1, 174))
    started, finished = events[0], events[-1]
    assert isinstance(started, ScenarioStarted) and started.name == "hello"
    assert [(h.name, h.role) for h in started.hosts] == [
        ("laptop.example.org", "client"),
        ("smtp.example.org", "outbound"),
        ("mx1.example.net", "mx"),
        ("mx2.example.net", "mx"),
    ]
    assert set(started.hosts[1].ports) == {"smtp", "submission", "submissions"}
    assert isinstance(finished, ScenarioFinished) and finished.ok
    assert finished.outcomes == {"bob@example.net": Outcome.DELIVERED}
    greeting = events[3]
    assert isinstance(greeting, SmtpLine) and greeting.data.startswith(b"220 smtp.example.org")
    assert (greeting.direction, greeting.side, greeting.stage) == (
        Direction.SERVER_TO_CLIENT,
        Side.SERVER,
        Stage.CONNECT,
    )
    states = [e.state for e in events if isinstance(e, QueueChange)]
    assert states == [QueueState.INCOMING, QueueState.ACTIVE, QueueState.REMOVED]
    assert not any(isinstance(e, UnknownEvent) for e in events)


def test_the_golden_version_1_trace_writes_back_every_field_it_was_read_with() -> None:
    # Renaming, dropping or retyping a field breaks this; adding an optional field does not.
    lines = GOLDEN_V1.read_text(encoding="utf-8").splitlines()[1:]
    _, events = read_trace(GOLDEN_V1)
    for line, event in zip(lines, events, strict=True):
        original, written = json.loads(line), event.to_json()
        assert {k: written.get(k) for k in original} == original, event.seq


# ------------------------------------------------------------------ the document


def _doc_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "trace.md").read_text(encoding="utf-8")
    parts = text.split("\n### `")
    return {part.split("`", 1)[0]: part for part in parts[1:]} | {"": parts[0]}


def test_docs_describe_every_event_type_and_every_field() -> None:
    sections = _doc_sections()
    header = {f.name for f in dataclasses.fields(Event)}
    assert all(f"| `{name}`" in sections[""] for name in header), "section 2 lists the header"
    for kind, cls in EVENT_TYPES.items():
        assert kind in sections, f"docs/trace.md has no section for {kind}"
        for f in dataclasses.fields(cls):
            if f.name not in header:
                assert f"`{f.name}`" in sections[kind], f"{kind}.{f.name} is not documented"


def test_docs_list_every_value_of_every_vocabulary() -> None:
    text = _doc_sections()[""]
    vocabularies = (Stage, Side, Direction, Outcome, NoteLevel, PolicyCheck, PolicyResult)
    for enum in (*vocabularies, PolicyAction, QueueState, BounceAction):
        row = next(line for line in text.splitlines() if line.startswith(f"| {enum.__name__} "))
        for value in enum:
            assert f"`{value}`" in row, f"{enum.__name__} {value!r} is not documented"
    for cls in (WorldHost, DsnFieldLink):
        assert all(f"`{f.name}`" in text for f in dataclasses.fields(cls)), cls


def test_every_queue_state_and_bounce_action_has_its_explanation() -> None:
    from tutor.render.explain import explanations

    keys = [*(f"queue.{s}" for s in QueueState), *(f"bounce.{a}" for a in BounceAction)]
    assert [key for key in keys if explanations().lookup(key) is None] == []
