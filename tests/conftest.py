"""Shared fixtures: real worlds on loopback, started and stopped per test, through the runner."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tutor.scenario import Scenario
from tutor.trace import Trace


@pytest.fixture
def start_world(tmp_path: Path) -> Callable[..., object]:
    """``async with start_world("hello", what_ifs={...}) as world:`` — a real world on loopback.

    Opened through the runner like every command; it yields the World itself because these
    are the world's own tests (views and lessons get only the run handle: ``start_run``).
    """

    @asynccontextmanager
    async def _start(
        scenario: str | Scenario,
        *,
        what_ifs: frozenset[str] = frozenset(),
        trace: Trace | None = None,
        **kwargs: object,
    ) -> AsyncIterator[object]:
        from tutor.run import open_run
        from tutor.world.world import World

        if kwargs:  # a custom clock or gate: build the world directly, as the runner would
            from tutor.run import resolve_scenario

            world = World(
                resolve_scenario(scenario, what_ifs),
                run_dir=tmp_path / "world",
                trace=trace,
                **kwargs,  # type: ignore[arg-type]
            )
            async with world:
                yield world
            return
        async with open_run(
            scenario, what_ifs=what_ifs, keep=tmp_path / "world", trace=trace
        ) as run:
            yield run.world

    return _start


@pytest.fixture
def start_run(tmp_path: Path) -> Callable[..., object]:
    """``async with start_run("hello") as run:`` — the run handle views and lessons get."""

    @asynccontextmanager
    async def _start(scenario: str | Scenario, **options: object) -> AsyncIterator[object]:
        from tutor.run import open_run

        options.setdefault("keep", tmp_path / "run")
        async with open_run(scenario, **options) as run:  # type: ignore[arg-type]
            yield run

    return _start


@pytest.fixture(autouse=True, scope="session")
def _private_progress_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test (nor a subprocess it starts) ever reads or writes the real user's progress."""
    from tutor.learn.progress import DATA_DIR_ENV

    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("smtp-tutor-data"))
