"""Reading the trace's small records (world hosts, DSN field links) whatever shape they take.

Version 1 traces carry them as JSON objects (dicts); the trace contract turns them into small
dataclasses. Story reads both, so a recorded file and a live run fold the same way.
"""

from __future__ import annotations

from typing import Any


def value_of(record: Any, name: str, default: Any = "") -> Any:
    """The ``name`` of a record given as a dict or as an object with that attribute."""
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)
