"""Reload the catalog when its directory changes (``watchfiles``, a background task)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from pao_catalog.ingest import CatalogIngestion

log = logging.getLogger(__name__)


async def watch_catalog(
    ingestion: CatalogIngestion, *, step_ms: int = 50, retry_s: float = 1.0
) -> None:
    """Apply every batch of changes under ``ingestion.root`` until cancelled.

    A failed reload (the database away, say) is retried as a full rescan, so no
    change is lost while the watcher waits.
    """
    async for changes in awatch(ingestion.root, step=step_ms, recursive=True):
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
