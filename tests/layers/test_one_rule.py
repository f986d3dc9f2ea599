"""One ``RetryPolicy`` and one "latest version" rule, in the catalog language library
``pao_catalog_model``, for every service (issue #15): the catalog, the orchestrator and
the gateway agree on which version of an item is the latest, including the ties the three
used to break differently."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from pao_catalog.index import ItemEntry, ParsedVersion, VersionEntry
from pao_catalog.store import StoredVersion
from pao_catalog_model.model import Step, parse_item
from pao_catalog_model.retry import RetryPolicy
from pao_catalog_model.versions import latest_version, version_key
from pao_gateway.catalog_items import CatalogItemVersions
from pao_orchestrator.adapters.catalog import CatalogServiceItems
from pao_orchestrator.adapters.memory import InMemoryItemCatalog
from pao_orchestrator.domain import policy

from tests.gateway.conftest import item_document
from tests.support.catalog import history_api

# Semantic-version precedence first; equal precedence (build metadata only) goes to the
# higher text; text that is no semantic version sorts below every real one.
ORDERED = ["not-a-version", "0.9.0", "1.0.0-rc.1", "1.0.0", "1.0.0+build.2", "1.10.0"]


def test_versions_sort_by_precedence_then_text() -> None:
    for shuffled in itertools.permutations(ORDERED):
        assert sorted(shuffled, key=version_key) == ORDERED


def test_latest_version_breaks_a_build_metadata_tie_the_same_way_in_any_order() -> None:
    assert latest_version(["1.0.0", "1.0.0+build.2"]) == "1.0.0+build.2"
    assert latest_version(["1.0.0+build.2", "1.0.0"]) == "1.0.0+build.2"
    assert latest_version(["1.0.0+b", "1.0.0+a"]) == "1.0.0+b"
    assert latest_version(["1.9.0", "1.10.0", "1.2.3"]) == "1.10.0"
    assert latest_version(["1.0.0-rc.1", "0.9.0"]) == "1.0.0-rc.1"
    assert latest_version(["zzz", "0.0.1"]) == "0.0.1"  # unparsable sorts below 0.0.1
    assert latest_version(["b", "a"]) == "b"
    assert latest_version([]) is None


LIVE = ["1.0.0", "1.0.0+build.2", "0.9.0", "1.0.0-rc.1"]


@pytest.mark.integration
async def test_catalog_orchestrator_and_gateway_pick_the_same_latest(
    db_pool: asyncpg.Pool,
) -> None:
    item_id = f"latest-{uuid.uuid4().hex[:8]}"
    documents = {v: item_document(item_id, v) for v in [*LIVE, "2.0.0"]}
    for version, document in documents.items():
        await db_pool.execute(
            "INSERT INTO catalog_item_versions (item_id, version, content_hash, document,"
            " retired_at) VALUES ($1, $2, $3, $4::jsonb, CASE WHEN $5 THEN now() END)",
            item_id,
            version,
            uuid.uuid4().hex,
            json.dumps(document),
            version == "2.0.0",  # retired: never the latest
        )
    expected = "1.0.0+build.2"

    # the catalog service's index
    now = datetime.now(UTC)
    entries = [
        VersionEntry.of(
            StoredVersion(item_id, v, "h", d, None, now, now if v == "2.0.0" else None),
            ParsedVersion.of(parse_item(d)),
        )
        for v, d in documents.items()
    ]
    assert ItemEntry.of(item_id, entries).current.version == expected
    # the orchestrator (the catalog API's and the in-memory adapters)
    assert (
        await CatalogServiceItems(history_api(db_pool)).get(item_id)
    ).metadata.version == expected
    memory = InMemoryItemCatalog([parse_item(documents[v]) for v in reversed(LIVE)])
    assert (await memory.get(item_id)).metadata.version == expected
    # the gateway's submission check
    assert (
        await CatalogItemVersions(history_api(db_pool)).resolve(item_id, None)
    ).version == expected


def test_one_retry_policy_with_the_catalog_documents_defaults() -> None:
    step = Step.model_validate({"id": "s", "action": "debug.log"})
    assert type(step.retry) is RetryPolicy
    assert step.retry == RetryPolicy(attempts=1, backoff_s=2.0, max_backoff_s=60.0, jitter=True)
    assert type(policy.TICKET_RETRY) is RetryPolicy


def test_retry_delay_is_exponential_capped_and_jittered_by_at_most_half() -> None:
    plain = RetryPolicy(attempts=5, backoff_s=2.0, max_backoff_s=5.0, jitter=False)
    assert [plain.delay_s(n, "cmd") for n in (1, 2, 3)] == [2.0, 4.0, 5.0]
    jittered = RetryPolicy(attempts=5, backoff_s=2.0, max_backoff_s=5.0)
    delays = {jittered.delay_s(1, f"cmd-{n}") for n in range(50)}
    assert all(1.0 <= d <= 2.0 for d in delays) and len(delays) > 1
    assert jittered.delay_s(1, "cmd-7") == jittered.delay_s(1, "cmd-7")  # replayable
