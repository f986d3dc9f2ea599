"""The whole PAO platform as real processes, the way ``pao dev`` runs it, for end-to-end tests.

``E2EPlatform`` extends the lifecycle tests' ``Platform`` (catalog, orchestrator, gateway,
on the test's broker, database and topic suffix) with what ``pao dev`` adds: the sandbox
process, every executor of ``pao_executors.registry.EXECUTOR_SERVICES``, the CMDB sync
(``CMDB_SYNC_SERVICE``, into the sandbox's ServiceNow) and the notifier (the shipped
``policies/notifications.yaml``, its e-mails to the sandbox's SMTP catcher, its chat posts
to the sandbox's webhook sink: ``mails()``), pointed at the sandbox by
``pao_cli.dev.sandbox_environment`` and ``notify_environment`` (the functions ``pao dev``
uses, so the tests and ``pao dev`` cannot drift apart). Its catalog directory holds every
shipped item of ``catalog/``, the tests' own items in ``tests/e2e/catalog`` and a test's
``extra_items``.

The helpers talk to it as people and systems would: the gateway's HTTP API with dev tokens,
the sandbox's own API to resolve tickets and to script answers. Every API response is kept,
so a test can search them (with the logs, the event store and ``pao.requests.events``) for
secret values: ``assert_no_secret_leaked``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pao_cli.dev import change_calendar_env, notify_environment, sandbox_environment
from pao_common.executor.secrets import secret_env_var
from pao_devtools.ports import free_port
from pao_executors.registry import CMDB_SYNC_SERVICE, EXECUTOR_SERVICES
from pao_gateway import devtokens

from tests.support.platform import Platform
from tests.support.services import ServiceProcess

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CATALOG = REPO / "catalog"
E2E_CATALOG = Path(__file__).resolve().parent / "catalog"
API = "/api/v1"
# Statuses after which nothing happens without a person (or at all).
SETTLED = frozenset(
    {"completed", "failed", "rejected", "expired", "cancelled", "rolled_back", "awaiting_approval"}
)

# The secrets the shipped and test items reference (``secret('...')``), with values made up
# per test run: they must reach the targets and appear nowhere else.
SECRET_NAMES = (
    "dns-api/token",
    "pam/api-token",
    "k8s/tenancy-api-token",
    "k8s/eu-west-1-dev/provisioner-token",
    "k8s/eu-west-1-prod/provisioner-token",
    "k8s/us-east-1-prod/provisioner-token",
    "e2e/api-token",
)


def make_secrets() -> dict[str, str]:
    return {name: f"e2e-secret-{secrets.token_hex(12)}" for name in SECRET_NAMES}


@dataclass
class SandboxClient:
    """The sandbox's control API and its JIRA resolve call, over HTTP."""

    url: str

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def configure(self, system: str, **patch: Any) -> Any:
        return await self.call("PATCH", f"/{system}/sandbox/config", patch)

    async def fault(self, system: str, **spec: Any) -> None:
        await self.call("POST", f"/{system}/sandbox/faults", spec)

    async def state(self, system: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/{system}/sandbox/state")
        return result

    async def requests(self, system: str, path: str = "*", method: str = "*") -> list[Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get(
                f"/{system}/sandbox/requests", params={"path": path, "method": method}
            )
        response.raise_for_status()
        result: list[Any] = response.json()
        return result

    async def script(self, path: str, *responses: Mapping[str, Any], **extra: Any) -> None:
        """Scripted answers of the REST echo target for ``path`` (a glob below ``/echo``)."""
        body = {"path": path, "responses": list(responses), **extra}
        await self.call("POST", "/echo/sandbox/responses", body)

    async def mails(self) -> list[dict[str, Any]]:
        """Every e-mail the sandbox's SMTP catcher received (``rcpt_tos``, ``subject``, ...)."""
        result: list[dict[str, Any]] = await self.call("GET", "/notify/mails")
        return result

    async def resolve_ticket(self, key: str, resolution: str = "Done", comment: str = "") -> Any:
        """What a person does on the sandbox JIRA's ticket page."""
        body = {"resolution": resolution, "comment": comment or f"{resolution} by e2e"}
        return await self.call("POST", f"/jira/sandbox/issues/{key}/resolve", body)


@dataclass
class E2EPlatform(Platform):
    """Catalog, orchestrator, gateway, every executor, the CMDB sync, the notifier and the
    sandbox, as processes. ``extra_items``: file name -> catalog document, added to the
    catalog directory."""

    with_gateway: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    sandbox_env_overrides: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=make_secrets)
    executors: list[ServiceProcess] = field(default_factory=list)
    sandbox_process: ServiceProcess | None = None
    notifier: ServiceProcess | None = None
    extra_items: dict[str, str] = field(default_factory=dict)
    responses: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        catalog_dir = Path(self.settings.catalog_dir)
        for source in (SHIPPED_CATALOG, E2E_CATALOG):
            for path in sorted(source.glob("*.yaml")):
                shutil.copy(path, catalog_dir / path.name)
        for name, document in self.extra_items.items():
            (catalog_dir / name).write_text(document)
        self.sandbox_port = free_port()
        self.sandbox_smtp_port = free_port()  # the sandbox's SMTP catcher
        self.gateway_port = free_port()
        self.sandbox = SandboxClient(f"http://127.0.0.1:{self.sandbox_port}")
        # Exactly what ``pao dev`` gives the services when no system has credentials.
        self.sandbox_env, self.sandboxed = sandbox_environment(
            {}, self.sandbox.url, self.gateway_port
        )
        self.notify_env, _ = notify_environment(
            {}, self.sandbox.url, self.sandbox_smtp_port, SHIPPED_CATALOG
        )

    # --- processes ------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            **self.sandbox_env,
            **{secret_env_var(n): v for n, v in self.secret_values.items()},
            # The change calendar shipped beside the catalog, as ``pao dev`` runs it.
            **change_calendar_env({}, SHIPPED_CATALOG),
            # Tickets complete through the gateway's webhook, not by polling.
            "PAO_JIRA_POLL_INTERVAL_S": "0",
            "PAO_JWT_DEV_KEY_DIR": str(self.dev_key_dir),
            **self.extra_env,
            **extra,
        }
        return super().env(**values)

    def start(self, orchestrators: int = 1) -> E2EPlatform:
        sandbox_env = {
            "PAO_SANDBOX_SMTP_PORT": str(self.sandbox_smtp_port),
            "PAO_SANDBOX_GITHUB__QUEUED_S": "0",
            "PAO_SANDBOX_GITHUB__IN_PROGRESS_S": "0",
            "PAO_SANDBOX_TFC__PHASE_S": "0",
            **self.sandbox_env_overrides,
        }
        self.sandbox_process = ServiceProcess(
            "pao_sandbox", self.env(**sandbox_env), self.log_dir, port=self.sandbox_port
        )
        self.catalog = ServiceProcess(
            "pao_catalog", self.env(), self.log_dir, port=self._catalog_port
        )
        for service in (self.sandbox_process, self.catalog):
            service.start(wait_ready_s=0)
        for service in (self.sandbox_process, self.catalog):
            service.wait_ready(90)
        self.gateway = ServiceProcess(
            "pao_gateway", self.env(**self.gateway_env), self.log_dir, port=self.gateway_port
        )
        self.executors = [
            ServiceProcess(module, self.env(), self.log_dir)
            for module in [*EXECUTOR_SERVICES.values(), CMDB_SYNC_SERVICE]
        ]
        self.executor = next(s for s in self.executors if s.module == EXECUTOR_SERVICES["debug"])
        self.notifier = ServiceProcess("pao_notifier", self.env(**self.notify_env), self.log_dir)
        for _ in range(orchestrators):
            self._new_orchestrator()
        starting = [self.gateway, *self.orchestrators, *self.executors, self.notifier]
        for service in starting:
            service.start(wait_ready_s=0)
        for service in starting:
            service.wait_ready(120)
        return self

    def service(self, module: str) -> ServiceProcess:
        return next(s for s in self.executors if s.module == module)

    def restart_sandbox(self) -> None:
        assert self.sandbox_process is not None
        self.sandbox_process.start(wait_ready_s=60)

    def processes(self) -> list[ServiceProcess]:
        """Every PAO service (the sandbox stands for external systems: not one of them)."""
        found = [self.catalog, *self.orchestrators, self.gateway, *self.executors, self.notifier]
        return [s for s in found if s is not None]

    def stop(self) -> None:
        for service in [*self.processes(), self.sandbox_process]:
            if service is not None:
                service.stop()

    def logs(self) -> str:
        parts = [
            f"--- {s.log_path.name}\n{s.log_tail(25)}"
            for s in [*self.processes(), self.sandbox_process]
            if s is not None
        ]
        return "\n".join(parts)

    # --- the gateway API, as a person ------------------------------------------------------

    def user_token(self, user: Mapping[str, Any]) -> str:
        return devtokens.mint(
            self.settings.model_copy(update={"jwt_dev_key_dir": self.dev_key_dir}),
            user=str(user["id"]),
            teams=tuple(user.get("teams") or ()),
            roles=tuple(user.get("roles") or ()),
            email=user.get("email"),
            name=user.get("name"),
            manager=user.get("manager"),
        )

    async def api(
        self, token: str, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        assert self.gateway is not None
        async with httpx.AsyncClient(base_url=self.gateway.url, timeout=30) as client:
            response = await client.request(
                method,
                API + path,
                json=body,
                headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
                **kwargs,
            )
        self.responses.append(response.text)
        return response

    async def submit_request(self, token: str, item_id: str, inputs: Mapping[str, Any]) -> str:
        body = {"item_id": item_id, "inputs": inputs}
        response = await self.api(token, "POST", "/requests", body)
        assert response.status_code == 202, response.text
        request_id: str = response.json()["id"]
        return request_id

    async def read(self, token: str, request_id: str) -> dict[str, Any]:
        response = await self.api(token, "GET", f"/requests/{request_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def events(self, token: str, request_id: str) -> list[dict[str, Any]]:
        response = await self.api(token, "GET", f"/requests/{request_id}/events")
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    async def wait_for(
        self,
        token: str,
        request_id: str,
        done: Any,
        *,
        what: str,
        deadline_s: float = 180.0,
    ) -> dict[str, Any]:
        """Read the request over the API until ``done(view)`` holds.

        The deadline only stops a hung test; it asserts nothing about speed.
        """
        stop = time.monotonic() + deadline_s
        view: dict[str, Any] = {}
        while time.monotonic() < stop:
            view = await self.read(token, request_id)
            if done(view):
                return view
            await asyncio.sleep(0.25)
        raise AssertionError(
            f"request {request_id} never reached {what}: {json.dumps(view, indent=1)[:3000]}\n"
            + self.logs()
        )

    async def wait_status(
        self, token: str, request_id: str, statuses: Iterable[str], deadline_s: float = 180.0
    ) -> dict[str, Any]:
        wanted = frozenset(statuses)
        return await self.wait_for(
            token,
            request_id,
            lambda v: v["status"] in wanted,
            what=str(sorted(wanted)),
            deadline_s=deadline_s,
        )

    async def wait_ticket(self, token: str, request_id: str) -> dict[str, Any]:
        """Until the request shows its JIRA ticket (manual fulfilment or a fallback)."""
        return await self.wait_for(
            token,
            request_id,
            lambda v: bool(v.get("ticket")) or v["status"] in SETTLED - {"awaiting_approval"},
            what="a ticket",
        )

    # --- no secret anywhere ----------------------------------------------------------------

    async def assert_no_secret_leaked(self, pool: asyncpg.Pool) -> int:
        """No secret value in any service log, stored or published event, or API response.

        Returns the number of texts searched (so a test can show it searched something).
        """
        texts: list[tuple[str, str]] = []
        for service in self.processes():
            texts.append((service.log_path.name, service.log_path.read_text(errors="replace")))
        for table in ("request_events", "request_view", "outbox"):
            rows = await pool.fetch(f"SELECT row_to_json(t)::text AS doc FROM {table} t")
            texts += [(table, r["doc"]) for r in rows]
        for record in await read_topic(self.bootstrap, self.topics.request_events):
            headers = " ".join(f"{k}={v!r}" for k, v in record.headers)
            texts.append(("pao.requests.events", f"{headers} {record.value!r}"))
        texts += [("api response", text) for text in self.responses]
        leaks = [
            f"{where}: contains secret {name!r}"
            for where, text in texts
            for name, value in self.secret_values.items()
            if value in text
        ]
        assert not leaks, "\n".join(sorted(set(leaks)))
        return len(texts)


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its current end (bare aiokafka, no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster's metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: list[Any] = []
        stop = time.monotonic() + 60
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < stop, f"could not read {topic} to its end"
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()
