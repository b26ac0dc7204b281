"""Users' mailboxes: one real Maildir per address (plus a Maildir++ .Junk folder for quarantine).

Real Maildirs, written with the stdlib ``mailbox`` module, so learners can open them with any
mail reader (mutt -f, neomutt, a Maildir-aware IMAP server) and labs can check real files.
Layout, with ``root`` usually ``<run_dir>/mailboxes``::

    root/bob@example.net/{cur,new,tmp}          INBOX
    root/bob@example.net/.Junk/{cur,new,tmp}    Junk (Maildir++ subfolder)
"""

from __future__ import annotations

import email.policy
import itertools
import mailbox
import os
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from tutor.files import private_dir

INBOX = "INBOX"
JUNK = "Junk"
FOLDERS = (INBOX, JUNK)


class MailboxError(ValueError):
    """An address that cannot name a mailbox directory, or an unknown folder."""


@dataclass(frozen=True)
class StoredMessage:
    """One message file in a Maildir, as bytes and parsed."""

    path: Path
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


class Mailboxes:
    """Every user's Maildir under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ready: set[tuple[str, str]] = set()  # (address, folder) whose Maildir exists

    def path(self, address: str, folder: str = INBOX) -> Path:
        """The Maildir directory of ``address`` (and ``folder``); nothing is created."""
        base = self.root / _directory_name(address)
        if folder == INBOX:
            return base
        if folder not in FOLDERS:
            raise MailboxError(f"unknown folder {folder!r}; one of {', '.join(FOLDERS)}")
        return base / f".{folder}"

    def maildir(self, address: str, folder: str = INBOX) -> mailbox.Maildir:
        """Open (creating if needed) the Maildir, with its .Junk subfolder always present."""
        private_dir(self.root)  # the stdlib makes a missing parent with the umask's mode
        top = mailbox.Maildir(self.path(address), factory=None, create=True)
        if JUNK not in top.list_folders():
            top.add_folder(JUNK)
        return top if folder == INBOX else top.get_folder(folder)

    def deliver(self, address: str, message_bytes: bytes, folder: str = INBOX) -> Path:
        """Write one message into ``folder`` (new/), as a local delivery agent does.

        SMTP carries CRLF line ends; Unix mailbox files use LF (Postfix's delivery agents
        convert too), so mail readers and ``grep`` see ordinary lines.
        """
        directory = self.path(address, folder)
        content = message_bytes.replace(b"\r\n", b"\n")
        self._make_ready(address, folder)
        try:
            return _write_maildir_file(directory, content)
        except FileNotFoundError:
            # Someone removed the Maildir since (a lesson resetting mailboxes): make it again.
            self.maildir(address, folder)
            return _write_maildir_file(directory, content)

    def _make_ready(self, address: str, folder: str) -> None:
        """Create the Maildir on its first delivery only; later ones go straight to the file."""
        if (address, folder) not in self._ready:
            self.maildir(address, folder)  # the stdlib creates the layout mail readers expect
            self._ready.add((address, folder))

    def messages(self, address: str, folder: str = INBOX) -> list[StoredMessage]:
        """Every message in the folder (new/ and cur/), oldest first."""
        base = self.path(address, folder)
        files = [p for sub in ("new", "cur") for p in (base / sub).glob("*") if p.is_file()]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        parser = BytesParser(policy=email.policy.default)
        stored = []
        for path in files:
            raw = path.read_bytes()
            message = parser.parsebytes(raw)
            assert isinstance(message, EmailMessage)
            stored.append(StoredMessage(path=path, raw=raw, message=message))
        return stored

    def users(self) -> list[str]:
        """Addresses that have a Maildir."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "new").is_dir())


_unique = itertools.count(1)
_HOSTNAME = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


def _write_maildir_file(directory: Path, content: bytes) -> Path:
    """Deliver ``content`` into ``directory`` the Maildir way; the path of the file in new/.

    The protocol of qmail's maildir(5), as the stdlib's ``Maildir.add`` follows it, without
    its extra stat and second open: create a uniquely named file in tmp/ (O_EXCL), write it,
    fsync it, then link it into new/ and unlink the tmp/ name. The fsync is what makes the
    250 honest — the message is on disk before the client hears "queued". The directories
    are not fsynced: neither maildir(5), the stdlib nor Postfix's local delivery does that.
    """
    now = time.time()
    name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_unique)}.{_HOSTNAME}"
    tmp = directory / "tmp" / name
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # as Postfix: private
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    final = directory / "new" / name
    try:
        os.link(tmp, final)  # fails rather than replace a message of the same name
    finally:
        os.unlink(tmp)
    return final


def _directory_name(address: str) -> str:
    """The address as a directory name; anything that could escape the root is refused."""
    name = address.strip().lower()
    if (
        not name
        or "@" not in name
        or name.startswith(".")
        or any(c in name for c in "/\\\x00")
        or name in (".", "..")
    ):
        raise MailboxError(f"{address!r} cannot name a mailbox")
    return name
