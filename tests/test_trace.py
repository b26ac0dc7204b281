"""The trace: every event type round-trips through JSON Lines; vocabularies; bad files."""

from __future__ import annotations

import dataclasses
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from tutor.trace import (
    EVENT_TYPES,
    Bounce,
    BounceAction,
    Direction,
    DnsAnswer,
    DsnFieldLink,
    NoteLevel,
    Outcome,
    PolicyAction,
    PolicyCheck,
    PolicyResult,
    PolicyVerdict,
    QueueState,
    RecipientResult,
    ScenarioFinished,
    Side,
    SmtpLine,
    Stage,
    Trace,
    TraceFormatError,
    TraceHeader,
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


# ------------------------------------------------------------------ reading


def test_fields_a_reader_does_not_know_are_ignored(tmp_path: Path) -> None:
    line = {**RecipientResult(recipient="b@x", outcome=Outcome.DELIVERED).to_json(), "peer": "x"}
    _, (event,) = read_trace(write_lines(tmp_path, line))
    assert event == RecipientResult(recipient="b@x", outcome=Outcome.DELIVERED)


def test_unknown_header_line_keys_are_ignored(tmp_path: Path) -> None:
    header = '{"trace": "smtp-tutor", "version": 1, "scenario": "s", "started": "t", "by": "x"}\n'
    read_header, events = read_trace(write_lines(tmp_path, header=header))
    assert (read_header.scenario, read_header.version, events) == ("s", 1, [])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", ":1: empty file"),
        ("not json\n", ":1: not JSON"),
        ('{"hello": 1}\n', ":1: not a smtp-tutor trace"),
        ('{"trace": "smtp-tutor", "version": 99}\n', ":1: trace version 99"),
        (HEADER_V1 + '{"type": "alien"}\n', ":2: bad event: unknown event type 'alien'"),
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
