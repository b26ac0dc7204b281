"""`smtp-tutor export`: handouts from a recorded run (labelled replay) or a fresh run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tutor.cli import main


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "hello.jsonl"
    assert main(["run", "hello", "--plain", "--record", str(path)]) == 0
    return path


def test_text_export_of_a_recording_is_labelled_as_a_replay(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.txt"
    assert main(["export", str(recorded), "-o", str(out)]) == 0
    text = out.read_text()
    assert "REPLAY of a recorded run" in text
    assert "  ~>      AUTH PLAIN" in text and "\x1b[" not in text


def test_html_export_is_a_highlighted_page(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.html"
    assert main(["export", str(recorded), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text()
    assert page.lstrip().startswith("<!DOCTYPE html") and "<span" in page
    assert "EHLO" in page and "laptop.example.org" in page


def test_svg_export_is_well_formed_and_sized(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.svg"
    assert main(["export", str(recorded), "-o", str(out)]) == 0
    root = ET.fromstring(out.read_bytes())
    assert int(root.get("width")) > 300 and int(root.get("height")) > 1000
    assert "viewBox" in root.attrib


def test_export_runs_a_scenario_when_given_one(tmp_path: Path) -> None:
    out = tmp_path / "fallback.txt"
    assert main(["export", "mx-fallback", "-o", str(out)]) == 0
    assert "REFUSED" in out.read_text() and "REPLAY" not in out.read_text()


def test_unknown_export_format_is_a_clear_error(recorded: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(recorded), "-o", str(tmp_path / "x.pdf")]) == 2
    assert "cannot export to 'pdf'" in capsys.readouterr().err
