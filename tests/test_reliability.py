"""Nothing accepted is lost, and bad input gets a clear answer (issue 16's smaller points)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from tutor.run import ClockKind

ROOT = Path(__file__).parent.parent


def _mx(run) -> tuple[str, int]:
    mx = next(h for h in run.state.info.hosts if h.role == "mx")
    address = "127.0.0.1" if run.state.info.shared_loopback else mx.address
    return address, mx.ports["smtp"]


def _converse(where: tuple[str, int], lines: list[bytes]) -> list[bytes]:
    replies = []
    with socket.create_connection(where, timeout=5) as sock:
        stream = sock.makefile("rb")
        replies.append(stream.readline())
        for line in lines:
            sock.sendall(line)
            if line == b".\r\n" or not line.startswith((b"Subject", b"From", b"\r\n")):
                reply = stream.readline()
                while reply[3:4] == b"-":
                    reply = stream.readline()
                replies.append(reply)
    return replies


async def test_a_recipient_named_twice_gets_one_copy(start_run) -> None:
    async with start_run("hello", clock=ClockKind.REAL) as run:
        rcpt = b"RCPT TO:<bob@example.net>\r\n"
        replies = await asyncio.to_thread(
            _converse,
            _mx(run),
            [
                b"EHLO student.example\r\n",
                b"MAIL FROM:<alice@example.org>\r\n",
                rcpt,
                rcpt,
                b"DATA\r\n",
                b"Subject: twice\r\n\r\nhello\r\n.\r\n",
                b"QUIT\r\n",
            ],
        )
        assert [r[:3] for r in replies[3:5]] == [b"250", b"250"]  # both RCPTs accepted
        assert replies[6].startswith(b"250")
        boxes = run.state.mailboxes()
    assert [m.subject for m in boxes["bob@example.net"]] == ["twice"]


async def test_stopping_the_world_says_421_to_an_open_session(start_run) -> None:
    def greet(where: tuple[str, int]) -> tuple[socket.socket, object]:
        sock = socket.create_connection(where, timeout=5)
        stream = sock.makefile("rb")
        stream.readline()  # greeting
        sock.sendall(b"EHLO student.example\r\n")
        while stream.readline()[3:4] == b"-":
            pass
        return sock, stream

    async with start_run("hello", clock=ClockKind.REAL) as run:
        sock, stream = await asyncio.to_thread(greet, _mx(run))
    try:
        last = await asyncio.to_thread(stream.readline)  # type: ignore[attr-defined]
    finally:
        sock.close()
    assert last.startswith(b"421 4.3.2 "), last


def test_a_retry_table_with_minimal_above_maximal_backoff_is_a_scenario_error(tmp_path) -> None:
    text = (ROOT / "lessons" / "scenarios" / "hello.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[retry]\nminimal_backoff_time = "2h"\nmaximal_backoff_time = "1h"\n')
    done = subprocess.run(
        [sys.executable, "-m", "tutor", "run", str(bad), "--plain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert str(bad) in line and "minimal_backoff_time" in line and line.count("\n") == 0
