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
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from pao_common import db
from pao_common.settings import Profile, Settings
from pao_devtools.broker import BundledBroker
from pao_devtools.ports import free_port

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


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


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from sync fixtures, even while a test's loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> Iterator[str]:
    """A migrated database nobody connects to: the template of every test database."""
    name = f"pao_tpl_{uuid.uuid4().hex[:10]}"
    url = db.with_database(postgres_admin_url, name)
    _run(db.ensure_database(url))
    _run(db.migrate(url))
    try:
        yield name
    finally:
        _run(_drop_database(postgres_admin_url, name))


def _clone(admin_url: str, template: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()

    _run(create())
    return name, db.with_database(admin_url, name)


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """The session's shared database (migrated): for tests that keep to their own rows."""
    name, url = _clone(postgres_admin_url, template_database, "pao_test")
    try:
        yield url
    finally:
        _run(_drop_database(postgres_admin_url, name))


@pytest.fixture
def fresh_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of this test's own: for tests whose services see the whole
    database (reconciliation, rebuilds, several processes), so no other test's rows leak in."""
    name, url = _clone(postgres_admin_url, template_database, "pao_t")
    try:
        yield url
    finally:
        _run(_drop_database(postgres_admin_url, name))


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
def settings(
    kafka_bootstrap: str, fresh_database_url: str, redis_url: str, test_id: str
) -> Settings:
    """Settings for one test: its own topics, database and Redis keys on the session's servers."""
    return Settings(
        profile=Profile.TEST,
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database_url,
        redis_url=redis_url,
        redis_prefix=f"pao-test:{test_id}:",
        topic_suffix=f".t-{test_id}",
        topic_partitions=3,
        catalog_dir=REPO / "catalog",
    )


@pytest.fixture
async def db_pool(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the database the test's services use: the test's own database when the
    test uses ``settings``, the session's shared one otherwise."""
    url = database_url
    if "settings" in request.fixturenames:
        url = request.getfixturevalue("settings").database_url
    pool = await db.create_pool(url, max_size=5)
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
