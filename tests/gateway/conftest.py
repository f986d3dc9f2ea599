"""Gateway fixtures: a test issuer, a stand-in catalog service, the gateway on a real socket.

The gateway runs in-process under uvicorn (lifespan on, real HTTP, so SSE streams
work) against the session's broker, PostgreSQL and Redis; every test has its own
topics and Redis prefix (the ``settings`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pao_common.catalog_api import USER_AGENT
from pao_common.settings import Profile, Settings
from pao_common.topics import Topics
from pao_devtools.ports import free_port
from pao_gateway.app import create_app
from pao_gateway.bootstrap import GatewayAdapters

from tests.support.catalog import serve_history

ISSUER = "https://idp.test/realms/pao"
AUDIENCE = "pao-gateway"


def rsa_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@dataclass
class Issuer:
    """Signs tokens the way an identity provider would."""

    private_pem: bytes
    public_pem: bytes
    public_key_file: Path
    kid: str = "test-key-1"
    issuer: str = ISSUER
    audience: str = AUDIENCE

    def token(
        self,
        user: str,
        *,
        teams: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
        email: str | None = None,
        ttl_s: int = 600,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user,
            "teams": list(teams),
            "roles": list(roles),
            "iat": now,
            "exp": now + ttl_s,
        }
        if email:
            payload["email"] = email
        payload.update(claims)
        return jwt.encode(payload, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, user: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, **kwargs)}"}

    def jwk(self) -> dict[str, Any]:
        public_key = serialization.load_pem_public_key(self.public_pem)
        assert isinstance(public_key, rsa.RSAPublicKey)
        data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
        data.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return data


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    private, public = rsa_pair()
    path = tmp_path_factory.mktemp("issuer") / "public.pem"
    path.write_bytes(public)
    return Issuer(private, public, path)


# --- small local HTTP servers ---------------------------------------------------------------


@dataclass
class JsonServer:
    """A threaded HTTP server answering from ``routes`` and recording every hit; what no
    route answers, and every item-version read of ``pao_common.catalog_api``, goes to
    ``upstream`` when there is one (else 404)."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    hits: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    port: int = 0
    upstream: str | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, path: str) -> int:
        return sum(1 for hit in self.hits if hit == (method, path))

    def start(self) -> JsonServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                versions_read = self.headers.get("user-agent") == USER_AGENT
                if not versions_read:  # the hits counted are the browse API's
                    owner.hits.append((method, path))
                length = int(self.headers.get("content-length") or 0)
                content = self.rfile.read(length) if length else b""
                if length:
                    owner.bodies.append(json.loads(content))
                routed = (method, path) in owner.routes and not versions_read
                if not routed and owner.upstream is not None:
                    answer = httpx.request(
                        method, owner.upstream + self.path, content=content, timeout=30
                    )
                    status, raw = answer.status_code, answer.content
                else:
                    status, body = owner.routes.get((method, path), (404, {"detail": "not found"}))
                    raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="session")
async def catalog_service(database_url: str) -> AsyncIterator[JsonServer]:
    """A stand-in for the catalog service's browse API (counts the calls it gets). What
    no route answers, the catalog's own API answers over the session's version history
    (``tests.support.catalog``): the gateway reads item versions through it, and the
    tests record them as the catalog does (``publish_version``)."""
    async with serve_history(database_url) as upstream:
        server = JsonServer(upstream=upstream).start()
        try:
            yield server
        finally:
            server.stop()


# --- catalog documents in the version table (the catalog service's) -------------------------


def item_document(item_id: str, version: str = "1.0.0", **sections: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": "2.0",
        "metadata": {
            "id": item_id,
            "name": f"Test item {item_id}",
            "version": version,
            "owner": "platform",
            "category": "test",
        },
        "presentation": {
            "fields": [
                {
                    "id": "name",
                    "type": "string",
                    "label": "Name",
                    "required": True,
                    "validation": {
                        "pattern": "^[a-z][a-z0-9-]*$",
                        "messages": {"pattern": "lower-case letters, digits and dashes"},
                    },
                },
                {
                    "id": "size",
                    "type": "integer",
                    "label": "Size",
                    "default": 1,
                    "validation": {"minimum": 1, "maximum": 10},
                },
            ]
        },
        "fulfillment": {
            "mode": "automated",
            "automated": {
                "steps": [{"id": "echo", "action": "debug.log", "with": {"message": "hi"}}]
            },
        },
    }
    document.update(sections)
    return document


async def publish_version(
    pool: asyncpg.Pool, document: dict[str, Any], *, retired: bool = False
) -> None:
    meta = document["metadata"]
    await pool.execute(
        "INSERT INTO catalog_item_versions (item_id, version, content_hash, document, retired_at)"
        " VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END)",
        meta["id"],
        meta["version"],
        uuid.uuid4().hex,
        json.dumps(document),
        retired,
    )


# --- request_view rows as the orchestrator projects them ------------------------------------


async def insert_view(
    pool: asyncpg.Pool,
    request_id: str,
    *,
    requester: str,
    teams: tuple[str, ...] = (),
    status: str = "in_progress",
    item_id: str = "debug-echo",
    approval: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    last_version: int = 3,
    submitted_at_offset_s: int = 0,
) -> None:
    await pool.execute(
        "INSERT INTO request_view (request_id, item_id, item_version, status, requester_id,"
        " requester_teams, requester, inputs, outputs, steps, ticket, approval, error,"
        " idempotency_key, last_version, submitted_at, updated_at, completed_at)"
        " VALUES ($1, $2, '1.0.0', $3, $4, $5, $6, '{\"message\": \"hi\"}', NULL, $7, NULL, $8,"
        " NULL, NULL, $9, now() + make_interval(secs => $10), now(), NULL)",
        request_id,
        item_id,
        status,
        requester,
        list(teams),
        json.dumps({"id": requester, "teams": list(teams)}),
        json.dumps(steps or []),
        json.dumps(approval) if approval is not None else None,
        last_version,
        submitted_at_offset_s,
    )


# --- resource_view rows as the orchestrator projects them -----------------------------------


async def insert_resource(
    pool: asyncpg.Pool,
    *,
    item_id: str,
    owner_team: str | None,
    requester: str = "someone",
    status: str = "active",
    name: str | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    requests: list[dict[str, Any]] | None = None,
    active_request_id: str | None = None,
    active_operation: str | None = None,
    created_at: datetime | None = None,
    item_version: str = "1.0.0",
) -> str:
    """A ``resource_view`` row; returns its resource id."""
    resource_id = str(uuid.uuid4())
    provisioning = str(uuid.uuid4())
    history = requests or [
        {
            "request_id": provisioning,
            "operation": None,
            "status": "completed",
            "submitted_at": "2026-01-05T10:00:00+00:00",
            "ended_at": "2026-01-05T10:05:00+00:00",
        }
    ]
    await pool.execute(
        "INSERT INTO resource_view (resource_id, item_id, item_version, name, owner_team,"
        " requester_id, status, inputs, outputs, requests, active_request_id,"
        " active_operation, error, last_version, created_at, updated_at, decommissioned_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, 2,"
        " coalesce($13, now()), now(),"
        " CASE WHEN $7 = 'decommissioned' THEN now() END)",
        resource_id,
        item_id,
        item_version,
        name or f"{item_id}-{resource_id[:8]}",
        owner_team,
        requester,
        status,
        json.dumps(inputs if inputs is not None else {"name": "orders", "size": 2}),
        json.dumps(outputs or {}),
        json.dumps(history),
        active_request_id,
        active_operation,
        created_at,
    )
    return resource_id


# --- the gateway ----------------------------------------------------------------------------


@dataclass
class RunningGateway:
    app: FastAPI
    url: str
    client: httpx.AsyncClient
    settings: Settings

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_suffix)


def gateway_settings(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_url: str,
    state_dir: Path,
    **overrides: Any,
) -> Settings:
    test_id = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "profile": Profile.TEST,
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_prefix": f"pao-test:{test_id}:",
        "topic_suffix": f".t-{test_id}",
        "topic_partitions": 3,
        "jwt_issuer": issuer.issuer,
        "jwt_audience": issuer.audience,
        "jwt_public_key_file": issuer.public_key_file,
        "jwt_dev_key_dir": state_dir / "dev-jwt",
        "catalog_url": catalog_url,
        "gateway_sse_poll_s": 30.0,  # streams must be driven by Kafka in these tests
        "log_json": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


async def run_gateway(
    settings: Settings, adapters: GatewayAdapters | None = None
) -> AsyncIterator[RunningGateway]:
    app = create_app(settings, adapters)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("gateway did not start")
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        try:
            yield RunningGateway(app, url, client, settings)
        finally:
            server.should_exit = True
            await task


@pytest.fixture(scope="session")
async def gateway(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningGateway]:
    """One gateway for the session (a consumer group join costs seconds on the dev
    broker); tests keep apart by their own item and request ids."""
    settings = gateway_settings(
        kafka_bootstrap,
        database_url,
        redis_url,
        issuer,
        catalog_service.url,
        tmp_path_factory.mktemp("gateway"),
    )
    async for running in run_gateway(settings):
        yield running


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0, interval_s: float = 0.05
) -> None:
    """Wait until ``condition()`` holds (a deadline for a condition, not a timed assertion)."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval_s)
