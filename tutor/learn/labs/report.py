"""What the lab commands print: the start banner, check verdicts, hints and the solution.

Plain text, no Textual. Anything that came from a client or a file the student wrote passes
through ``visible`` first, so no control byte ever reaches the terminal raw.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator, Sequence
from typing import Any

from tutor.learn.labs.checks import CheckResult
from tutor.learn.labs.model import Lab, ShowHosts, Step
from tutor.learn.labs.reach import info_from_json
from tutor.learn.labs.review import visible
from tutor.learn.labs.steps import step_commands

INSTALL = {
    "nc": "Debian/Ubuntu: sudo apt install netcat-openbsd · macOS: built in (type nc -c for "
    "nc -C) · Windows: inside WSL as on Ubuntu",
    "dig": "Debian/Ubuntu: sudo apt install bind9-dnsutils · macOS: brew install bind · "
    "Windows: inside WSL as on Ubuntu",
    "openssl": "Debian/Ubuntu: sudo apt install openssl · macOS: brew install openssl · "
    "Windows: inside WSL as on Ubuntu",
    "swaks": "Debian/Ubuntu: sudo apt install swaks libnet-ssleay-perl · macOS: brew install "
    "swaks · Windows: inside WSL as on Ubuntu",
    "telnet": "Debian/Ubuntu: sudo apt install telnet · macOS: brew install telnet",
}


def missing_tools(lab: Lab) -> list[str]:
    return [tool for tool in lab.tools if shutil.which(tool) is None]


def render_start(
    lab: Lab, state: dict[str, Any], *, reused: bool, cleaned: str, work_files: Sequence[str]
) -> Iterator[str]:
    q = shlex.quote
    world = state["world"]
    info = info_from_json(world)
    if cleaned:
        yield f"(The last world of this lab: {cleaned}.)"
    how = "is still running (reused)" if reused else "is up in the background"
    yield f"Lab {lab.id}: {lab.title} — its world {how}; this terminal is yours."
    yield ""
    yield lab.task.rstrip()
    yield ""
    yield "── The world ──"
    dns = world["dns"]
    yield f"DNS server  {dns['name']}: {dns['connect']} port {dns['port']} (udp+tcp)"
    smtp_hosts = [h for h in world["hosts"] if h["ports"]]
    if lab.show is ShowHosts.ADDRESSES:
        yield "SMTP servers, by the address the DNS gives for them (finding names is the task):"
        for host in smtp_hosts:
            ports = ", ".join(f"{service} port {port}" for service, port in host["ports"].items())
            via = "" if host["connect"] == host["address"] else f" → connect to {host['connect']}"
            yield f"  {host['address']}{via}: {ports}"
    else:
        for host in world["hosts"]:
            ports = ", ".join(f"{s} {p}" for s, p in host["ports"].items()) or "no ports"
            state_note = f"  [{host['state']}]" if host.get("state") else ""
            yield (
                f"{host['role']:<10}  {host['name']:<20} {host['connect']:<12} {ports}{state_note}"
            )
    if world.get("mode") == "shared-loopback":
        yield (
            "Note: this machine gives every host 127.0.0.1 (shared loopback): the DNS still "
            "names each host's own 127.0.0.x, but connect to 127.0.0.1 with that host's port."
        )
    yield f"CA file     {info.ca_path}"
    yield "Users       " + ", ".join(
        u["address"] + (f" (password {u['password']})" if u.get("password") else "")
        for u in world["users"]
    )
    if work_files:
        yield f"Your files  {state['work_dir']}/  (yours to edit)"
        for name in work_files:
            yield f"              {name}"
    yield ""
    yield "── Ready to paste ──"
    ca = q(str(info.ca_path))
    dns_at = f"@{dns['connect']} -p {dns['port']}"
    if lab.show is ShowHosts.ADDRESSES:
        yield f"  dig {dns_at} NAME TYPE              # e.g. TYPE = MX, A"
        yield "  nc -C ADDRESS PORT                   # an address and port from the list above"
        yield (
            "  openssl s_client -starttls smtp -connect ADDRESS:PORT -servername NAME "
            f"-CAfile {ca} -crlf -quiet"
        )
    else:
        receivers = [h for h in world["hosts"] if h["role"] in ("mx", "gateway")]
        for host in receivers:
            domain = host["name"].split(".", 1)[1]
            yield f"  dig {dns_at} {domain} MX"
            break
        for host in receivers:
            port = host["ports"].get("smtp")
            if not port:
                continue
            domain = host["name"].split(".", 1)[1]
            local = [u["address"] for u in world["users"] if u["address"].endswith("@" + domain)]
            rcpt = local[0] if local else f"postmaster@{domain}"
            yield f"  nc -C {host['connect']} {port}                # {host['name']}"
            yield (
                f"  openssl s_client -starttls smtp -connect {host['connect']}:{port} "
                f"-servername {host['name']} -CAfile {ca} -crlf -quiet"
            )
            yield (
                f"  swaks --server {host['connect']} --port {port} --to {rcpt} "
                f"--from student@example.com -tls --tls-ca-path {ca}"
            )
        for host in world["hosts"]:
            if "submission" not in host["ports"]:
                continue
            user = next((u for u in world["users"] if u.get("password")), None)
            port = host["ports"]["submission"]
            yield f"  nc -C {host['connect']} {port}                # {host['name']} submission"
            yield (
                f"  openssl s_client -starttls smtp -connect {host['connect']}:{port} "
                f"-servername {host['name']} -CAfile {ca} -crlf -quiet"
            )
            if user is not None:
                yield (
                    f"  swaks --server {host['connect']} --port {port} -tls --auth PLAIN "
                    f"--auth-user {user['address']} --auth-password {q(user['password'])} "
                    f"--tls-ca-path {ca} --from {user['address']} --to {user['address']}"
                )
    missing = missing_tools(lab)
    if missing:
        yield ""
        yield "This lab uses tools not found on this machine:"
        for tool in missing:
            yield f"  {tool}: {INSTALL.get(tool, 'install it with your package manager')}"
    yield ""
    yield (
        "When done: smtp-tutor lab check · stuck: smtp-tutor lab hint · your sessions: "
        "smtp-tutor lab review · end: smtp-tutor lab stop"
    )


def render_check(lab: Lab, results: Sequence[CheckResult]) -> Iterator[str]:
    passed = sum(r.passed for r in results)
    yield f"Lab {lab.id}: {lab.title}"
    for result in results:
        mark = "✓" if result.passed else "✗"
        yield f"{mark} {visible(result.text)}"
        yield f"    {visible(result.message)}"
        if result.looked_at:
            yield f"    looked at: {visible(result.looked_at)}"
    yield ""
    if passed == len(results):
        yield f"All {len(results)} requirements pass. Well done!"
        yield f"`smtp-tutor lab solution {lab.id}` now shows the reference solution to compare."
    else:
        yield (
            f"{passed} of {len(results)} requirements pass. `smtp-tutor lab review` shows your "
            "sessions as the server saw them; `smtp-tutor lab hint` gives a hint."
        )


def not_running_results(lab: Lab, why: str) -> list[CheckResult]:
    """The answer `lab check` gives when there is no world to look at."""
    return [
        CheckResult(r.id, r.text, False, why, "the lab's world (not running)")
        for r in lab.requirements
    ]


def render_solution(lab: Lab, state: dict[str, Any] | None) -> Iterator[str]:
    yield f"Reference solution of lab {lab.id}: {lab.title}"
    if lab.solution_text:
        yield ""
        yield lab.solution_text
    info = info_from_json(state["world"]) if state else None
    for number, step in enumerate(lab.solution, 1):
        yield ""
        yield f"{number}. {step.say}" if step.say else f"{number}."
        yield from (f"   {line}" for line in _commands(step, info))
    if info is None:
        yield ""
        yield "(Start the lab to see these with its real addresses and ports.)"


def _commands(step: Step, info: Any) -> list[str]:
    if info is not None:
        return step_commands(step, info)
    from tutor.learn.labs.steps import placeholder_commands

    return placeholder_commands(step)
