"""The trace: every event type survives a JSON Lines round trip; bad files get clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tutor.trace import (
    EVENT_TYPES,
    Direction,
    DnsAnswer,
    Outcome,
    RecipientResult,
    Side,
    SmtpLine,
    Stage,
    Trace,
    TraceFormatError,
    TraceHeader,
    read_trace,
    write_trace,
)


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
    from tutor.trace import event_from_json

    for cls in EVENT_TYPES.values():
        required = {
            f.name: _dummy(f.type)
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        event = cls(**required)
        assert event_from_json(event.to_json()) == event, cls


def _dummy(annotation: str):
    return {
        "str": "x",
        "bytes": b"x\r\n",
        "bool": True,
        "Direction": Direction.SERVER_TO_CLIENT,
        "Outcome": Outcome.BOUNCED,
    }.get(annotation, ("a",) if annotation.startswith("tuple") else "x")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", ":1: empty file"),
        ("not json\n", ":1: not JSON"),
        ('{"hello": 1}\n', ":1: not a smtp-tutor trace"),
        ('{"trace": "smtp-tutor", "version": 99}\n', ":1: trace version 99"),
        ('{"trace": "smtp-tutor", "version": 1}\n{"type": "alien"}\n', ":2: bad event"),
    ],
)
def test_bad_trace_files_name_file_and_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TraceFormatError) as caught:
        read_trace(path)
    assert str(caught.value).startswith(str(path) + problem)
