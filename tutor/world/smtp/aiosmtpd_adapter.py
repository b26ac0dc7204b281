"""aiosmtpd's private API in one place: the only module that names aiosmtpd's underscored members.

``TracedSMTP`` (smtpd.py) needs things aiosmtpd offers no public API for: to tell the
``connection_made`` that follows STARTTLS from a new connection, to see every byte the parser
reads, to write and flush replies itself, to answer an idle client before hanging up, to end
the session's command loop, to reset the transaction on EHLO, to ask a handler hook of its own,
to build its own Session and Envelope, and to read the AUTH settings. ``SMTPAdapter`` sits
between aiosmtpd's ``SMTP`` and ``TracedSMTP`` and offers each under a public name of ours;
``QuietSession`` does the same for aiosmtpd's ``Session``. Nothing else in the world touches an
underscored name of aiosmtpd's (tests/test_aiosmtpd_adapter.py checks that too).

Naming: aiosmtpd's ``__init__`` takes every member of the server whose name starts with
``auth_`` as an AUTH mechanism and every ``smtp_`` one as an SMTP command (1.2 to 1.4.6), so
names here and in subclasses start with neither unless they are meant to be one.

Each member says which aiosmtpd behaviour it relies on, read in aiosmtpd 1.4.6; the versions
named are those whose source has the same member. tests/test_aiosmtpd_adapter.py fails, naming
the member, when a release renames or changes one, and the pin in pyproject.toml is the range
those tests pass on: 1.4.6 (and aiosmtpd's master after it). 1.4.4 and 1.4.5 have every member
but fail two behaviours the trace relies on (see ``TappedReader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

# --------------------------------------------------------------------------- reading


class TappedReader:
    """aiosmtpd's StreamReader with every chunk it returns shown to ``tap`` first.

    ``tap`` may hand back different bytes: aiosmtpd has no pre-parse hook, so this is the one
    place a line can be seen (and replaced) before the parser gets it.

    Relies on aiosmtpd 1.4.x reading the client only with ``readuntil`` (commands, and DATA
    lines split on CRLF only since 1.4.5, the SMTP smuggling fix: ``TracedSMTP.tap_read`` frames
    the payload the same way), ``readline`` (AUTH responses) and ``read`` (the rest of an
    overlong line). On STARTTLS aiosmtpd sets the reader's ``_transport`` and, since 1.4.6,
    clears its ``_buffer`` so plaintext pipelined behind STARTTLS is never read as a command
    (RFC 3207 §4.2); every other attribute therefore falls through to the wrapped reader.
    """

    def __init__(self, inner: asyncio.StreamReader, tap: Callable[[bytes], bytes]) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_tap", tap)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        try:
            data = await self._inner.readuntil(separator)
        except asyncio.IncompleteReadError as exc:
            self._tap(exc.partial)
            raise
        return self._tap(data)

    async def readline(self) -> bytes:
        return self._tap(await self._inner.readline())

    async def read(self, n: int = -1) -> bytes:
        return self._tap(await self._inner.read(n))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


# --------------------------------------------------------------------------- the session


class QuietSession(Session):
    """aiosmtpd's Session whose ``login_data`` does not warn on every AUTH.

    aiosmtpd (1.3 to 1.4.6) sets ``session.login_data`` on every successful AUTH and logs a
    deprecation warning each time; the warning is about aiosmtpd's API, not something a learner
    should see. The property keeps the value where aiosmtpd's own does: ``_login_data``.
    """

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


# --------------------------------------------------------------------------- the protocol


class SMTPAdapter(SMTP):
    """aiosmtpd's SMTP protocol with what it keeps private under public names of ours."""

    # ------------------------------------------------------------------ reads and calls

    def starttls_done(self) -> bool:
        """Whether STARTTLS has moved this connection onto TLS.

        Inside ``connection_made``, before calling aiosmtpd's: true when this call is the TLS
        layer's after the handshake, false for a new connection. The same test aiosmtpd's own
        ``connection_made`` makes (1.4.x): ``smtp_STARTTLS`` keeps the plain transport in
        ``_original_transport`` and leaves ``transport`` set.
        """
        return self._original_transport is not None and self.transport is not None

    @property
    def writer(self) -> asyncio.StreamWriter:
        """The session's StreamWriter (aiosmtpd's ``_writer``, set in ``_cb_client_connected``).

        After STARTTLS aiosmtpd points the writer at the TLS transport itself (1.4.x), so what
        is written here is encrypted from then on.
        """
        return self._writer

    @property
    def requires_tls_for_auth(self) -> bool:
        """The ``auth_require_tls`` the server was built with (aiosmtpd's ``_auth_require_tls``)."""
        return self._auth_require_tls

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The AUTH mechanisms on offer, in aiosmtpd's order.

        aiosmtpd (1.2 to 1.4.6) keeps them in ``_auth_methods``, a dict from mechanism name to
        its implementation built from the ``auth_*`` methods, less ``auth_exclude_mechanism``.
        """
        return tuple(self._auth_methods)

    def reset_transaction(self) -> None:
        """Drop the envelope as RSET does (RFC 5321 §4.1.1.5): aiosmtpd's ``_set_rset_state``."""
        self._set_rset_state()

    def cancel_handler(self) -> None:
        """Stop the session's command loop, as aiosmtpd does after QUIT.

        aiosmtpd (1.4.x) runs the loop as the task ``_handler_coroutine``, created in
        ``connection_made``; cancelling it ends the session without closing the transport.
        """
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    async def call_handler_hook(self, command: str, *args: Any) -> Any:
        """Await the handler's ``handle_<command>(server, session, envelope, *args)``.

        ``MISSING`` if the handler has none. aiosmtpd's ``_call_handler_hook`` (1.2 to 1.4.6),
        whose table of hooks takes every ``handle_*`` method, so hooks of ours work too.
        """
        return await self._call_handler_hook(command, *args)

    # ------------------------------------------------------------------ hooks of ours

    def new_session(self) -> Session:
        """The Session of a connection; aiosmtpd makes a new one in every ``connection_made``."""
        return QuietSession(self.loop)

    def new_envelope(self) -> Envelope:
        """The Envelope of a transaction; aiosmtpd makes a new one at each reset."""
        return Envelope()

    def tap_read(self, chunk: bytes) -> bytes:
        """See each chunk the parser is about to read; return what it gets instead (see
        ``TappedReader``)."""
        return chunk

    def on_idle_timeout(self) -> None:
        """The client said nothing for ``timeout`` seconds; the connection closes right after."""

    def idle_timeout_applies(self) -> bool:
        """False to let a quiet client wait on (the idle timer is re-armed instead)."""
        return True

    # ------------------------------------------------------------------ aiosmtpd's names

    # aiosmtpd calls these factories (1.2 to 1.4.6): _create_session in connection_made (also
    # the second one, after STARTTLS), _create_envelope from _set_rset_state and after DATA.
    def _create_session(self) -> Session:
        return self.new_session()

    def _create_envelope(self) -> Envelope:
        return self.new_envelope()

    # aiosmtpd passes this as the StreamReaderProtocol's client_connected_cb (named so since
    # 1.4.4; _client_connected_cb before); it stores the reader and writer as _reader and
    # _writer, and every read of the client goes through _reader from then on.
    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super()._cb_client_connected(reader, writer)
        self._reader = TappedReader(reader, self.tap_read)  # type: ignore[assignment]

    # aiosmtpd's idle timer calls _timeout_cb (1.2 to 1.4.6), which closes the transport and
    # nothing else; the timer is re-armed by every valid command.
    # _reset_timeout(duration=None) (1.2 to 1.4.6) re-arms that timer for ``self._timeout``.
    def _timeout_cb(self) -> None:
        if not self.idle_timeout_applies():
            self._reset_timeout()
            return
        self.on_idle_timeout()
        super()._timeout_cb()


__all__ = ["QuietSession", "SMTPAdapter", "TappedReader"]
