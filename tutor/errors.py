"""The user-facing error type: a problem the user can fix, which the edge prints as one line.

Anything a user can cause — a bad scenario or lesson file, a missing recorded run, an unknown
option value — is raised inside as a ``UserError`` (or a more specific subclass such as
``ScenarioError``), with a message that already names the file, the line when there is one,
and what is wrong. ``tutor.cli.main`` turns it into ``smtp-tutor: <message>`` on stderr and
exit code 2, never a traceback. This module imports nothing, so every layer may raise it.
"""

from __future__ import annotations


class UserError(Exception):
    """Any problem the user can fix; str() is the one line to show them (cli.py exits 2)."""
