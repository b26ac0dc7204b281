"""Layering is a checked contract: the import-linter contracts in pyproject.toml hold.

lint-imports checks what the source says; the runtime tests here check what a real
interpreter loads, which also covers imports made by name (importlib) that no static
reading sees.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_import_linter_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("import-linter is a test dependency: pip install -e '.[test]'")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_plain_run_path_never_imports_textual() -> None:
    code = (
        "import sys, tutor.cli, tutor.commands.run, tutor.world.world, "
        "tutor.render.transcript; "
        "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_subcommands_load_without_the_command_line_edge() -> None:
    code = (
        "import importlib, pkgutil, sys, tutor.commands; "
        "[importlib.import_module(f'tutor.commands.{m.name}') "
        "for m in pkgutil.iter_modules(tutor.commands.__path__)]; "
        "sys.exit(1 if 'tutor.cli' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_learning_core_loads_without_textual_or_the_world() -> None:
    code = (
        "import sys, tutor.learn.questions, tutor.learn.progress; "
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', "
        "'tutor.world', 'tutor.ui'))]; sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_help_and_one_command_load_only_what_they_need() -> None:
    """`smtp-tutor --help` imports no subcommand (nor the trace); `run` imports only run's."""
    code = (
        "import contextlib, io, sys\n"
        "from tutor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(sys.argv[1:])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tutor.commands.'))\n"
        "print(','.join(loaded), 'tutor.trace' in sys.modules)\n"
    )
    helped = subprocess.run(
        [sys.executable, "-c", code, "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert helped.stdout.split() == ["", "False"] or helped.stdout.strip() == "False"
    ran = subprocess.run(
        [sys.executable, "-c", code, "scenarios"], cwd=ROOT, capture_output=True, text=True
    )
    modules = ran.stdout.split()[0].split(",")
    assert "tutor.commands.scenarios" in modules and "tutor.commands.run" not in modules
