"""The PostgreSQL version store: immutable versions, race-safe writes, retirement."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pao_catalog.store import Outcome, PostgresVersionStore, VersionConflict

pytestmark = pytest.mark.integration

DOC = {"metadata": {"id": "x", "version": "1.0.0"}}


async def test_record_is_once_per_version_and_refuses_changed_content(
    db_pool: asyncpg.Pool, prefix: str
) -> None:
    store = PostgresVersionStore(db_pool)
    item_id = f"{prefix}-db"
    outcome, stored = await store.record(item_id, "1.0.0", "sha256:aa", DOC, "db.yaml")
    assert outcome is Outcome.INSERTED
    assert (stored.item_id, stored.version, stored.content_hash) == (item_id, "1.0.0", "sha256:aa")
    assert stored.document == DOC and stored.source_path == "db.yaml" and not stored.retired

    again, same = await store.record(item_id, "1.0.0", "sha256:aa", DOC, "db.yaml")
    assert again is Outcome.UNCHANGED and same.published_at == stored.published_at

    with pytest.raises(VersionConflict) as refused:
        await store.record(item_id, "1.0.0", "sha256:bb", DOC, "db.yaml")
    assert refused.value.recorded_hash == "sha256:aa" and refused.value.new_hash == "sha256:bb"
    assert "bump metadata.version" in str(refused.value)

    await store.record(item_id, "1.1.0", "sha256:cc", DOC, "db.yaml")
    assert [v.version for v in await store.history(item_id)] == ["1.0.0", "1.1.0"]


async def test_concurrent_writers_settle_in_the_schema(db_pool: asyncpg.Pool, prefix: str) -> None:
    stores = [PostgresVersionStore(db_pool) for _ in range(8)]
    item_id = f"{prefix}-race"
    outcomes = await asyncio.gather(
        *(s.record(item_id, "1.0.0", "sha256:aa", DOC, "race.yaml") for s in stores)
    )
    assert sorted(o.value for o, _ in outcomes) == ["inserted"] + ["unchanged"] * 7

    retired = await asyncio.gather(*(s.retire(item_id) for s in stores))
    assert sorted(len(r) for r in retired) == [0] * 7 + [1], "one writer retires it"

    restored = await asyncio.gather(
        *(s.record(item_id, "1.0.0", "sha256:aa", DOC, "race.yaml") for s in stores)
    )
    assert sorted(o.value for o, _ in restored) == ["restored"] + ["unchanged"] * 7
    assert all(not v.retired for _, v in restored)


async def test_retire_marks_every_live_version(db_pool: asyncpg.Pool, prefix: str) -> None:
    store = PostgresVersionStore(db_pool)
    item_id = f"{prefix}-old"
    for n, version in enumerate(("1.0.0", "1.1.0", "2.0.0")):
        await store.record(item_id, version, f"sha256:{n}", DOC, None)
    retired = await store.retire(item_id)
    assert sorted(v.version for v in retired) == ["1.0.0", "1.1.0", "2.0.0"]
    assert all(v.retired_at is not None for v in retired)
    assert await store.retire(item_id) == []
    assert all(v.retired for v in await store.history(item_id))
