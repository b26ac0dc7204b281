"""Postfix-style short queue IDs (e.g. 4F2A81C0B2E) as logs, Received headers and replies show."""

from __future__ import annotations

import secrets

QUEUE_ID_LENGTH = 11


def new_queue_id() -> str:
    """A fresh queue id: uppercase hex like Postfix's short ids (random, so worlds never clash)."""
    return secrets.token_hex(8).upper()[:QUEUE_ID_LENGTH]
