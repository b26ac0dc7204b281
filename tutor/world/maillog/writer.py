"""The world's mail log writer: publishes each record as a LogLine and files it on disk.

World parts hand it records where they know the facts (``log(record, host=...)``); it stamps
the LogLine through the world's publish function, then appends the same line to a syslog-style
text file and its fields to a JSON Lines file (what ``smtp-tutor log`` and the summary read).
Lines are flushed as they come, so a crash keeps everything logged so far. Without a directory
(a test's bare context) it only publishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tutor.files import private_dir, private_opener
from tutor.trace import Event, LogLine
from tutor.world.maillog.records import LogRecord, pid_for, syslog_line, to_event

TEXT_LOG = "maillog"
JSON_LOG = "maillog.jsonl"


class MailLog:
    """One world's mail log: ``log`` a record, ``close`` at the end."""

    def __init__(self, publish: Callable[[Event], Event], directory: Path | None = None) -> None:
        self._publish = publish
        self._text: IO[str] | None = None
        self._jsonl: IO[str] | None = None
        self.directory = directory
        if directory is not None:
            private_dir(directory)
            self._text = open(directory / TEXT_LOG, "a", encoding="utf-8", opener=private_opener)  # noqa: SIM115
            self._jsonl = open(directory / JSON_LOG, "a", encoding="utf-8", opener=private_opener)  # noqa: SIM115

    def log(
        self,
        record: LogRecord,
        *,
        host: str,
        session: str = "",
        time: float = 0.0,
    ) -> LogLine:
        """Publish the record's LogLine (time 0 = now on the world clock) and file it."""
        stamped = self._publish(to_event(record, host=host, session=session, time=time))
        assert isinstance(stamped, LogLine)
        self.write(stamped)
        return stamped

    def write(self, event: LogLine) -> str:
        """Append one stamped LogLine to both files; returns the text line."""
        pid = pid_for(event.host, event.program)
        line = syslog_line(event.time, event.host, event.program, event.text, pid)
        if self._text is None or self._jsonl is None:
            return line
        record = {
            "time": event.time,
            "iso": datetime.fromtimestamp(event.time, UTC).isoformat(timespec="milliseconds"),
            "host": event.host,
            "program": event.program,
            "pid": pid,
            "text": event.text,
            "line": line,
            **(event.fields or {"kind": "other"}),
        }
        self._text.write(line + "\n")
        self._text.flush()
        self._jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._jsonl.flush()
        return line

    def close(self) -> None:
        for stream in (self._text, self._jsonl):
            if stream is not None:
                stream.close()
        self._text = self._jsonl = None
