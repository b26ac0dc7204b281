"""Reading a Postfix log line's fields back out of its text, the way log analysers do.

The world never needs this: its records say their fields (records.py). It is here to read mail
logs the world did not write (a learner's own Postfix, a lab's sample log), and so a test can
prove that what the world files as fields is what pflogsumm would read from the same line.
"""

from __future__ import annotations

import re
from typing import Any

_QID = re.compile(r"^(?P<qid>[0-9A-Za-z]+|NOQUEUE): ")
_FIELD = re.compile(r"(?P<key>[a-z_]+)=(?P<value><[^>]*>|[^,\s]+)")
_CODE = re.compile(r"(?:^|said: |\(|: )(?P<code>[245]\d\d)[ -]")


def parse_fields(text: str) -> dict[str, Any]:
    """The fields of a Postfix log message, the way log analysers (pflogsumm) read them.

    Always has ``kind``: delivery, queued, expired, removed, reject, connect, disconnect,
    client, message-id, notification, greylist or other. Addresses lose their angle brackets,
    ``delay`` becomes a float, ``reply_code`` is the SMTP code in the reason, if any.
    """
    fields: dict[str, Any] = {}
    rest = text
    match = _QID.match(text)
    if match and not text.startswith(("connect from", "disconnect from")):
        fields["queue_id"] = match.group("qid")
        rest = text[match.end() :]
    if rest.startswith("connect from "):
        fields["kind"] = "connect"
        fields["client"] = rest.removeprefix("connect from ")
        return fields
    if rest.startswith("disconnect from "):
        fields["kind"] = "disconnect"
        client, _, counts = rest.removeprefix("disconnect from ").partition(" ")
        fields["client"] = client
        fields.update({m.group("key"): m.group("value") for m in _FIELD.finditer(counts)})
        return fields
    if rest.startswith("reject: "):
        fields["kind"] = "reject"
        head, _, tail = rest.partition("; from=")
        command, _, reply = head.removeprefix("reject: ").partition(": ")
        fields["command"] = command.split(" from ", 1)[0]
        fields["client"] = command.split(" from ", 1)[-1]
        fields["reply"] = reply
        code = _CODE.search(reply)
        if code:
            fields["reply_code"] = int(code.group("code"))
        for m in _FIELD.finditer("from=" + tail):
            fields[m.group("key")] = m.group("value").strip("<>")
        return fields
    status_reason = ""
    if ", status=" in rest or rest.startswith("status="):
        before, _, after = rest.partition("status=")
        status, _, reason = after.partition(" ")
        fields["status"] = status.rstrip(",")
        status_reason = reason.strip()
        if status_reason.startswith("(") and status_reason.endswith(")"):
            status_reason = status_reason[1:-1]
        rest = before
    for m in _FIELD.finditer(rest):
        key, value = m.group("key"), m.group("value")
        fields[key] = value[1:-1] if value.startswith("<") else value
    if status_reason:
        fields["reason"] = status_reason
        code = _CODE.search(status_reason)
        if code:
            fields["reply_code"] = int(code.group("code"))
    for key in ("delay", "size", "nrcpt"):
        if key in fields:
            try:
                fields[key] = float(fields[key]) if key == "delay" else int(fields[key])
            except ValueError:
                del fields[key]
    fields["kind"] = _kind(rest, fields)
    return fields


def _kind(rest: str, fields: dict[str, Any]) -> str:
    if "to" in fields and "status" in fields:
        return "delivery"
    if fields.get("status") == "expired":
        return "expired"
    if "nrcpt" in fields:
        return "queued"
    if rest.strip() == "removed":
        return "removed"
    if "notification:" in rest:
        return "notification"
    if "client" in fields:
        return "client"
    if "message-id" in rest:
        return "message-id"
    if fields.get("action") in ("greylist", "pass"):
        return "greylist"
    return "other"
