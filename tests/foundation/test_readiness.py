"""/readyz follows the broker: 503 naming Kafka while it is down, 200 again once it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_common import db
from pao_common.settings import Settings
from pao_devtools.broker import BundledBroker

from tests.support.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_status(url: str, status: int, timeout_s: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=5)
            if last.status_code == status:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}; last: {last and last.text}")


def test_readyz_turns_503_and_back_without_restarting_the_service(
    settings: Settings, own_broker: BundledBroker, tmp_path: Path
) -> None:
    env = service_env(settings, PAO_KAFKA_BOOTSTRAP=own_broker.bootstrap)
    service = ServiceProcess("pao_orchestrator", env, tmp_path).start()
    try:
        pid = service.process.pid if service.process else None
        ready = _wait_status(service.url + "/readyz", 200)
        assert ready.json()["checks"] == {"kafka": "ok", "database": "ok"}

        own_broker.stop()
        down = _wait_status(service.url + "/readyz", 503)
        assert down.json()["down"] == ["kafka"]
        assert "unreachable" in down.json()["checks"]["kafka"]
        assert httpx.get(service.url + "/healthz").status_code == 200, "alive while not ready"

        own_broker.start()
        _wait_status(service.url + "/readyz", 200)
        assert service.process is not None and service.process.pid == pid
        assert service.process.poll() is None, "the service was never restarted"
    finally:
        service.stop()


def test_readyz_names_the_database_when_it_is_gone_and_metrics_answer(
    settings: Settings, postgres_admin_url: str, tmp_path: Path
) -> None:
    name = f"pao_ready_{uuid.uuid4().hex[:8]}"
    url = db.with_database(postgres_admin_url, name)
    asyncio.run(db.ensure_database(url))
    asyncio.run(db.migrate(url))
    env = service_env(settings, PAO_DATABASE_URL=url)
    service = ServiceProcess("pao_orchestrator", env, tmp_path).start()
    try:
        metrics = httpx.get(service.url + "/metrics")
        assert metrics.status_code == 200 and "pao_http_requests_total" in metrics.text

        asyncio.run(_drop(postgres_admin_url, name))  # terminates the service's connections
        down = _wait_status(service.url + "/readyz", 503)
        assert down.json()["down"] == ["database"]

        asyncio.run(db.ensure_database(url))
        asyncio.run(db.migrate(url))
        _wait_status(service.url + "/readyz", 200)
    finally:
        service.stop()
        asyncio.run(_drop(postgres_admin_url, name))


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_redis_down_degrades_readiness_but_keeps_the_service_in_rotation(
    settings: Settings, tmp_path: Path
) -> None:
    from pao_devtools.ports import free_port

    env = service_env(settings, PAO_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    service = ServiceProcess("pao_gateway", env, tmp_path, port=None)
    service.start(wait_ready_s=0)
    try:
        ready = _wait_status(service.url + "/readyz", 200, timeout_s=90)
        body = ready.json()
        assert body["status"] == "degraded" and body["degraded"] == ["redis"]
        assert "unreachable" in body["checks"]["redis"]
        assert body["checks"]["kafka"] == "ok" and body["checks"]["database"] == "ok"
    finally:
        service.stop()
