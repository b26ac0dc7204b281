"""Postfix's reply for each reply aiosmtpd composes, from tutor/data/postfix_replies.toml.

The texts are data (one entry per reply, each saying which Postfix code sends it); this module
only reads them once and applies them, adding the RFC 3463 enhanced status code a reply lacks
(RFC 2034: every reply but the greeting, the HELO/EHLO reply and 3xx once ENHANCEDSTATUSCODES
is advertised).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent.parent.parent / "data" / "postfix_replies.toml"

_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


@dataclass(frozen=True)
class ReplyTable:
    """The rewrites of one data file (see its header for what each table means)."""

    exact: dict[str, str]
    by_command: dict[tuple[str, str], str]  # (aiosmtpd's text, verb) -> Postfix's
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    enhanced: dict[int, str]  # reply code -> enhanced code for a reply without one


class ReplyTableError(ValueError):
    """The reply table file is not shaped as its header says."""


def load_reply_table(path: Path = DATA_FILE) -> ReplyTable:
    """Read and check ``path``; errors name the file and the entry."""
    with path.open("rb") as file:
        raw = tomllib.load(file)

    def texts(table: object, where: str) -> dict[str, str]:
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            raise ReplyTableError(f"{path}: [{where}] must map reply texts to reply texts")
        return dict(table)

    unknown = set(raw) - {"exact", "command", "pattern", "enhanced"}
    if unknown:
        raise ReplyTableError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}")
    commands = raw.get("command", {})
    if not isinstance(commands, dict):
        raise ReplyTableError(f"{path}: [command] must hold one table per verb")
    by_command = {
        (reply, verb): postfix
        for verb, table in commands.items()
        for reply, postfix in texts(table, f"command.{verb}").items()
    }
    patterns = []
    for number, entry in enumerate(raw.get("pattern", []), 1):
        if not isinstance(entry, dict) or set(entry) != {"match", "reply"}:
            raise ReplyTableError(f"{path}: [[pattern]] {number} needs exactly match and reply")
        try:
            patterns.append((re.compile(entry["match"]), str(entry["reply"])))
        except re.error as exc:
            raise ReplyTableError(f"{path}: [[pattern]] {number}: bad regex: {exc}") from exc
    enhanced = texts(raw.get("enhanced", {}), "enhanced")
    if not all(code.isdigit() and len(code) == 3 for code in enhanced):
        raise ReplyTableError(f"{path}: [enhanced] keys are three-digit reply codes")
    return ReplyTable(
        exact=texts(raw.get("exact", {}), "exact"),
        by_command=by_command,
        patterns=tuple(patterns),
        enhanced={int(code): value for code, value in enhanced.items()},
    )


TABLE = load_reply_table()


def postfix_reply(reply: str, command: str, host: str, *, greeting: bool = False) -> str:
    """The reply Postfix would send where aiosmtpd wants to send ``reply``.

    ``command`` is the verb being answered (upper case). Replies to HELO/EHLO, the
    greeting and 3xx intermediate replies carry no enhanced code (RFC 2034 §3); every other
    2xx/4xx/5xx reply gets one.
    """
    rewritten = TABLE.by_command.get((reply, command)) or TABLE.exact.get(reply)
    if rewritten is None:
        for pattern, replacement in TABLE.patterns:
            if pattern.match(reply):
                rewritten = replacement
                break
    reply = (rewritten or reply).replace("{host}", host)
    if greeting or command in ("EHLO", "HELO") or _HAS_ENHANCED.match(reply):
        return reply
    code = reply[:3]
    if not code.isdigit() or code[0] not in "245":
        return reply
    enhanced = TABLE.enhanced.get(int(code), f"{code[0]}.0.0")
    separator, text = reply[3:4], reply[4:]
    return f"{code}{separator or ' '}{enhanced}{' ' + text if text else ''}"


__all__ = [
    "DATA_FILE",
    "TABLE",
    "ReplyTable",
    "ReplyTableError",
    "load_reply_table",
    "postfix_reply",
]
