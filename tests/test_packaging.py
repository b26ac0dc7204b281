"""A non-editable install carries the lessons and labs and works from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (built,) = out.glob("smtp_tutor-*.whl")
    return built


def test_wheel_ships_scenarios_lessons_and_labs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for scenario in ("hello", "mx-fallback", "no-starttls", "unknown-user", "too-big"):
        assert f"tutor/_shipped/lessons/scenarios/{scenario}.toml" in names
    assert any(n.startswith("tutor/_shipped/labs/") for n in names)
    assert "tutor/data/explanations.toml" in names
    assert "tutor/data/postfix_replies.toml" in names  # the world reads it at import
    assert any(n.endswith("entry_points.txt") for n in names)


def test_installed_copy_runs_hello_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    probe = "import tutor, tutor.scenario as s; print(tutor.__file__, s.scenario_dir())"
    where = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(target)), "the installed copy, not the checkout, must run"
    assert "_shipped" in where.stdout
    run = subprocess.run(
        [sys.executable, "-m", "tutor", "run", "hello", "--plain"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "ended as expected" in run.stdout
