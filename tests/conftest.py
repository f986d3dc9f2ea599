"""Shared fixtures: one broker and one database per session, topics and keys per test.

With nothing configured the session starts the bundled broker on a free port and
uses the local PostgreSQL and Redis. ``PAO_KAFKA_BOOTSTRAP`` / ``PAO_TEST_DATABASE_URL``
/ ``PAO_REDIS_URL`` point the suite at other servers; with ``PAO_TEST_CONTAINERS=1``
and a Docker engine, testcontainers provides Kafka, PostgreSQL and Redis instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from pao_common import db
from pao_common.devbroker import BundledBroker, free_port
from pao_common.settings import Profile, Settings

REPO = Path(__file__).resolve().parents[1]


def _containers_wanted() -> bool:
    return os.environ.get("PAO_TEST_CONTAINERS") == "1" and shutil.which("docker") is not None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if configured := os.environ.get("PAO_KAFKA_BOOTSTRAP"):
        yield configured
    elif _containers_wanted():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        broker = BundledBroker(free_port())
        broker.start()
        try:
            yield broker.bootstrap
        finally:
            broker.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    if configured := os.environ.get("PAO_TEST_DATABASE_URL"):
        yield configured
    elif _containers_wanted():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as pg:
            yield pg.get_connection_url()
    else:
        yield "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own for this session, migrated, dropped at the end."""
    name = f"pao_test_{uuid.uuid4().hex[:10]}"
    url = db.with_database(postgres_admin_url, name)
    asyncio.run(db.ensure_database(url))
    asyncio.run(db.migrate(url))
    try:
        yield url
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(postgres_admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if "PAO_REDIS_URL" in os.environ:
        yield os.environ["PAO_REDIS_URL"]
    elif _containers_wanted():
        from testcontainers.redis import RedisContainer

        with RedisContainer() as r:
            yield f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
    else:
        yield "redis://127.0.0.1:6379/0"


@pytest.fixture
def test_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, redis_url: str, test_id: str) -> Settings:
    """Settings for one test: its own topics and Redis keys on the session's servers."""
    return Settings(
        profile=Profile.TEST,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"pao-test:{test_id}:",
        topic_suffix=f".t-{test_id}",
        topic_partitions=3,
        catalog_dir=REPO / "catalog",
    )


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def own_broker() -> Iterator[BundledBroker]:
    """A broker of this test's own, for tests that stop or restart it."""
    broker = BundledBroker(free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
