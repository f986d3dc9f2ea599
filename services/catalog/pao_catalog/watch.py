"""Reload the catalog when its directory changes (``watchfiles``, a background task)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from pao_catalog.ingest import CatalogIngestion

log = logging.getLogger(__name__)


async def watch_catalog(
    ingestion: CatalogIngestion,
    *,
    watching: asyncio.Event | None = None,
    step_ms: int = 50,
    tick_ms: int = 250,
    retry_s: float = 1.0,
) -> None:
    """Apply every batch of changes under ``ingestion.root`` until cancelled.

    ``watching`` is set once the watch is in place (the first tick), so the caller can
    load the directory after it and miss no change made meanwhile. A failed reload (the
    database away, say) is retried as a full rescan, so no change is lost.
    """
    async for changes in awatch(
        ingestion.root, step=step_ms, rust_timeout=tick_ms, yield_on_timeout=True, recursive=True
    ):
        if watching is not None:
            watching.set()
        if not changes:
            continue
        paths = [Path(p) for _, p in changes]
        log.info("catalog directory changed: %s", sorted(str(p) for p in paths))
        delay = retry_s
        target: list[Path] | None = paths
        while True:
            try:
                await ingestion.reload(target)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("catalog reload failed (%r); rescanning in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                target = None
