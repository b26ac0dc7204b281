"""Read a lab folder (lab.toml + task.md + files) into a Lab; every mistake names file and line.

The format is documented for teachers in labs/README.md; the loader checks everything it can
without starting a world: known keys (with "did you mean"), kinds, that hosts, users and
services a requirement or step names exist in the lab's scenario, that near-misses name real
requirements, that listed files are there. ``smtp-tutor labs check`` then runs the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tutor import tomlfile
from tutor.errors import UserError
from tutor.learn.labs.model import (
    AnyRequirement,
    CheckKind,
    CommandPattern,
    DnsAnswerRequirement,
    DnsQueryRequirement,
    Lab,
    LogRequirement,
    MailboxRequirement,
    NearMiss,
    QueueRequirement,
    SessionRequirement,
    ShowHosts,
    Step,
    StepKind,
    TlsMode,
)
from tutor.learn.questions import ID_PATTERN
from tutor.scenario import WHAT_IFS, Role, Scenario, ScenarioError, load_scenario

LAB_FILE = "lab.toml"
TASK_FILE = "task.md"
TOOLS = ("nc", "dig", "openssl", "swaks", "telnet")
QUEUE_STATES = ("incoming", "active", "deferred", "hold")
DNS_TYPES = ("A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "PTR")


class LabError(UserError):
    """A lab folder or its lab.toml is wrong; str() is ``FILE:LINE: WHERE: PROBLEM``."""


# --------------------------------------------------------------------------- where labs live


def shipped_labs_root() -> Path:
    """The labs/ folder: inside the installed wheel, or at the top of a source checkout."""
    installed = Path(__file__).resolve().parent.parent.parent / "_shipped" / "labs"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[3] / "labs"


def lab_folders(root: Path | None = None) -> list[Path]:
    """Every folder under ``root`` holding a lab.toml (labs/examples/ holds none: not a lab)."""
    base = root or shipped_labs_root()
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / LAB_FILE).is_file())


def find_lab(id_or_path: str) -> Path:
    """A shipped lab's id, or a path to a lab folder (or to its lab.toml)."""
    candidate = Path(id_or_path).expanduser()
    if "/" in id_or_path or candidate.is_dir() or candidate.name == LAB_FILE:
        folder = candidate.parent if candidate.name == LAB_FILE else candidate
        if not (folder / LAB_FILE).is_file():
            raise LabError(f"{id_or_path}: no {LAB_FILE} there, so not a lab folder")
        return folder
    folders = lab_folders()
    for folder in folders:
        if folder.name == id_or_path:
            return folder
    hint = tomlfile.suggestion(id_or_path, [f.name for f in folders])
    raise LabError(f"no lab {id_or_path!r}{hint}; `smtp-tutor lab list` shows them all")


def load_labs(root: Path | None = None) -> list[Lab]:
    """Every lab under ``root`` (the shipped ones by default), in course order."""
    labs = [load_lab(folder) for folder in lab_folders(root)]
    return sorted(labs, key=lambda lab: (lab.order, lab.id))


def load_lab(id_or_folder: str | Path) -> Lab:
    folder = id_or_folder if isinstance(id_or_folder, Path) else find_lab(id_or_folder)
    return parse_lab(tomlfile.load(folder / LAB_FILE, error=LabError), folder)


# --------------------------------------------------------------------------- one lab.toml

_TOP = ("lab", "start", "requirement", "hint", "solution", "near_miss")
_LAB_KEYS = ("id", "title", "order", "summary", "tools", "rfcs")
_START_KEYS = ("scenario", "what_ifs", "files", "show")
_COMMON_KEYS = ("id", "kind", "text", "fresh")
_KIND_KEYS: dict[CheckKind, tuple[str, ...]] = {
    CheckKind.MAILBOX: (
        "recipient",
        "subject",
        "headers",
        "body_contains",
        "received_by",
        "received_with",
        "folder",
    ),
    CheckKind.SESSION: ("host", "service", "commands", "tls"),
    CheckKind.DNS_ANSWER: ("name", "type", "contains", "absent", "rcode"),
    CheckKind.DNS_QUERY: ("name", "type"),
    CheckKind.LOG: ("host", "fields"),
    CheckKind.QUEUE: ("empty", "recipient", "state"),
}
_STEP_KEYS: dict[StepKind, tuple[str, ...]] = {
    StepKind.SMTP: ("kind", "say", "host", "service", "tls", "crlf", "lines", "timeout"),
    StepKind.DIG: ("kind", "say", "name", "type"),
}


class _Reader:
    """Reads one lab.toml against the scenario it names."""

    def __init__(self, doc: tomlfile.TomlFile, folder: Path) -> None:
        self.doc = doc
        self.folder = folder
        self.scenario: Scenario | None = None

    # ------------------------------------------------------------------ small helpers

    def ident(self, where: str, table: dict[str, Any], key: str = "id") -> str:
        value = self.doc.string(where, table, key)
        if not ID_PATTERN.fullmatch(value):
            raise self.doc.fail(
                f"{where}.{key}" if where else key,
                f"{value!r} is not a stable id (letters, digits, '.', '_', '-'; no spaces)",
            )
        return value

    def choice(self, where: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
        if value not in choices:
            hint = tomlfile.suggestion(value, list(choices))
            raise self.doc.fail(where, f"{value!r} is not one of {', '.join(choices)}{hint}")
        return value

    def text_pairs(
        self, where: str, table: dict[str, Any], key: str
    ) -> tuple[tuple[str, str], ...]:
        value = table.get(key, {})
        full = f"{where}.{key}"
        if not isinstance(value, dict):
            raise self.doc.fail(full, 'must be a table such as { From = "alice@" }')
        pairs = []
        for name, text in value.items():
            if isinstance(text, bool) or not isinstance(text, str | int | float):
                raise self.doc.fail(f"{full}.{name}", "must be a string or a number")
            pairs.append((str(name), str(text)))
        return tuple(pairs)

    def host(self, where: str, name: str) -> str:
        assert self.scenario is not None
        names = [h.name for h in self.scenario.hosts]
        self.choice(where, name, names)
        return name

    def recipient(self, where: str, address: str) -> str:
        assert self.scenario is not None
        users = [u.address for u in self.scenario.users]
        return self.choice(where, address, users)

    # ------------------------------------------------------------------ sections

    def start(self) -> tuple[str, tuple[str, ...], tuple[str, ...], ShowHosts]:
        doc = self.doc
        start = doc.table("", doc.data, "start", required=True)
        doc.check_keys("start", start, _START_KEYS)
        name = doc.string("start", start, "scenario")
        local = self.folder / name
        scenario_ref = str(local) if local.is_file() else name
        try:
            scenario = load_scenario(scenario_ref)
        except ScenarioError as exc:
            if local.is_file():  # the lab's own scenario file: its error names it already
                raise LabError(str(exc)) from None
            raise doc.fail("start.scenario", str(exc)) from None
        what_ifs = doc.strings("start", start, "what_ifs")
        known = [w.key for w in WHAT_IFS]
        for index, key in enumerate(what_ifs):
            self.choice(f"start.what_ifs[{index}]", key, known)
        from tutor.scenario import apply_what_ifs

        self.scenario = apply_what_ifs(scenario, frozenset(what_ifs))
        files = doc.strings("start", start, "files")
        for index, file in enumerate(files):
            path = self.folder / file
            if Path(file).is_absolute() or ".." in Path(file).parts:
                raise doc.fail(f"start.files[{index}]", f"{file!r} must be a path inside the lab")
            if not path.is_file():
                raise doc.fail(f"start.files[{index}]", f"no file {file!r} in {self.folder}")
        show = doc.string("start", start, "show", ShowHosts.HOSTS.value)
        self.choice("start.show", show, [s.value for s in ShowHosts])
        return scenario_ref, what_ifs, files, ShowHosts(show)

    def requirement(self, index: int, table: dict[str, Any]) -> AnyRequirement:
        doc = self.doc
        where = f"requirement[{index}]"
        kind_text = doc.string(where, table, "kind")
        kind = CheckKind(self.choice(f"{where}.kind", kind_text, [k.value for k in CheckKind]))
        doc.check_keys(where, table, (*_COMMON_KEYS, *_KIND_KEYS[kind]))
        common = {
            "id": self.ident(where, table),
            "text": doc.string(where, table, "text"),
            "fresh": doc.string(where, table, "fresh"),
        }
        if kind is CheckKind.MAILBOX:
            received_by = doc.string(where, table, "received_by", "")
            if received_by:
                self.host(f"{where}.received_by", received_by)
            folder = doc.string(where, table, "folder", "INBOX")
            self.choice(f"{where}.folder", folder, ("INBOX", "Junk", "any"))
            return MailboxRequirement(
                **common,
                recipient=self.recipient(
                    f"{where}.recipient", doc.string(where, table, "recipient")
                ),
                subject=doc.string(where, table, "subject", ""),
                headers=self.text_pairs(where, table, "headers"),
                body_contains=doc.string(where, table, "body_contains", ""),
                received_by=received_by,
                received_with=doc.string(where, table, "received_with", ""),
                folder=folder,
            )
        if kind is CheckKind.SESSION:
            host = self.host(f"{where}.host", doc.string(where, table, "host"))
            service = doc.string(where, table, "service", "")
            if service:
                self.service(f"{where}.service", host, service)
            patterns = []
            texts = doc.strings(where, table, "commands")
            if not texts:
                raise doc.fail(f"{where}.commands", "must list at least one command")
            for n, text in enumerate(texts):
                pattern = CommandPattern.parse(text)
                if pattern is None:
                    raise doc.fail(
                        f"{where}.commands[{n}]",
                        f'{text!r} is not a command pattern such as "MAIL", "RCPT 250", '
                        '"AUTH 5xx" or ". 250"',
                    )
                patterns.append(pattern)
            tls = doc.boolean(where, table, "tls") if "tls" in table else None
            return SessionRequirement(
                **common, host=host, service=service, commands=tuple(patterns), tls=tls
            )
        if kind in (CheckKind.DNS_ANSWER, CheckKind.DNS_QUERY):
            name = doc.string(where, table, "name").rstrip(".").lower()
            rdtype = doc.string(where, table, "type").upper()
            self.choice(f"{where}.type", rdtype, DNS_TYPES)
            if kind is CheckKind.DNS_QUERY:
                return DnsQueryRequirement(**common, name=name, rdtype=rdtype)
            return DnsAnswerRequirement(
                **common,
                name=name,
                rdtype=rdtype,
                contains=doc.strings(where, table, "contains"),
                absent=doc.strings(where, table, "absent"),
                rcode=doc.string(where, table, "rcode", "NOERROR").upper(),
            )
        if kind is CheckKind.LOG:
            host = doc.string(where, table, "host", "")
            if host:
                self.host(f"{where}.host", host)
            fields = self.text_pairs(where, table, "fields")
            if not fields:
                raise doc.fail(f"{where}.fields", 'must name at least one field: { kind = "..." }')
            return LogRequirement(**common, fields=fields, host=host)
        empty = doc.boolean(where, table, "empty") if "empty" in table else None
        recipient = doc.string(where, table, "recipient", "")
        state = doc.string(where, table, "state", "")
        if state:
            self.choice(f"{where}.state", state, QUEUE_STATES)
        if empty is None and not (recipient and state):
            raise doc.fail(
                where, "a queue requirement needs empty = true/false, or recipient+state"
            )
        return QueueRequirement(**common, empty=empty, recipient=recipient, state=state)

    def service(self, where: str, host: str, service: str) -> None:
        assert self.scenario is not None
        spec = next(h for h in self.scenario.hosts if h.name == host)
        offered = ["smtp"]
        if spec.role is Role.OUTBOUND:
            offered += ["submission", "submissions"]
        self.choice(where, service, offered)

    def step(self, where: str, table: dict[str, Any]) -> Step:
        doc = self.doc
        kind_text = doc.string(where, table, "kind")
        kind = StepKind(self.choice(f"{where}.kind", kind_text, [k.value for k in StepKind]))
        doc.check_keys(where, table, _STEP_KEYS[kind])
        say = doc.string(where, table, "say", "")
        if kind is StepKind.DIG:
            rdtype = doc.string(where, table, "type").upper()
            self.choice(f"{where}.type", rdtype, DNS_TYPES)
            return Step(kind, say=say, name=doc.string(where, table, "name"), rdtype=rdtype)
        host = self.host(f"{where}.host", doc.string(where, table, "host"))
        service = doc.string(where, table, "service", "smtp")
        self.service(f"{where}.service", host, service)
        tls = doc.string(where, table, "tls", TlsMode.NONE.value)
        self.choice(f"{where}.tls", tls, [t.value for t in TlsMode])
        lines = doc.strings(where, table, "lines")
        if not lines:
            raise doc.fail(f"{where}.lines", "must list the lines typed")
        timeout = table.get("timeout", 3.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise doc.fail(f"{where}.timeout", "must be a number of seconds > 0")
        return Step(
            kind,
            say=say,
            host=host,
            service=service,
            tls=TlsMode(tls),
            crlf=doc.boolean(where, table, "crlf", True),
            lines=lines,
            timeout=float(timeout),
        )

    def steps(self, where: str, table: dict[str, Any]) -> tuple[Step, ...]:
        tables = self.doc.tables(where, table, "step")
        if not tables:
            raise self.doc.fail(where, f"needs at least one [[{where}.step]]")
        return tuple(self.step(f"{where}.step[{i}]", t) for i, t in enumerate(tables))


def parse_lab(doc: tomlfile.TomlFile, folder: Path) -> Lab:
    reader = _Reader(doc, folder)
    doc.check_keys("", doc.data, _TOP)
    meta = doc.table("", doc.data, "lab", required=True)
    doc.check_keys("lab", meta, _LAB_KEYS)
    lab_id = reader.ident("lab", meta)
    if lab_id != folder.name:
        raise doc.fail("lab.id", f"{lab_id!r} must be the folder's name, {folder.name!r}")
    tools = doc.strings("lab", meta, "tools")
    for index, tool in enumerate(tools):
        reader.choice(f"lab.tools[{index}]", tool, TOOLS)
    scenario, what_ifs, files, show = reader.start()

    requirement_tables = doc.tables("", doc.data, "requirement")
    if not requirement_tables:
        raise doc.fail("", "a lab needs at least one [[requirement]]")
    requirements = tuple(reader.requirement(i, t) for i, t in enumerate(requirement_tables))
    seen: set[str] = set()
    for index, requirement in enumerate(requirements):
        if requirement.id in seen:
            raise doc.fail(f"requirement[{index}].id", f"{requirement.id!r} is used twice")
        seen.add(requirement.id)

    hints = []
    for index, hint in enumerate(doc.tables("", doc.data, "hint")):
        doc.check_keys(f"hint[{index}]", hint, ("text",))
        hints.append(doc.string(f"hint[{index}]", hint, "text").strip())

    solution = doc.table("", doc.data, "solution", required=True)
    doc.check_keys("solution", solution, ("text", "step"))
    solution_steps = reader.steps("solution", solution)

    near_misses = []
    for index, table in enumerate(doc.tables("", doc.data, "near_miss")):
        where = f"near_miss[{index}]"
        doc.check_keys(where, table, ("name", "fails", "message", "step"))
        fails = doc.strings(where, table, "fails")
        if not fails:
            raise doc.fail(f"{where}.fails", "must name the requirement ids it fails")
        for n, requirement_id in enumerate(fails):
            reader.choice(f"{where}.fails[{n}]", requirement_id, sorted(seen))
        near_misses.append(
            NearMiss(
                name=doc.string(where, table, "name"),
                fails=fails,
                message=doc.string(where, table, "message", ""),
                steps=reader.steps(where, table),
            )
        )

    task_path = folder / TASK_FILE
    try:
        task = task_path.read_text(encoding="utf-8")
    except OSError:
        raise LabError(f"{task_path}: missing: every lab needs a task.md") from None
    return Lab(
        id=lab_id,
        title=doc.string("lab", meta, "title"),
        order=doc.integer("lab", meta, "order", 100),
        summary=doc.string("lab", meta, "summary", ""),
        folder=folder,
        lab_file=doc.path,
        task=task,
        scenario=scenario,
        what_ifs=what_ifs,
        files=files,
        show=show,
        tools=tools,
        requirements=requirements,
        hints=tuple(hints),
        solution_text=doc.string("solution", solution, "text", "").strip(),
        solution=solution_steps,
        near_misses=tuple(near_misses),
        rfcs=doc.strings("lab", meta, "rfcs"),
    )
