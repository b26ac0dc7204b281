"""The plain transcript and its lexers: markers carry meaning, colour only when wanted."""

from __future__ import annotations

import io

import pytest
from pygments import lex
from pygments.token import Generic, Keyword

from tutor.render.lexer import (
    ENHANCED_PERMANENT,
    MARK_CLIENT,
    MARK_CLIENT_TLS,
    MARK_SERVER,
    MARK_SERVER_TLS,
    PARAMETER,
    PAYLOAD_BODY,
    REPLY_INTERMEDIATE,
    REPLY_PERMANENT,
    REPLY_SUCCESS,
    REPLY_TRANSIENT,
    SmtpSessionLexer,
    SmtpTranscriptLexer,
)
from tutor.render.transcript import (
    TranscriptPrinter,
    TranscriptRenderer,
    render_event,
    render_replay_banner,
    render_transcript,
    should_colour,
)
from tutor.trace import (
    EVENT_TYPES,
    AuthResult,
    Bounce,
    Delivery,
    Direction,
    DnsAnswer,
    DnsQuery,
    LogLine,
    Note,
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
    TcpClose,
    TcpConnect,
    TlsHandshake,
    TraceHeader,
    WorldHost,
)

CLIENT, SERVER = "smtp.example.org", "mx1.example.net"


def line(
    text: str,
    *,
    to_server: bool = True,
    side: Side = Side.CLIENT,
    session: str = "s3",
    encrypted: bool = False,
    payload: bool = False,
    client: str = CLIENT,
) -> SmtpLine:
    direction = Direction.CLIENT_TO_SERVER if to_server else Direction.SERVER_TO_CLIENT
    sender, receiver = (client, SERVER) if to_server else (SERVER, client)
    return SmtpLine(
        host=client if side == Side.CLIENT else SERVER,
        session=session,
        side=side,
        direction=direction,
        data=text.encode() if payload else text.encode() + b"\r\n",
        sender=sender,
        receiver=receiver,
        encrypted=encrypted,
        is_payload=payload,
    )


def reply(text: str, **kwargs: object) -> SmtpLine:
    return line(text, to_server=False, **kwargs)  # type: ignore[arg-type]


def flat(lines: list[str]) -> str:
    """The words of wrapped lines, without box drawing or indentation."""
    return " ".join(" ".join(lines).replace("║", " ").split())


def tokens(text: str, lexer: object = None) -> list[tuple[object, str]]:
    return [(t, v) for t, v in lex(text, lexer or SmtpTranscriptLexer()) if v.strip()]


# --------------------------------------------------------------------------- lexer

SAMPLE = """\
── session s3: smtp.example.org → mx1.example.net ──────────────
[tcp]     smtp.example.org 127.0.0.12 → mx1.example.net 127.0.0.13:2525 connected
  <-      220 mx1.example.net ESMTP
  ->      EHLO smtp.example.org
  <-      250-SIZE 10240000
  ~>      MAIL FROM:<alice@example.org> SIZE=312
  <~      354 End data with <CR><LF>.<CR><LF>
  ~>      │ Subject: hello
  ~>      │
  ~>      │ Hi Bob
  ~>      │ .
  <~      451 4.7.1 Try again later
  <~      550 5.1.1 <nobody@example.net>: Recipient address rejected
        ↳ 550 = mailbox unavailable
[warn]    !! continuing in clear text
"""


def test_lexer_keeps_every_character() -> None:
    assert "".join(v for _, v in lex(SAMPLE, SmtpTranscriptLexer())) == SAMPLE


def test_lexer_colours_reply_codes_by_class_and_marks_the_enhanced_code() -> None:
    toks = tokens(SAMPLE)
    assert (REPLY_SUCCESS, "220") in toks
    assert (REPLY_INTERMEDIATE, "354") in toks
    assert (REPLY_TRANSIENT, "451") in toks
    assert (REPLY_PERMANENT, "550") in toks
    assert (ENHANCED_PERMANENT, "5.1.1") in toks
    assert REPLY_PERMANENT in Generic.Error and REPLY_TRANSIENT is not REPLY_PERMANENT


def test_lexer_marks_commands_parameters_and_direction_markers() -> None:
    toks = tokens(SAMPLE)
    assert (Keyword, "EHLO") in toks
    assert (Keyword, "MAIL FROM") in toks
    assert (PARAMETER, "SIZE") in toks
    assert (MARK_CLIENT, "->") in toks
    assert (MARK_SERVER, "<-") in toks
    assert (MARK_CLIENT_TLS, "~>") in toks
    assert (MARK_SERVER_TLS, "<~") in toks
    assert MARK_CLIENT_TLS is not MARK_CLIENT


def test_lexer_tells_payload_headers_from_body() -> None:
    toks = tokens(SAMPLE)
    assert (PARAMETER, "Subject") in toks
    assert (PAYLOAD_BODY, "Hi Bob\n") in toks


def test_session_lexer_reads_a_pasted_nc_session() -> None:
    session = "220 mx ESMTP\nehlo me\n250-PIPELINING\nrcpt to:<x@y>\n553 5.1.3 bad\n"
    toks = tokens(session, SmtpSessionLexer())
    assert (REPLY_SUCCESS, "220") in toks
    assert (Keyword, "ehlo") in toks
    assert (Keyword, "rcpt to") in toks
    assert (REPLY_PERMANENT, "553") in toks
    assert (ENHANCED_PERMANENT, "5.1.3") in toks


# --------------------------------------------------------------------------- transcript lines


def test_clear_and_encrypted_lines_have_distinct_markers() -> None:
    assert render_event(line("EHLO a"))[0].startswith("  ->      EHLO a")
    assert render_event(reply("220 b ESMTP"))[0].startswith("  <-      220")
    assert render_event(line("EHLO a", encrypted=True))[0].startswith("  ~>      EHLO")
    assert render_event(reply("250 b", encrypted=True))[0].startswith("  <~      250")


def test_payload_is_indented_under_data_with_each_line_marked_as_content() -> None:
    payload = "Subject: hi\r\n\r\nHello\r\n.\r\n"
    lines = render_event(line(payload, payload=True, encrypted=True))
    assert lines == [
        "  ~>      │ Subject: hi",
        "  ~>      │",
        "  ~>      │ Hello",
        "  ~>      │ .",
    ]


def test_long_payload_lines_are_truncated_and_long_payloads_cut_keeping_the_final_dot() -> None:
    body = "".join(f"line {n} " + "x" * 100 + "\r\n" for n in range(100))
    lines = render_event(line(body + ".\r\n", payload=True), max_payload_lines=10)
    assert len(lines) == 11
    assert all(len(text) <= 80 for text in lines)
    assert lines[0].endswith("…")
    assert "91 more line(s)" in lines[-2]
    assert lines[-1].endswith("│ .")


def test_long_protocol_lines_wrap_without_losing_bytes() -> None:
    text = "550 5.1.1 <" + "n" * 100 + "@example.net>: Recipient address rejected"
    lines = render_event(reply(text))
    assert all(len(text) <= 80 for text in lines)
    assert lines[1].startswith("  <-      ⋯ ")
    assert "".join(x[10:].removeprefix("⋯ ") for x in lines) == text


def test_server_side_copies_are_hidden_by_default_and_shown_on_request() -> None:
    events = [
        TcpConnect(host=CLIENT, session="s3", side=Side.CLIENT, src="a:1", dst="b:2"),
        reply("220 mx1 ESMTP", side=Side.SERVER),
        reply("220 mx1 ESMTP"),
        line("QUIT"),
        line("QUIT", side=Side.SERVER),
    ]
    plain = list(render_transcript(events))
    assert sum("220 mx1" in x for x in plain) == 1
    assert sum("QUIT" in x for x in plain) == 1
    both = list(render_transcript(events, show_server_side=True))
    assert sum("220 mx1" in x for x in both) == 2
    assert render_event(reply("220 x", side=Side.SERVER)) == []


def test_a_session_only_the_server_saw_is_printed_from_the_server_side() -> None:
    nc = "127.0.0.1:5555"
    events = [
        reply("220 mx1 ESMTP", side=Side.SERVER, session="s9", client=nc),
        line("helo me", side=Side.SERVER, session="s9", client=nc),
        reply("250 mx1", side=Side.SERVER, session="s9", client=nc),
    ]
    lines = list(render_transcript(events))
    assert lines[0].startswith("── session s9: 127.0.0.1:5555 → mx1.example.net")
    assert lines[1:] == ["  <-      220 mx1 ESMTP", "  ->      helo me", "  <-      250 mx1"]


def test_live_renderer_holds_server_lines_until_it_knows_who_saw_the_session() -> None:
    renderer = TranscriptRenderer()
    # the server's copy of the greeting can arrive before the client has said anything
    assert renderer.feed(reply("220 mx1", side=Side.SERVER)) == []
    assert renderer.feed(reply("220 mx1"))[-1] == "  <-      220 mx1"
    assert renderer.feed(line("EHLO a", side=Side.SERVER)) == []
    assert renderer.flush() == []
    # nobody but the server: the first command it receives releases what was held
    lone = TranscriptRenderer()
    assert lone.feed(reply("220 mx1", side=Side.SERVER, session="s9")) == []
    released = lone.feed(line("EHLO nc", side=Side.SERVER, session="s9"))
    assert released[1:] == ["  <-      220 mx1", "  ->      EHLO nc"]


def test_server_session_matched_by_tcp_endpoints_is_a_twin_even_with_another_session_id() -> None:
    ends = {"src": "127.0.0.12:5000", "dst": "127.0.0.13:25"}
    events = [
        TcpConnect(host=SERVER, session="s4", side=Side.SERVER, **ends),
        reply("220 mx1", side=Side.SERVER, session="s4"),
        TcpConnect(host=CLIENT, session="s3", side=Side.CLIENT, dst_host=SERVER, **ends),
        reply("220 mx1", session="s3"),
        line("EHLO a", side=Side.SERVER, session="s4"),
        line("EHLO a", session="s3"),
        AuthResult(session="s4", side=Side.SERVER, mechanism="PLAIN", username="u", ok=True),
    ]
    whole = list(render_transcript(events))
    renderer = TranscriptRenderer()
    live = [x for event in events for x in renderer.feed(event)] + renderer.flush()
    for lines in (whole, live):
        assert sum("220 mx1" in x for x in lines) == 1
        assert sum("EHLO a" in x for x in lines) == 1
        assert not any("[auth]" in x for x in lines)
        assert not any("s4" in x for x in lines)


def test_session_header_is_repeated_when_sessions_interleave() -> None:
    events = [
        line("EHLO a", session="s1"),
        line("EHLO b", session="s2"),
        line("QUIT", session="s1"),
    ]
    headers = [x for x in render_transcript(events) if x.startswith("──")]
    assert [h.split(":")[0] for h in headers] == [
        "── session s1",
        "── session s2",
        "── session s1 (continued)",
    ]


def test_dns_lines_show_question_and_one_line_per_record() -> None:
    query = DnsQuery(
        host="laptop", side=Side.CLIENT, qname="example.net.", qtype="MX", server="127.0.0.10:53"
    )
    answer = DnsAnswer(
        host="laptop",
        qname="example.net.",
        qtype="MX",
        server="127.0.0.10:53",
        rcode="NOERROR",
        flags=("qr", "aa"),
        answer=("example.net. 3600 IN MX 10 mx1.", "example.net. 3600 IN MX 20 mx2."),
    )
    assert render_event(query) == ["[dns]     laptop ? example.net. MX → 127.0.0.10:53 udp"]
    assert render_event(answer) == [
        "[dns]     ← NOERROR aa: example.net. 3600 IN MX 10 mx1.",
        "[dns]     ← NOERROR aa: example.net. 3600 IN MX 20 mx2.",
    ]
    server_copy = DnsQuery(
        host="ns", side=Side.SERVER, qname="example.net.", qtype="MX", server="x"
    )
    assert list(render_transcript([query, server_copy])) == render_event(query)


def test_failures_are_marked_in_text_not_only_in_colour() -> None:
    refused = TcpConnect(
        host=CLIENT, src="a:0", dst="b:25", dst_host=SERVER, ok=False, error="Connection refused"
    )
    assert "!! REFUSED: Connection refused" in flat(render_event(refused))
    unverified = TlsHandshake(
        ok=True, version="TLSv1.3", cipher="X", verified=False, verify_error="unknown CA"
    )
    assert any("!! certificate NOT verified: unknown CA" in x for x in render_event(unverified))
    # The server's own copy of a handshake has nothing to verify: it is the one presenting.
    presented = TlsHandshake(side=Side.SERVER, ok=True, version="TLSv1.3", cipher="X")
    lines = render_event(presented, show_server_side=True)
    assert "certificate presented by this server" in flat(lines)
    assert "NOT verified" not in flat(lines)
    warning = Note(text="continuing in clear", level=NoteLevel.WARNING)
    assert render_event(warning) == ["[warn]    !! continuing in clear"]
    failed = AuthResult(mechanism="PLAIN", username="alice", ok=False)
    assert "!! authentication FAILED" in render_event(failed)[0]


def test_every_event_type_renders_within_80_columns() -> None:
    samples = [
        ScenarioStarted(
            name="hello", title="t", hosts=(WorldHost(name="h", address="1", role="mx"),)
        ),
        ScenarioFinished(name="hello", ok=False, mismatches=("x",)),
        Note(text="n"),
        DnsQuery(qname="a.", qtype="A", server="s"),
        DnsAnswer(qname="a.", qtype="A", server="s", rcode="NXDOMAIN"),
        TcpConnect(src="a:1", dst="b:2"),
        TcpClose(src="a:1", dst="b:2"),
        TlsHandshake(ok=False),
        line("NOOP"),
        AuthResult(mechanism="PLAIN", username="alice", ok=True),
        RecipientResult(recipient="b@x", outcome=Outcome.DEFERRED, reply="451 4.7.1 later " * 5),
        Delivery(recipient="b@x", mailbox="/tmp/a/b/Maildir", filename="f", size=3),
        PolicyVerdict(
            check=PolicyCheck.SPF,
            result=PolicyResult.FAIL,
            reasons=("no match",),
            action=PolicyAction.REJECT,
        ),
        QueueChange(
            queue_id="Q1", state=QueueState.DEFERRED, reason="451", next_attempt=400.0, time=100.0
        ),
        Bounce(queue_id="Q1", dsn_queue_id="Q2", recipients=("b@x",)),
        LogLine(program="postfix/smtp", text="status=sent"),
    ]
    assert {type(e) for e in samples} == set(EVENT_TYPES.values())
    for event in samples:
        lines = render_event(event, explain=True)
        assert lines, event.type
        assert all(len(x) <= 80 for x in lines), lines


def test_explain_mode_puts_a_compact_explanation_under_the_line() -> None:
    lines = render_event(reply("550 5.1.1 <b@x>: User unknown"), explain=True)
    explanation = " ".join(x.strip() for x in lines[1:])
    assert lines[1].lstrip().startswith("↳ 550 = ")
    assert "5.1.1 = bad destination mailbox address" in explanation
    assert "RFC 5321 §4.2.2" in explanation


def test_replay_banner_says_nothing_is_happening_now() -> None:
    banner = render_replay_banner(TraceHeader(scenario="hello", started="2024-05-01T10:00Z"))
    text = flat(banner)
    assert "REPLAY of a recorded run (scenario hello, recorded 2024-05-01T10:00Z)" in text
    assert "no traffic is happening now" in text
    assert all(len(x) == 80 for x in banner)
    closing = render_replay_banner(TraceHeader(scenario="hello", started="x"), closing=True)
    assert "END OF REPLAY" in " ".join(closing)


# --------------------------------------------------------------------------- colour


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color_or_dumb_term(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert should_colour(_Terminal())
    assert not should_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not should_colour(_Terminal())
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
    assert should_colour(_Terminal())
    monkeypatch.setenv("TERM", "dumb")
    assert not should_colour(_Terminal())


@pytest.mark.parametrize("term", ["xterm", "xterm-256color"])
def test_printer_writes_ansi_only_when_asked(monkeypatch: pytest.MonkeyPatch, term: str) -> None:
    monkeypatch.setenv("TERM", term)
    events = [line("EHLO a"), reply("550 5.1.1 no")]
    plain, coloured = io.StringIO(), io.StringIO()
    for stream, colour in ((plain, False), (coloured, True)):
        printer = TranscriptPrinter(stream, color=colour, explain=False)
        for event in events:
            printer(event)
        printer.close()
    assert "\x1b[" not in plain.getvalue()
    assert "\x1b[" in coloured.getvalue()
    assert "550 5.1.1 no" in plain.getvalue()


def test_delivery_shows_the_folder_path_and_the_headers_added_on_delivery() -> None:
    from tutor.trace import Delivery

    event = Delivery(
        host="mx.example.net",
        recipient="bob@example.net",
        mailbox="/tmp/w/mailboxes/bob@example.net",
        folder="Junk",
        filename="1.M1P1Q1.vm",
        headers_added=("Authentication-Results: mx.example.net; dmarc=fail",),
    )
    lines = render_event(event)
    assert "bob@example.net/.Junk/new/1.M1P1Q1.vm" in "".join(lines)
    assert any(
        line.strip() == "+ Authentication-Results: mx.example.net; dmarc=fail" for line in lines
    )


async def test_serve_transcript_shows_each_world_step_once_and_a_learners_session_at_once(
    start_world,
) -> None:
    """What `serve` prints: a learner's nc session from the server's side, greeting included,
    before the learner types anything; the world's own sessions once, not once per end."""
    import asyncio

    from tutor.trace import Trace
    from tutor.world.network import Service

    trace = Trace()
    renderer = TranscriptRenderer()
    printed: list[str] = []
    trace.subscribe(lambda event: printed.extend(renderer.feed(event)))
    async with start_world("hello", trace=trace) as world:
        mx = world.ctx.plan.host("mx1.example.net")
        reader, writer = await asyncio.open_connection(
            mx.bind_address, mx.ports[Service.SMTP], local_addr=("127.0.0.1", 0)
        )
        greeting = await reader.readline()
        await asyncio.sleep(0.05)
        assert greeting.startswith(b"220")
        assert any("220 mx1.example.net" in x for x in printed)  # nothing typed yet
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()
        printed.clear()
        await world.run()
    printed += renderer.flush()
    bye = [x for x in printed if "221 2.0.0 Bye" in x]
    sessions = [x for x in printed if x.startswith("── session") and "continued" not in x]
    assert len(bye) == len(sessions) == 2  # laptop → submission, smtp → mx1
