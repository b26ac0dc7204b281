"""The one TOML reader: typed values from a hand-written file, whose errors name file and line.

Scenarios, lessons and labs are TOML files a teacher writes by hand, so every mistake in one
must come back as one line the teacher can act on: ``FILE:LINE: WHERE: PROBLEM``, where
WHERE is the key path (``host[2].role``) and PROBLEM says what is wrong, with a "did you
mean ...?" for a misspelt key. The command line prints that line and exits 2.

::

    doc = tomlfile.load(path, error=LessonError)        # or parse(text, path, error=...)
    doc.check_keys("", doc.data, ("lesson", "step"))     # unknown key -> did you mean?
    lesson = doc.table("", doc.data, "lesson", required=True)
    title = doc.string("lesson", lesson, "title")        # no default: the key is required
    for index, step in enumerate(doc.tables("", doc.data, "step")):
        where = f"step[{index}]"
        doc.check_keys(where, step, ("text", "wait"))
        wait = doc.duration(where, step, "wait", 0.0)    # 300, "5m", "4h", "5d", "1w"
    raise doc.fail("step[1].text", "must not be empty")  # any check of your own

Every getter takes the key path of the table it reads from (``""`` for the top level), the
table itself, the key and, for an optional key, its default. Errors are raised as the
``error`` type given to :func:`load` or :func:`parse` (a :class:`~tutor.errors.UserError`
subclass, :class:`TomlFileError` by default). Line numbers come from reading the text:
tomllib gives values but not where they were written; :meth:`TomlFile.locate` finds the line
of a key path, skipping comments and multi-line strings, and falls back to the line of the
nearest enclosing table (or no line at all) when the key is not written in the file.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tutor.errors import UserError


class TomlFileError(UserError):
    """A TOML file is missing, unreadable or malformed; str() is the one line to show."""


# A duration as Postfix writes one: a number and an optional unit (seconds by default).
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_EXAMPLES = 'a duration such as 300, "5m" or "5d"'

# The key syntax of TOML 1.0 §Keys: bare, "basic" or 'literal' parts joined by dots.
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_LINE = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*\]")
_KEY_LINE = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
# One step of a key path as errors write it: ``name`` or ``name[index]``.
_WHERE_PART = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")

# A resolved step of a key path: a name, and which element when it is an array of tables.
_Segment = tuple[str, int | None]


def suggestion(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices`` to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load(path: Path, *, error: type[UserError] = TomlFileError) -> TomlFile:
    """Read and parse a TOML file; a missing, unreadable or invalid file raises ``error``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a TOML file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text, so not a TOML file") from None
    return parse(text, path, error=error)


def parse(text: str, path: Path, *, error: type[UserError] = TomlFileError) -> TomlFile:
    """Parse TOML text read from ``path``; invalid TOML raises ``error`` with tomllib's line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (before 3.14) only puts the place in the message: "... (at line N, column M)".
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        at = f"{path}:{match.group(1)}" if match else str(path)
        raise error(f"{at}: not valid TOML: {problem}") from None
    return TomlFile(path, text, data, error=error)


class TomlFile:
    """A parsed TOML file: its ``data``, typed getters, and errors that point at file and line."""

    def __init__(
        self,
        path: Path,
        text: str,
        data: dict[str, Any],
        *,
        error: type[UserError] = TomlFileError,
    ) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.data = data
        self.error = error

    # ------------------------------------------------------------------ errors and lines

    def fail(self, where: str, problem: str) -> UserError:
        """The error to raise for ``problem`` at key path ``where``: ``FILE:LINE: WHERE: ...``."""
        at = self._at(self.locate(where))
        return self.error(f"{at}: {where}: {problem}" if where else f"{at}: {problem}")

    def locate(self, where: str) -> int:
        """The line (1-based) a key path such as ``host[2].role`` is written on, or 0.

        A key that is not written in the file gives the line of the nearest enclosing table
        that is: a missing ``host[2].role`` points at the third ``[[host]]``. ``name`` without
        an index means the first element of an array of tables.
        """
        target = [(name, int(index) if index else None) for name, index in _parse_where(where)]
        if not target:
            return 0
        best_line, best_depth = 0, 0
        for number, path in self._written_paths():
            depth = _matching_depth(path, target)
            if depth == len(target):
                return number
            if depth > best_depth:
                best_line, best_depth = number, depth
        return best_line

    def _at(self, line: int) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def _written_paths(self) -> Iterator[tuple[int, tuple[_Segment, ...]]]:
        """(line, key path) of every table header and every key written in the file, in order."""
        current: tuple[_Segment, ...] = ()
        elements: dict[tuple[_Segment, ...], int] = {}  # array of tables -> elements so far
        latest: dict[tuple[str, ...], int] = {}  # array of tables (by names) -> its last index
        for number, line in _structural_lines(self.lines):
            header = _HEADER_LINE.match(line)
            if header:
                names = _key_names(header.group(2))
                if not names:
                    continue
                resolved = tuple(
                    (n, latest.get(tuple(names[: i + 1]))) for i, n in enumerate(names)
                )
                if header.group(1) == "[[":
                    parent = resolved[:-1]
                    index = elements.get((*parent, (names[-1], None)), 0)
                    elements[(*parent, (names[-1], None))] = index + 1
                    key = tuple(names)
                    for deeper in [k for k in latest if k[: len(key)] == key and k != key]:
                        del latest[deeper]  # a new element: its own arrays start again
                    latest[key] = index
                    resolved = (*parent, (names[-1], index))
                current = resolved
                yield number, current
                continue
            key_line = _KEY_LINE.match(line)
            if key_line:
                names = _key_names(key_line.group(1))
                if names:
                    yield number, (*current, *((n, None) for n in names))

    # ------------------------------------------------------------------ checks

    def check_keys(self, where: str, table: dict[str, Any], allowed: Sequence[str]) -> None:
        """Fail on the first key of ``table`` not in ``allowed``, suggesting the closest."""
        for key in table:
            if key not in allowed:
                known = ", ".join(allowed)
                raise self.fail(
                    _join(where, key),
                    f"unknown key{suggestion(key, allowed)}; known keys: {known}",
                )

    # ------------------------------------------------------------------ typed getters

    def string(
        self, where: str, table: dict[str, Any], key: str, default: str | None = None
    ) -> str:
        """A string; without a default the key is required."""
        if key not in table:
            return self._default(where, key, default)
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(_join(where, key), f"must be a string, not {type(value).__name__}")
        return value

    def integer(
        self,
        where: str,
        table: dict[str, Any],
        key: str,
        default: int | None = None,
        *,
        minimum: int = 0,
    ) -> int:
        """A whole number >= ``minimum`` (true and false are not numbers here)."""
        value = table[key] if key in table else self._default(where, key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(_join(where, key), f"must be a whole number >= {minimum}")
        return value

    def duration(
        self, where: str, table: dict[str, Any], key: str, default: float | None = None
    ) -> float:
        """Seconds, written as a number or like Postfix: "300s", "5m", "4h", "5d", "1w"."""
        value = table[key] if key in table else self._default(where, key, default)
        if isinstance(value, bool):
            raise self.fail(_join(where, key), f"must be {DURATION_EXAMPLES}")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match:
            raise self.fail(_join(where, key), f"must be {DURATION_EXAMPLES}")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]

    def boolean(
        self, where: str, table: dict[str, Any], key: str, default: bool | None = None
    ) -> bool:
        """true or false."""
        value = table[key] if key in table else self._default(where, key, default)
        if not isinstance(value, bool):
            raise self.fail(_join(where, key), "must be true or false")
        return value

    def strings(self, where: str, table: dict[str, Any], key: str) -> tuple[str, ...]:
        """A list of strings, empty when the key is absent; one string counts as a list of one."""
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(_join(where, key), "must be a list of strings")
        return tuple(value)

    def tables(self, where: str, table: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """An array of tables (``[[key]]``), empty when absent; one ``[key]`` counts as one."""
        value = table.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            full = _join(where, key)
            raise self.fail(full, f"must be a table ([[{full}]])")
        return value

    def table(
        self, where: str, table: dict[str, Any], key: str, *, required: bool = False
    ) -> dict[str, Any]:
        """A table (``[key]``); an absent optional one reads as empty."""
        full = _join(where, key)
        if key not in table:
            if required:
                raise self.error(f"{self._at(self.locate(where))}: missing required table [{full}]")
            return {}
        value = table[key]
        if not isinstance(value, dict):
            raise self.fail(full, f"must be a table ([{full}])")
        return value

    def _default(self, where: str, key: str, default: Any) -> Any:
        if default is None:
            raise self.fail(where, f"missing required key {key!r}")
        return default


# --------------------------------------------------------------------------- helpers


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _parse_where(where: str) -> list[tuple[str, str]]:
    return _WHERE_PART.findall(where)


def _key_names(dotted: str) -> list[str]:
    """The parts of a dotted TOML key as written (``a."b.c"`` -> ["a", "b.c"]), [] if odd."""
    try:
        nested: Any = tomllib.loads(f"{dotted} = 0")
    except tomllib.TOMLDecodeError:
        return []
    names = []
    while isinstance(nested, dict) and len(nested) == 1:
        name, nested = next(iter(nested.items()))
        names.append(name)
    return names


def _matching_depth(path: tuple[_Segment, ...], target: list[_Segment]) -> int:
    """How much of ``target`` a written ``path`` stands for: len(target) when it is the key
    itself (or, for a table defined by dotted keys, a key inside it), len(path) when it is a
    table enclosing the target, 0 otherwise."""
    depth = min(len(path), len(target))
    for (name, index), (wanted, wanted_index) in zip(path, target, strict=False):
        if name != wanted:
            return 0
        # No index on either side matches: an unindexed target means the first element, an
        # unindexed path is an inline array (``host = [{...}, {...}]``) holding them all.
        if index is not None and wanted_index is not None and index != wanted_index:
            return 0
        if wanted_index is None and index not in (None, 0):
            return 0
    return depth


def _structural_lines(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(number, text) of each line that starts a table header or a key: not the inside of a
    multi-line string or of a value spread over lines, so that a lesson body quoting
    ``key = value`` or ``[section]`` is not mistaken for TOML structure."""
    inside = ""  # the delimiter of the multi-line string the scan is in: '"""' or "'''"
    depth = 0  # open [ and { of a value that goes on over lines
    for number, line in enumerate(lines, start=1):
        if not inside and depth == 0:
            yield number, line
        i = 0
        while i < len(line):
            if inside:
                if inside == '"""' and line[i] == "\\":
                    i += 2
                elif line.startswith(inside, i):
                    i += 3
                    while i < len(line) and line[i] == inside[0]:
                        i += 1  # up to two quotes may end the string's own text
                    inside = ""
                else:
                    i += 1
                continue
            char = line[i]
            if char == "#":
                break
            if line.startswith('"""', i) or line.startswith("'''", i):
                inside = line[i : i + 3]
                i += 3
                continue
            if char == '"':
                i += 1
                while i < len(line) and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
            elif char == "'":
                end = line.find("'", i + 1)
                i = len(line) if end < 0 else end
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            i += 1
