"""`smtp-tutor lab list|start|status|check|hint|reset|stop|review|solution`: hands-on labs.

A lab's world runs in the background (tutor/learn/labs/daemon.py) so the student keeps the
terminal for nc, dig, openssl and swaks; these commands start it, ask it and stop it.
Without an ID, a command means the lab whose world is running (or the one started last).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tutor.errors import UserError

ACTIONS = {
    "list": "List the labs (with your progress).",
    "start": "Start a lab: its world comes up in the background; prints the task and commands.",
    "status": "Show which of your labs' worlds are running.",
    "check": "Check the lab's requirements against the world's real state.",
    "hint": "Reveal the next hint.",
    "reset": "Put the lab back to its start (asks first).",
    "stop": "Stop the lab's world (all your running labs without an ID).",
    "review": "Your own sessions as the server saw them, the first mistake marked.",
    "solution": "The reference solution (after the lab passed, or after giving up).",
}
NEEDS_ID = {"start", "solution"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in ACTIONS.items():
        sub = actions.add_parser(name, help=help_text, description=help_text)
        if name in NEEDS_ID:
            sub.add_argument("id", help="a lab's id (see `smtp-tutor lab list`) or folder")
        elif name not in ("list", "status"):
            sub.add_argument("id", nargs="?", help="a lab's id (default: the running one)")
        if name in ("list", "status", "check"):
            sub.add_argument("--json", action="store_true", help="print one JSON object")
        if name in ("reset", "solution"):
            sub.add_argument("--yes", action="store_true", help="do not ask to confirm")
        if name == "review":
            sub.add_argument(
                "--brief", action="store_true", help="leave out the line-by-line explanations"
            )


def main(args: argparse.Namespace) -> int:
    handler = globals()[f"_{args.action}"]
    return int(handler(args) or 0)


# --------------------------------------------------------------------------- helpers


def _lab(id_or_path: str):
    from tutor.learn.labs.loader import load_lab

    return load_lab(id_or_path)


def _chosen(args: argparse.Namespace):
    """The lab the command is about: the ID given, else the running one, else the last."""
    from tutor.learn.labs.control import running_labs
    from tutor.learn.labs.place import current_lab

    if getattr(args, "id", None):
        return _lab(args.id)
    running = running_labs(_note_cleaned)
    current = current_lab()
    if len(running) == 1:
        return _lab(running[0])
    if current and (not running or current in running):
        return _lab(current)
    if running:
        raise UserError(f"several labs are running ({', '.join(running)}): name one")
    raise UserError(
        "no lab started yet: `smtp-tutor lab list` shows them, `lab start ID` starts one"
    )


def _note_cleaned(lab_id: str, what: str) -> None:
    print(f"(lab {lab_id}: {what})", file=sys.stderr)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"{question} — not on a terminal, so add --yes to confirm")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _print(lines) -> None:
    for line in lines:
        print(line)


def _running_state(lab) -> dict[str, Any] | None:
    from tutor.learn.labs.control import status
    from tutor.learn.labs.place import LabPlace

    found = status(LabPlace.of(lab.id))
    if found.cleaned:
        _note_cleaned(lab.id, found.cleaned)
    return found.state if found.running else None


def _ask(lab, op: str) -> dict[str, Any]:
    """One request to the lab's running world; LabNotRunning when there is none."""
    from tutor.learn.labs.control import LabNotRunning, request

    state = _running_state(lab)
    if state is None:
        raise LabNotRunning(
            f"the world of lab {lab.id!r} is not running: `smtp-tutor lab start {lab.id}`"
        )
    try:
        answer = request(state, op)
    except (OSError, ValueError) as exc:
        raise LabNotRunning(f"the world of lab {lab.id!r} did not answer ({exc})") from None
    if not answer.get("ok"):
        raise UserError(f"the world of lab {lab.id!r} says: {answer.get('error', '?')}")
    return answer


# --------------------------------------------------------------------------- actions


def _list(args: argparse.Namespace) -> int:
    from tutor.learn.labs.control import running_labs
    from tutor.learn.labs.loader import load_labs
    from tutor.learn.progress import ProgressStore

    labs = load_labs()
    running = set(running_labs())
    progress = ProgressStore().load().labs
    rows = []
    for lab in labs:
        record = progress.get(lab.id)
        state = "running" if lab.id in running else ""
        done = "passed" if record and record.passed else ("tried" if record else "")
        rows.append(
            {
                "id": lab.id,
                "title": lab.title,
                "summary": lab.summary,
                "tools": list(lab.tools),
                "requirements": len(lab.requirements),
                "running": lab.id in running,
                "progress": done or "new",
                **({"best": record.best_score} if record and record.best_score is not None else {}),
                "_state": state,
            }
        )
    if args.json:
        print(json.dumps({"labs": [{k: v for k, v in r.items() if k != "_state"} for r in rows]}))
        return 0
    for row in rows:
        flags = ", ".join(f for f in (row["_state"], row["progress"]) if f)
        print(f"{row['id']:<20} {row['title']}  [{flags}]")
        if row["summary"]:
            print(f"{'':<20} {row['summary']}")
    print("\nStart one with `smtp-tutor lab start ID`.")
    return 0


def _start(args: argparse.Namespace) -> int:
    from tutor.learn.labs import control
    from tutor.learn.labs.report import render_start

    lab = _lab(args.id)
    state, reused, cleaned = control.start(lab)
    _print(render_start(lab, state, reused=reused, cleaned=cleaned, work_files=lab.files))
    return 0


def _status(args: argparse.Namespace) -> int:
    from tutor.learn.labs.control import running_labs, status
    from tutor.learn.labs.place import LabPlace

    found = []
    for lab_id in running_labs(_note_cleaned):
        state = status(LabPlace.of(lab_id)).state or {}
        found.append(
            {
                "lab": lab_id,
                "pid": state.get("pid"),
                "since": state.get("started"),
                "mode": state.get("world", {}).get("mode"),
                "hosts": {
                    h["name"]: {"connect": h["connect"], "ports": h["ports"]}
                    for h in state.get("world", {}).get("hosts", [])
                },
            }
        )
    if args.json:
        print(json.dumps({"running": found}))
        return 0
    if not found:
        print("No lab world is running. `smtp-tutor lab start ID` starts one.")
        return 0
    for entry in found:
        since = time.strftime("%H:%M", time.localtime(entry["since"] or 0))
        print(f"{entry['lab']}: running since {since} (process {entry['pid']})")
        for name, host in entry["hosts"].items():
            ports = ", ".join(f"{s} {p}" for s, p in host["ports"].items())
            if ports:
                print(f"    {name:<22} {host['connect']}  {ports}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from tutor.learn.labs.checks import CheckResult
    from tutor.learn.labs.control import LabNotRunning
    from tutor.learn.labs.report import not_running_results, render_check

    lab = _chosen(args)
    checked = True
    try:
        answer = _ask(lab, "check")
        results = [CheckResult.from_json(r) for r in answer["results"]]
    except LabNotRunning as exc:  # always answer: every requirement, unchecked, and why
        results = not_running_results(lab, str(exc))
        checked = False
    passed = sum(r.passed for r in results)
    if checked:
        _record(lab, passed, len(results))
    if args.json:
        print(
            json.dumps(
                {
                    "lab": lab.id,
                    "status": "pass"
                    if passed == len(results)
                    else ("fail" if checked else "not-running"),
                    "passed": passed,
                    "total": len(results),
                    "requirements": [r.to_json() for r in results],
                }
            )
        )
    else:
        _print(render_check(lab, results))
    return 0 if passed == len(results) else 1


def _record(lab, passed: int, total: int) -> None:
    from tutor.learn.labs.place import LabPlace, LearnerState
    from tutor.learn.progress import ProgressError, ProgressStore

    place = LabPlace.of(lab.id)
    learner = LearnerState.load(place)
    now = time.time()
    seconds = min(now - learner.last_activity, 3600.0) if learner.last_activity else 0.0
    learner.last_activity = now
    learner.save(place)
    try:
        with ProgressStore().update() as progress:
            progress.record_lab(
                lab.id,
                passed=passed == total,
                requirements_passed=passed,
                requirements_total=total,
                seconds=max(seconds, 0.0),
            )
    except ProgressError as exc:  # the verdict stands even when progress cannot be saved
        print(f"smtp-tutor: progress not saved: {exc}", file=sys.stderr)


def _hint(args: argparse.Namespace) -> int:
    from tutor.learn.labs.place import LabPlace, LearnerState
    from tutor.learn.progress import ProgressError, ProgressStore

    lab = _chosen(args)
    if not lab.hints:
        print(f"Lab {lab.id} has no hints.")
        return 0
    place = LabPlace.of(lab.id)
    learner = LearnerState.load(place)
    if learner.hints_shown >= len(lab.hints):
        print(f"Hint {len(lab.hints)} of {len(lab.hints)} (the last): {lab.hints[-1]}")
        print("No more hints. `smtp-tutor lab review` shows where your session went wrong.")
        return 0
    learner.hints_shown += 1
    learner.save(place)
    with_more = " (`lab hint` again for the next)" if learner.hints_shown < len(lab.hints) else ""
    print(f"Hint {learner.hints_shown} of {len(lab.hints)}{with_more}:")
    print(f"  {lab.hints[learner.hints_shown - 1]}")
    try:
        with ProgressStore().update() as progress:
            progress.record_lab_hint(lab.id, learner.hints_shown)
    except ProgressError as exc:
        print(f"smtp-tutor: progress not saved: {exc}", file=sys.stderr)
    return 0


def _reset(args: argparse.Namespace) -> int:
    from tutor.learn.labs import control

    lab = _chosen(args)
    question = (
        f"Reset lab {lab.id}? Its world stops and starts empty (mailboxes, queue, your "
        "sessions gone) and your working files go back to how the lab gave them"
    )
    if not _confirm(question, args.yes):
        print("Nothing changed.")
        return 1
    restarted = control.reset(lab)
    again = " and its world started again" if restarted else ""
    print(f"Lab {lab.id} is back at its start{again}. Hints seen and progress are kept.")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from tutor.learn.labs.control import running_labs, stop
    from tutor.learn.labs.place import LabPlace

    ids = [_lab(args.id).id] if args.id else running_labs(_note_cleaned)
    if not ids:
        print("No lab world is running.")
        return 0
    for lab_id in ids:
        ended = stop(LabPlace.of(lab_id))
        print(f"Lab {lab_id}: world stopped." if ended else f"Lab {lab_id}: was not running.")
    return 0


def _review(args: argparse.Namespace) -> int:
    from tutor.learn.labs.review import ReviewedSession, render_review

    lab = _chosen(args)
    answer = _ask(lab, "review")
    sessions = [ReviewedSession.from_json(s) for s in answer["sessions"]]
    print(f"Lab {lab.id}: your sessions as the server saw them")
    print("(-> you to the server, <- its reply; ~> and <~ inside TLS; client bytes escaped)\n")
    _print(render_review(sessions, explain=not args.brief))
    return 0


def _solution(args: argparse.Namespace) -> int:
    from tutor.learn.labs.place import LabPlace, LearnerState
    from tutor.learn.labs.report import render_solution
    from tutor.learn.progress import ProgressStore

    lab = _lab(args.id)
    place = LabPlace.of(lab.id)
    learner = LearnerState.load(place)
    record = ProgressStore().load().labs.get(lab.id)
    if not (record and record.passed) and not learner.gave_up:
        if not _confirm(
            f"Lab {lab.id} has not passed yet. Give up and see the reference solution?", args.yes
        ):
            print("Keep going! `smtp-tutor lab hint` may help.")
            return 1
        learner.gave_up = True
        learner.save(place)
    _print(render_solution(lab, _running_state(lab)))
    return 0
