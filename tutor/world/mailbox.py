"""Users' mailboxes: one real Maildir per address (plus a Maildir++ .Junk folder for quarantine).

Real Maildirs, written with the stdlib ``mailbox`` module, so learners can open them with any
mail reader (mutt -f, neomutt, a Maildir-aware IMAP server) and labs can check real files.
Layout, with ``root`` usually ``<run_dir>/mailboxes``::

    root/bob@example.net/{cur,new,tmp}          INBOX
    root/bob@example.net/.Junk/{cur,new,tmp}    Junk (Maildir++ subfolder)
"""

from __future__ import annotations

import email.policy
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

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
        self.root.mkdir(parents=True, exist_ok=True)  # Maildir() creates one level only
        top = mailbox.Maildir(self.path(address), factory=None, create=True)
        if JUNK not in top.list_folders():
            top.add_folder(JUNK)
        return top if folder == INBOX else top.get_folder(folder)

    def deliver(self, address: str, message_bytes: bytes, folder: str = INBOX) -> Path:
        """Write one message into ``folder`` (new/), as a local delivery agent does.

        SMTP carries CRLF line ends; Unix mailbox files use LF (Postfix's delivery agents
        convert too), so mail readers and ``grep`` see ordinary lines.
        """
        box = self.maildir(address, folder)
        key = box.add(message_bytes.replace(b"\r\n", b"\n"))
        path = self.path(address, folder) / "new" / key
        if not path.exists():  # a factory or info suffix would change the name; look it up
            path = next((self.path(address, folder) / "new").glob(f"{key}*"))
        return path

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
