"""What tutor/world/smtp/aiosmtpd_adapter.py relies on in aiosmtpd: one test per private member.

aiosmtpd has no public API for what TracedSMTP needs (see the adapter's docstring), so the
adapter reads and overrides underscored members. When an aiosmtpd release renames or changes
one, the test of that member fails with a message naming it and the pinned range: fix the
adapter (only the adapter), then move the pin in pyproject.toml. Where it is cheap the test
also checks the behaviour against a real server on loopback.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import re
import socket
import tomllib
import warnings
from base64 import b64encode
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosmtpd
import pytest
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session
from packaging.requirements import Requirement
from worldctx import trace_of

from tutor.clock import RealClock
from tutor.trace import TcpClose, Trace
from tutor.world.certs import WorldCA
from tutor.world.context import WorldContext
from tutor.world.gate import StepGate
from tutor.world.network import NetworkPlan, Service
from tutor.world.smtp.aiosmtpd_adapter import QuietSession, SMTPAdapter
from tutor.world.smtp.postfix_replies import TABLE
from tutor.world.smtp.smtpd import Listener, TracedSMTP

ROOT = Path(__file__).parent.parent
ADAPTER = ROOT / "tutor" / "world" / "smtp" / "aiosmtpd_adapter.py"
PIN = next(
    Requirement(d)
    for d in tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    if Requirement(d).name == "aiosmtpd"
)
INSTALLED = aiosmtpd.__version__  # the one imported, which is what these tests ran against
HOST = "mx.adapter.test"


def changed(member: str, what: str, relier: str = "tutor/world/smtp/aiosmtpd_adapter.py") -> str:
    """The failure message: which member, what changed, what to do."""
    return (
        f"aiosmtpd {INSTALLED}: {member} {what}. {relier} relies on it (pyproject.toml pins "
        f"{PIN}): adapt {relier}, then move the pin."
    )


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_the_installed_aiosmtpd_is_in_the_pinned_range() -> None:
    assert PIN.specifier.contains(INSTALLED), (
        f"aiosmtpd {INSTALLED} is installed but pyproject.toml pins {PIN}: run these tests on it "
        "and move the pin if they pass"
    )


# --------------------------------------------------------------------------- a probe on loopback


class Probe(SMTPAdapter):
    """The adapter with its hooks recording what aiosmtpd handed them."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, **kwargs)
        self.read: list[bytes] = []
        self.starttls_seen: list[bool] = []
        self.handler_cancelled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.starttls_seen.append(self.starttls_done())
        super().connection_made(transport)

    def tap_read(self, chunk: bytes) -> bytes:
        self.read.append(chunk)
        return chunk

    def new_session(self) -> Session:
        return ProbeSession(self.loop)

    def new_envelope(self) -> Envelope:
        return ProbeEnvelope()

    async def smtp_XWRITE(self, arg: str) -> None:
        self.writer.write(b"250 written through the adapter's writer\r\n")
        await self.writer.drain()

    async def smtp_XSTOP(self, arg: str) -> None:
        running = asyncio.current_task()
        self.cancel_handler()
        self.handler_cancelled = running is not None and running.cancelling() > 0


class ProbeSession(QuietSession):
    pass


class ProbeEnvelope(Envelope):
    pass


class ProbeHandler:
    """Accepts everything; remembers the session and envelope aiosmtpd passed to MAIL."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, Any]] = []

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.seen.append((session, envelope))
        envelope.mail_from = address
        return "250 OK"

    async def handle_CONNECT(self, server: Any, session: Any, envelope: Any) -> str:
        return f"connect hook got {type(server).__name__}"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    return AuthResult(success=True, handled=False)


class Client:
    """A hand-typed SMTP session over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, data: bytes) -> str:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class Serving:
    """Probes on loopback, each serving the one connection the test opens to it."""

    def __init__(self, ca: WorldCA) -> None:
        self.ca = ca
        self.servers: list[asyncio.Server] = []
        self.clients: list[Client] = []

    async def __call__(self, *, tls: bool = False, **options: Any) -> tuple[Probe, Client]:
        """A Probe built with aiosmtpd ``options`` and a client that has read its greeting."""
        made: list[Probe] = []
        handler = options.pop("handler", ProbeHandler())
        if tls:
            options["tls_context"] = self.ca.server_context(HOST, "127.0.0.1")

        def factory() -> Probe:
            made.append(Probe(handler, loop=asyncio.get_running_loop(), **options))
            return made[-1]

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        self.servers.append(server)
        port = server.sockets[0].getsockname()[1]
        client = Client(*await asyncio.open_connection("127.0.0.1", port))
        self.clients.append(client)
        assert (await client.reply()).startswith("220 ")
        return made[0], client

    async def start_tls(self, client: Client) -> None:
        """The client's side of STARTTLS, trusting the world CA that issued the Probe's cert."""
        await client.writer.start_tls(self.ca.client_context(), server_hostname=HOST)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for server in self.servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serving]:
    serving = Serving(WorldCA(tmp_path))
    yield serving
    await serving.close()


# --------------------------------------------------------------------------- the members


async def test_original_transport_tells_the_connection_made_after_starttls(serve: Serving) -> None:
    assert "_original_transport" in vars(SMTP(ProbeHandler(), loop=asyncio.get_running_loop())), (
        changed("SMTP._original_transport", "is no longer set in __init__")
    )
    probe, client = await serve(tls=True)
    await client.send(b"EHLO client.test\r\n")
    assert await client.send(b"STARTTLS\r\n") == "220 Ready to start TLS"
    await serve.start_tls(client)
    assert (await client.send(b"EHLO client.test\r\n")).startswith(f"250-{HOST}")
    assert probe.starttls_seen == [False, True], changed(
        "SMTP._original_transport",
        "no longer tells the connection_made after STARTTLS from a new connection "
        "(starttls_done())",
    )


async def test_cb_client_connected_keeps_the_reader_every_byte_is_read_through(
    serve: Serving,
) -> None:
    assert parameters(SMTP._cb_client_connected) == ["self", "reader", "writer"], changed(
        "SMTP._cb_client_connected(reader, writer)", "was renamed or takes other arguments"
    )
    probe, client = await serve(auth_require_tls=False, authenticator=authenticate)
    sent = [
        b"EHLO client.test\r\n",
        b"NOOP " + b"x" * 2000 + b"\r\n",  # overlong: the rest is read with read()
        b"AUTH LOGIN\r\n",
        b"YWxpY2U=\r\n",  # the AUTH responses are read with readline()
        b"c2VjcmV0\r\n",
        b"MAIL FROM:<alice@example.org>\r\n",
        b"RCPT TO:<bob@example.net>\r\n",
        b"DATA\r\n",
    ]
    for line in sent:
        await client.send(line)
    payload = [b"Subject: hi\r\n", b"\r\n", b"Friday?\r\n", b".\r\n"]
    client.writer.write(b"".join(payload))
    assert (await client.reply()).startswith("250")
    assert b"".join(probe.read) == b"".join(sent + payload), changed(
        "SMTP._cb_client_connected / SMTP._reader",
        "no longer carries every byte of the session (aiosmtpd reads some other way than "
        "readuntil/readline/read on _reader)",
    )


async def test_data_lines_are_read_split_on_crlf_only(serve: Serving) -> None:
    probe, client = await serve()
    for line in (b"EHLO client.test\r\n", b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@x>\r\n"):
        await client.send(line)
    assert (await client.send(b"DATA\r\n")).startswith("354")
    # A bare LF ends no line (RFC 5321 §2.3.8), so "\n.\r\n" cannot end the message early.
    payload = [b"a bare\n.\r\n", b"LF is inside a line\r\n", b".\r\n"]
    client.writer.write(b"".join(payload))
    assert (await client.reply()).startswith("250")
    assert probe.read[-len(payload) :] == payload, changed(
        "SMTP._reader.readuntil(b'\\r\\n') in smtp_DATA",
        "no longer splits DATA lines on CRLF only (aiosmtpd >= 1.4.5, the SMTP smuggling fix); "
        "TracedSMTP.tap_read frames the payload the same way",
    )


async def test_writer_is_the_session_stream_writer_before_and_after_starttls(
    serve: Serving,
) -> None:
    probe, client = await serve(tls=True)
    assert probe.writer is probe._writer, changed("SMTP._writer", "is not the session's writer")
    assert await client.send(b"XWRITE\r\n") == "250 written through the adapter's writer"
    await client.send(b"EHLO client.test\r\n")
    await client.send(b"STARTTLS\r\n")
    await serve.start_tls(client)
    assert await client.send(b"XWRITE\r\n") == "250 written through the adapter's writer", changed(
        "SMTP._writer", "is not pointed at the TLS transport after STARTTLS"
    )


async def test_reader_buffer_is_cleared_after_starttls_so_plaintext_cannot_be_injected(
    serve: Serving,
) -> None:
    probe, client = await serve(tls=True)
    await client.send(b"EHLO client.test\r\n")
    assert await client.send(b"STARTTLS\r\nNOOP\r\n") == "220 Ready to start TLS"
    await serve.start_tls(client)
    first = await client.send(b"EHLO client.test\r\n")
    assert first.startswith(f"250-{HOST}"), changed(
        "SMTP.connection_made after STARTTLS",
        "no longer clears _reader._buffer (aiosmtpd >= 1.4.6, RFC 3207 §4.2): the NOOP sent "
        "in plaintext with STARTTLS was answered inside TLS",
    )
    assert b"NOOP\r\n" not in probe.read


def test_timeout_cb_is_what_the_idle_timer_calls() -> None:
    assert parameters(SMTP._timeout_cb) == ["self"], changed(
        "SMTP._timeout_cb()", "was renamed or takes arguments"
    )
    assert "self._timeout_cb" in inspect.getsource(SMTP._reset_timeout), changed(
        "SMTP._reset_timeout", "no longer arms the idle timer with _timeout_cb"
    )
    assert parameters(SMTP._reset_timeout) == ["self", "duration"], changed(
        "SMTP._reset_timeout(duration=None)", "was renamed or changed its parameters"
    )


async def test_an_idle_client_hears_421_from_on_idle_timeout_before_the_close(
    tmp_path: Path,
) -> None:
    plan = NetworkPlan.build({HOST: "127.0.0.1"})
    ctx = WorldContext(
        publish=Trace().publish, clock=RealClock(), plan=plan, gate=StepGate(), run_dir=tmp_path
    )
    port = plan.allocate_port(HOST, Service.SMTP)
    bind = plan.host(HOST).bind_address
    listener = Listener(
        lambda: TracedSMTP(
            object(), ctx=ctx, host_name=HOST, timeout=0.3, loop=asyncio.get_running_loop()
        ),
        bind,
        port,
    )
    await listener.start()
    try:
        client = Client(*await asyncio.open_connection(bind, port))
        assert (await client.reply()).startswith("220 ")
        assert await client.reply() == f"421 4.4.2 {HOST} Error: timeout exceeded", changed(
            "SMTP._timeout_cb", "is no longer called when the client stays silent"
        )
        assert await client.closed_by_server()
        await client.close()
    finally:
        await listener.stop()
    (close,) = trace_of(ctx).of_type(TcpClose)
    assert close.reason == "timeout"


async def test_a_world_client_waiting_at_the_step_gate_is_never_timed_out(
    tmp_path: Path,
) -> None:
    """The learner reading a narration for minutes must not cost a 421: while the run is
    stepped, a world client's silence is the learner's, and the idle timer is re-armed
    (_reset_timeout); once the run plays freely, the timeout applies again."""
    plan = NetworkPlan.build({HOST: "127.0.0.1"})
    gate = StepGate(open_=False)
    ctx = WorldContext(
        publish=Trace().publish, clock=RealClock(), plan=plan, gate=gate, run_dir=tmp_path
    )
    port = plan.allocate_port(HOST, Service.SMTP)
    bind = plan.host(HOST).bind_address
    listener = Listener(
        lambda: TracedSMTP(
            object(), ctx=ctx, host_name=HOST, timeout=0.2, loop=asyncio.get_running_loop()
        ),
        bind,
        port,
    )
    await listener.start()
    sock = socket.socket()
    sock.bind((bind, 0))
    plan.note_outgoing(HOST, sock.getsockname()[:2], "s1")  # as a world client registers
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (bind, port))
    try:
        client = Client(*await asyncio.open_connection(sock=sock))
        assert (await client.reply()).startswith("220 ")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.7):  # three idle timeouts long
                await client.reply()
        gate.open()
        assert await client.reply() == f"421 4.4.2 {HOST} Error: timeout exceeded"
        await client.close()
    finally:
        await listener.stop()


async def test_handler_coroutine_is_the_task_running_the_commands(serve: Serving) -> None:
    probe, client = await serve()
    client.writer.write(b"XSTOP\r\n")
    await client.writer.drain()
    assert await client.closed_by_server()
    assert probe.handler_cancelled, changed(
        "SMTP._handler_coroutine",
        "is not the task that runs the session's commands (cancel_handler() cancelled "
        "something else)",
    )


def test_set_rset_state_makes_a_new_envelope(loop: asyncio.AbstractEventLoop) -> None:
    assert parameters(SMTP._set_rset_state) == ["self"], changed(
        "SMTP._set_rset_state()", "was renamed or takes arguments"
    )
    probe = Probe(ProbeHandler(), loop=loop)
    probe.envelope = None
    probe.reset_transaction()
    assert isinstance(probe.envelope, ProbeEnvelope), changed(
        "SMTP._set_rset_state()", "no longer replaces the envelope with _create_envelope()"
    )


async def test_call_handler_hook_awaits_any_handle_method_of_the_handler() -> None:
    hook = SMTP._call_handler_hook
    assert inspect.iscoroutinefunction(hook) and parameters(hook) == ["self", "command", "args"], (
        changed("SMTP._call_handler_hook(command, *args)", "was renamed or takes other arguments")
    )
    probe = Probe(ProbeHandler(), loop=asyncio.get_running_loop())
    assert await probe.call_handler_hook("CONNECT") == "connect hook got Probe", changed(
        "SMTP._call_handler_hook", "no longer calls handle_<COMMAND>(server, session, envelope)"
    )
    assert await probe.call_handler_hook("NO-SUCH-HOOK") is MISSING, changed(
        "SMTP._call_handler_hook", "no longer answers MISSING for a hook the handler lacks"
    )


async def test_create_session_and_create_envelope_build_what_aiosmtpd_hands_the_handler(
    serve: Serving,
) -> None:
    for factory in (SMTP._create_session, SMTP._create_envelope):
        assert parameters(factory) == ["self"], changed(
            f"SMTP.{factory.__name__}()", "was renamed or takes arguments"
        )
    handler = ProbeHandler()
    _, client = await serve(handler=handler)
    await client.send(b"EHLO client.test\r\n")
    assert (await client.send(b"MAIL FROM:<alice@example.org>\r\n")).startswith("250")
    ((session, envelope),) = handler.seen
    assert isinstance(session, ProbeSession), changed(
        "SMTP._create_session()", "is no longer how connection_made makes the Session"
    )
    assert isinstance(envelope, ProbeEnvelope), changed(
        "SMTP._create_envelope()", "is no longer how the transaction's Envelope is made"
    )


def test_auth_require_tls_holds_the_constructor_flag(loop: asyncio.AbstractEventLoop) -> None:
    assert Probe(ProbeHandler(), loop=loop).requires_tls_for_auth is True, changed(
        "SMTP._auth_require_tls", "no longer defaults to True"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Requiring AUTH while not requiring TLS"
        plain = Probe(ProbeHandler(), loop=loop, auth_require_tls=False, auth_required=True)
    assert plain.requires_tls_for_auth is False, changed(
        "SMTP._auth_require_tls", "no longer holds the auth_require_tls argument"
    )


async def test_auth_before_tls_is_refused_when_requires_tls_for_auth(serve: Serving) -> None:
    probe, client = await serve(tls=True, authenticator=authenticate)
    assert probe.requires_tls_for_auth
    await client.send(b"EHLO client.test\r\n")
    reply = await client.send(b"AUTH PLAIN " + b64encode(b"\0alice\0secret") + b"\r\n")
    assert reply.startswith("538 5.7.11 "), changed(
        "SMTP._auth_require_tls", f"no longer makes aiosmtpd refuse AUTH before TLS ({reply!r})"
    )


def test_auth_methods_names_the_mechanisms_on_offer(loop: asyncio.AbstractEventLoop) -> None:
    assert set(Probe(ProbeHandler(), loop=loop).sasl_mechanisms) == {"PLAIN", "LOGIN"}, changed(
        "SMTP._auth_methods", "no longer maps the built-in mechanisms' names (PLAIN, LOGIN)"
    )
    without_login = Probe(ProbeHandler(), loop=loop, auth_exclude_mechanism=["LOGIN"])
    assert without_login.sasl_mechanisms == ("PLAIN",), changed(
        "SMTP._auth_methods", "no longer leaves out auth_exclude_mechanism"
    )


def test_no_member_of_ours_is_taken_for_an_auth_mechanism_or_a_command(tmp_path: Path) -> None:
    # aiosmtpd's __init__ takes every auth_* member for a mechanism and every smtp_* for a verb.
    ctx = WorldContext(
        publish=Trace().publish,
        clock=RealClock(),
        plan=NetworkPlan.build({HOST: "127.0.0.1"}),
        gate=StepGate(),
        run_dir=tmp_path,
    )
    loop = asyncio.new_event_loop()
    try:
        server = TracedSMTP(object(), ctx=ctx, host_name=HOST, auth_enabled=True, loop=loop)
    finally:
        loop.close()
    ours = {n for n in dir(server) if n.startswith(("auth_", "smtp_"))}
    theirs = {n for n in dir(SMTP) if n.startswith(("auth_", "smtp_"))}
    assert ours == theirs, f"new auth_/smtp_ members would be mechanisms/commands: {ours - theirs}"


def test_login_data_lives_in_the_session_s_login_data(loop: asyncio.AbstractEventLoop) -> None:
    session = QuietSession(loop)
    assert "_login_data" in vars(session), changed(
        "Session._login_data", "is no longer set in Session.__init__"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session.login_data = b"alice"  # ours: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert Session.login_data.fget(session) == b"alice", changed(  # type: ignore[attr-defined]
            "Session.login_data", "no longer keeps its value in _login_data"
        )


async def test_a_successful_auth_sets_login_data_without_a_warning(serve: Serving) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        _, client = await serve(auth_require_tls=False, authenticator=authenticate)
        await client.send(b"EHLO client.test\r\n")
        reply = await client.send(b"AUTH PLAIN " + b64encode(b"\0alice\0secret") + b"\r\n")
    assert reply == "235 2.7.0 Authentication successful", reply


# --------------------------------------------------------------------------- only the adapter


def aiosmtpd_private_names(loop: asyncio.AbstractEventLoop) -> set[str]:
    """Every underscored member of aiosmtpd's SMTP, Session and Envelope (and what SMTP inherits),
    including what an instance sets in __init__ and when a client connects."""
    bare = SMTP(ProbeHandler(), loop=loop)
    bare._cb_client_connected(asyncio.StreamReader(loop=loop), None)  # type: ignore[arg-type]
    names = {n for cls in (SMTP, Session, Envelope) for n in dir(cls)}
    names |= set(vars(bare)) | set(vars(Session(loop))) | set(vars(Envelope()))
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


def test_only_the_adapter_names_aiosmtpd_s_private_members(
    loop: asyncio.AbstractEventLoop,
) -> None:
    private = aiosmtpd_private_names(loop)
    offences = []
    for path in sorted((ROOT / "tutor").rglob("*.py")):
        if path == ADAPTER:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        if not any(m.startswith(("aiosmtpd", "tutor.world.smtp")) for m in modules):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
            else:
                continue
            if name in private:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not offences, (
        "aiosmtpd's private members belong in tutor/world/smtp/aiosmtpd_adapter.py only (an "
        "attribute of ours with the same name would also clash with aiosmtpd's):\n"
        + "\n".join(offences)
    )


# --------------------------------------------------------------------------- aiosmtpd's reply texts


def aiosmtpd_reply_texts() -> tuple[set[str], list[re.Pattern[str]], set[str]]:
    """The strings in aiosmtpd.smtp's source: constants, f-strings as regexes (each value ".+")
    and f-strings rendered with each value "X"."""
    tree = ast.parse(inspect.getsource(aiosmtpd.smtp))
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    templates, rendered = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else None for v in node.values]
            regex = "".join(".+" if p is None else re.escape(p) for p in parts)
            templates.append(re.compile(regex))
            rendered.add("".join("X" if p is None else p for p in parts))
    return {c for c in constants if isinstance(c, str)}, templates, rendered


def test_every_reply_postfix_replies_toml_rewrites_is_one_aiosmtpd_still_sends() -> None:
    constants, templates, rendered = aiosmtpd_reply_texts()
    texts = set(TABLE.exact) | {reply for reply, _ in TABLE.by_command}
    stale = sorted(
        t for t in texts if t not in constants and not any(f.fullmatch(t) for f in templates)
    )
    assert not stale, changed(
        "the reply texts of aiosmtpd.smtp",
        f"no longer include {stale}, which are rewritten into Postfix's",
        relier="tutor/data/postfix_replies.toml",
    )
    for pattern, _ in TABLE.patterns:
        assert any(pattern.match(t) for t in constants | rendered), changed(
            "the reply texts of aiosmtpd.smtp",
            f"no longer include one that [[pattern]] {pattern.pattern!r} matches",
            relier="tutor/data/postfix_replies.toml",
        )
