"""What a client sends never reaches a terminal raw: control bytes are shown escaped."""

from __future__ import annotations

import asyncio
import io
import socket

from tutor.render.transcript import TranscriptPrinter
from tutor.run import ClockKind
from tutor.trace import SmtpLine, printable

HOSTILE = b"EHLO \x1b]0;PWNED\x07\x1b[2J\x08\x00x\r\n"


def _talk(address: str, port: int) -> bytes:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.recv(4096)  # the greeting
        sock.sendall(HOSTILE)
        reply = sock.recv(4096)
        sock.sendall(b"QUIT\r\n")
        sock.recv(4096)
        return reply


async def test_escape_sequences_from_a_client_are_escaped_in_transcript_and_mail_log(
    start_run,
) -> None:
    out = io.StringIO()
    async with start_run("hello", clock=ClockKind.REAL) as run:
        run.trace.subscribe(TranscriptPrinter(out, color=False))
        mx = next(h for h in run.state.info.hosts if h.role == "mx")
        address = "127.0.0.1" if run.state.info.shared_loopback else mx.address
        reply = await asyncio.to_thread(_talk, address, mx.ports["smtp"])
        for _ in range(100):
            if "disconnect" in str(run.state.log_records()):
                break
            await asyncio.sleep(0.02)
        log_text = (run.state.run_dir / "log" / "maillog").read_text("utf-8")
        records = run.state.log_records()
        lines = [e for e in run.trace.of_type(SmtpLine) if e.data == HOSTILE]
    assert reply  # the server answered and kept serving
    printed = out.getvalue()
    for shown in (printed, log_text, str(records)):
        assert "\x1b" not in shown and "\x07" not in shown and "\x00" not in shown
    assert "\\x1b]0;PWNED\\x07" in printed  # visibly escaped where the learner reads it
    assert lines and lines[0].data == HOSTILE  # the exact bytes stay in the trace


def test_printable_leaves_ordinary_text_alone_and_escapes_every_control() -> None:
    assert printable("250-PIPELINING") == "250-PIPELINING"
    assert printable("Grüße 📧") == "Grüße 📧"
    assert printable("a\rb\tc\x7f\x9b\u202e") == "a\\rb\\tc\\x7f\\x9b\\u202e"


def test_a_kept_world_is_private_whatever_the_umask(tmp_path) -> None:
    """Mail, the mail log and the trace (with its AUTH PLAIN line) are the user's alone."""
    import os
    import stat
    import subprocess
    import sys

    keep = tmp_path / "kept"
    code = (
        "import os, sys; os.umask(0); from tutor.cli import main; "
        f"sys.exit(main(['run', 'hello', '--plain', '--keep', {str(keep)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(keep).st_mode) == 0o700
    sensitive = [keep / "trace.jsonl", keep / "log" / "maillog", keep / "log" / "maillog.jsonl"]
    sensitive += list((keep / "mailboxes").rglob("new/*"))
    assert len(sensitive) > 3
    for path in sensitive:
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
    for directory in [p for p in keep.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(os.stat(directory).st_mode) & 0o022 == 0, directory
