"""Shared fixtures: real worlds on loopback, started and stopped per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tutor.scenario import Scenario, apply_what_ifs, load_scenario


@pytest.fixture
def start_world(tmp_path: Path) -> Callable[..., object]:
    """``async with start_world("hello", what_ifs={...}) as world:`` — a real world on loopback."""
    from tutor.world.world import World

    @asynccontextmanager
    async def _start(
        scenario: str | Scenario, *, what_ifs: frozenset[str] = frozenset(), **kwargs: object
    ) -> AsyncIterator[World]:
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        world = World(apply_what_ifs(loaded, what_ifs), run_dir=tmp_path / "world", **kwargs)
        async with world:
            yield world

    return _start


@pytest.fixture(autouse=True, scope="session")
def _private_progress_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test (nor a subprocess it starts) ever reads or writes the real user's progress."""
    from tutor.learn.progress import DATA_DIR_ENV

    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("smtp-tutor-data"))
