"""Fixtures of the lifecycle tests: the platform as real processes.

``make_platform(...)`` builds a ``Platform`` (catalog, orchestrator(s), debug executor,
optionally the gateway) on this test's topics; ``start_platform`` starts it off the
event loop. Every platform made here is stopped when the test ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pao_common.settings import Settings

from tests.support.platform import Platform

MakePlatform = Callable[..., Platform]  # the ``make_platform`` fixture


@pytest.fixture
def make_platform(settings: Settings, tmp_path: Path) -> Iterator[MakePlatform]:
    made: list[Platform] = []

    def make(**kwargs: Any) -> Platform:
        platform = Platform(settings=kwargs.pop("settings", settings), log_dir=tmp_path, **kwargs)
        made.append(platform)
        return platform

    try:
        yield make
    finally:
        for platform in made:
            platform.stop()


async def start_platform(platform: Platform, orchestrators: int = 1) -> Platform:
    return await asyncio.to_thread(platform.start, orchestrators)
