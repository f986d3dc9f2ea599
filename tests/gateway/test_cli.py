"""``pao token`` and ``pao request submit|show|watch``, run as real processes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import jwt
import pytest
from pao_common.settings import Profile, Settings
from pao_gateway.identity import build_verifier

from tests.gateway.conftest import (
    Issuer,
    RunningGateway,
    insert_view,
    item_document,
    publish_version,
)
from tests.gateway.test_live import publish_request_event

pytestmark = pytest.mark.integration


async def pao(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pao_cli.main",
        *args,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PAO_")}, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_pao_token_mints_what_the_local_gateway_trusts(tmp_path: Path) -> None:
    env = {"PAO_JWT_DEV_KEY_DIR": str(tmp_path / "dev-jwt"), "PAO_PROFILE": "local"}
    code, out, err = await pao(
        "token",
        "--user",
        "alice",
        "--team",
        "payments",
        "--team",
        "sre",
        "--role",
        "platform-admin",
        "--email",
        "alice@example.com",
        "--ttl",
        "30m",
        env=env,
    )
    assert code == 0, err
    token = out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1800
    assert (claims["iss"], claims["aud"]) == ("pao-dev", "pao")
    assert not (tmp_path / "dev-jwt" / "private.pem").stat().st_mode & 0o077

    settings = Settings(profile=Profile.LOCAL, jwt_dev_key_dir=tmp_path / "dev-jwt")
    user = await build_verifier(settings).verify(token)
    assert (user.id, user.teams, user.roles, user.email) == (
        "alice",
        ("payments", "sre"),
        ("platform-admin",),
        "alice@example.com",
    )
    code, _, err = await pao("token", "--user", "x", "--ttl", "soon", env=env)
    assert code == 2 and "not a duration" in err


async def test_request_submit_show_and_errors(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    await publish_version(db_pool, item_document(item_id))
    user = f"cli-{item_id}"
    env = {"PAO_GATEWAY_URL": gateway.url, "PAO_TOKEN": issuer.token(user, teams=("payments",))}

    code, out, err = await pao(
        "request", "submit", item_id, "--input", "name=orders", "--input", "size=3", env=env
    )
    assert code == 0, err
    request_id = out.strip()
    inputs = await db_pool.fetchval(
        "SELECT inputs::text FROM gateway_submissions WHERE request_id = $1", request_id
    )
    assert inputs == '{"name": "orders", "size": 3}', "size=3 is a number"

    code, out, err = await pao("request", "show", request_id, env=env)
    assert code == 0, err
    assert f"request    {request_id}" in out
    assert "status     submitted" in out
    assert f"requester  {user} (payments)" in out

    code, out, err = await pao(
        "request", "submit", item_id, "--input", "name=Not Valid", "--input", "size=0", env=env
    )
    assert code == 1
    assert "HTTP 422" in err
    assert "  name: lower-case letters, digits and dashes" in err
    assert "  size:" in err

    code, _, err = await pao("request", "show", "no-such-request", env=env)
    assert code == 1 and "HTTP 404" in err
    code, _, err = await pao("request", "show", request_id, env={**env, "PAO_TOKEN": ""})
    assert code == 1 and "no token" in err


async def test_request_watch_exit_codes(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    user = f"watcher-{uuid.uuid4().hex[:6]}"
    env = {"PAO_GATEWAY_URL": gateway.url, "PAO_TOKEN": issuer.token(user)}
    rejected, live = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(2))
    await insert_view(db_pool, rejected, requester=user, status="rejected")
    code, out, _ = await pao("request", "watch", rejected, env=env)
    assert code == 1
    assert out.splitlines()[0].split() == ["rejected", "(current)"]

    await insert_view(db_pool, live, requester=user, status="in_progress", last_version=3)
    watcher = asyncio.create_task(pao("request", "watch", live, env=env))
    while not watcher.done():  # until the gateway's consumer has it, publish again
        await publish_request_event(
            gateway.settings.kafka_bootstrap,
            gateway.topics.request_events,
            live,
            4,
            "completed",
            "RequestCompleted",
        )
        await asyncio.wait([watcher], timeout=0.5)
    code, out, err = watcher.result()
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["in_progress", "completed"]
