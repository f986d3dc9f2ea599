"""Fixtures of the end-to-end tests: the whole platform as real processes, per test.

``e2e_platform`` starts catalog, orchestrator, gateway, every executor and the sandbox on
this test's broker topics and database (``settings``); ``make_e2e_platform(...)`` does the
same with extra settings. Every platform made here is stopped when the test ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from pao_common.settings import Settings

from tests.e2e.platform import E2EPlatform

MakePlatform = Callable[..., Coroutine[Any, Any, E2EPlatform]]


@pytest.fixture
async def make_e2e_platform(settings: Settings, tmp_path: Path) -> AsyncIterator[MakePlatform]:
    made: list[E2EPlatform] = []

    async def make(**kwargs: Any) -> E2EPlatform:
        platform = E2EPlatform(settings=settings, log_dir=tmp_path, **kwargs)
        made.append(platform)
        return await asyncio.to_thread(platform.start)

    try:
        yield make
    finally:
        for platform in made:
            await asyncio.to_thread(platform.stop)


@pytest.fixture
async def e2e_platform(make_e2e_platform: MakePlatform) -> E2EPlatform:
    return await make_e2e_platform()
