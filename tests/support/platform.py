"""The PAO platform as real processes for end-to-end tests and benchmarks.

``Platform`` runs the catalog service, the orchestrator (one or more replicas), the
debug executor and, when asked, the gateway, each as ``python -m <module>`` on a free
port, on the broker, database and topic suffix of the given ``Settings``. The catalog
directory is a fresh copy of ``catalog/debug-echo.yaml`` plus the items under
``tests/lifecycle/catalog`` (shipped items stay untouched).

Its helpers talk to the platform the way other systems would: submissions are
CloudEvents published with bare aiokafka (with the requester's bearer token in
``ce_authtoken``), state is read from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from pao_common.settings import Settings
from pao_common.topics import Topics
from pao_devtools.ports import free_port

from tests.support.credentials import credential_for, user_token
from tests.support.services import ServiceProcess, service_env

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ITEMS = ("debug-echo.yaml",)
TEST_ITEMS_DIR = REPO / "tests" / "lifecycle" / "catalog"
TERMINAL = frozenset({"completed", "failed", "rejected", "expired", "cancelled", "rolled_back"})
# Events that end a request (fallback to manual is not one: a ticket follows).
TERMINAL_EVENTS = frozenset(
    {
        "RequestCompleted",
        "RequestFailed",
        "RequestRolledBack",
        "RequestCancelled",
        "RequestRejected",
        "RequestRejectedInvalid",
        "ApprovalExpired",
    }
)
ALICE = {"id": "alice", "email": "alice@example.com", "name": "Alice", "teams": ["platform"]}


def build_catalog_dir(target: Path) -> Path:
    """A catalog directory with the shipped ``debug-echo`` and the tests' own items."""
    target.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_ITEMS:
        shutil.copy(REPO / "catalog" / name, target / name)
    for path in sorted(TEST_ITEMS_DIR.glob("*.yaml")):
        shutil.copy(path, target / path.name)
    return target


def cloudevent_headers(
    ce_type: str, subject: str, ce_id: str | None = None
) -> list[tuple[str, bytes]]:
    """CloudEvents 1.0 Kafka binary-mode headers, written by hand."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", (ce_id or str(uuid.uuid4())).encode()),
        ("ce_type", ce_type.encode()),
        ("ce_source", b"tests.platform"),
        ("ce_subject", subject.encode()),
        ("ce_time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()),
        ("content-type", b"application/json"),
    ]


def submit_body(
    request_id: str, item_id: str, inputs: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A ``SubmitRequest`` for Alice; ``extra``: more of its fields (``resource_id``, ...)."""
    return {
        "request_id": request_id,
        "item_id": item_id,
        "inputs": inputs,
        "requester": ALICE,
        **extra,
    }


@dataclass
class Platform:
    settings: Settings
    log_dir: Path
    with_gateway: bool = False
    orchestrator_env: dict[str, str] = field(default_factory=dict)
    gateway_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    catalog: ServiceProcess | None = None
    executor: ServiceProcess | None = None
    gateway: ServiceProcess | None = None
    orchestrators: list[ServiceProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        catalog_port = free_port()
        self.settings = self.settings.model_copy(
            update={
                "catalog_dir": build_catalog_dir(self.log_dir / "catalog"),
                "catalog_url": f"http://127.0.0.1:{catalog_port}",
            }
        )
        self._catalog_port = catalog_port
        # Every process trusts the keys of this platform alone (service_env passes them).
        self.dev_key_dir = self.log_dir / "dev-jwt"
        self.settings = self.settings.model_copy(
            update={
                "jwt_dev_key_dir": self.dev_key_dir,
                "service_dev_key_dir": self.log_dir / "dev-service",
            }
        )

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_suffix)

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def env(self, **extra: str) -> dict[str, str]:
        return service_env(self.settings, PAO_LOG_LEVEL=self.log_level, **extra)

    # --- processes ------------------------------------------------------------------------

    def start(self, orchestrators: int = 1) -> Platform:
        """Catalog first (the items must be published), then everything else at once."""
        self.catalog = ServiceProcess(
            "pao_catalog", self.env(), self.log_dir, port=self._catalog_port
        ).start()
        self.executor = ServiceProcess("pao_executors.debug", self.env(), self.log_dir)
        starting = [self.executor]
        for _ in range(orchestrators):
            starting.append(self._new_orchestrator())
        if self.with_gateway:
            self.gateway = ServiceProcess(
                "pao_gateway",
                self.env(**self.gateway_env),
                self.log_dir,
            )
            starting.append(self.gateway)
        for service in starting:
            service.start(wait_ready_s=0)
        for service in starting:
            self._wait_up(service)
        return self

    def _new_orchestrator(self) -> ServiceProcess:
        service = ServiceProcess(
            "pao_orchestrator", self.env(**self.orchestrator_env), self.log_dir
        )
        self.orchestrators.append(service)
        return service

    def _wait_up(self, service: ServiceProcess) -> None:
        if service is self.gateway and self.gateway_env.get("PAO_REDIS_URL"):
            # Readiness names Redis as down when it is; the gateway works without it.
            wait_alive(service)
        else:
            service.wait_ready(90)

    def start_orchestrator(self) -> ServiceProcess:
        service = self._new_orchestrator()
        service.start(wait_ready_s=0)
        service.wait_ready(90)
        return service

    def restart(self, service: ServiceProcess) -> None:
        service.stop()
        service.start(wait_ready_s=0)
        self._wait_up(service)

    def stop(self) -> None:
        for service in [self.gateway, *self.orchestrators, self.executor, self.catalog]:
            if service is not None:
                service.stop()

    def logs(self) -> str:
        """The tails of every service log (for assertion messages)."""
        parts = []
        for service in [self.catalog, self.executor, *self.orchestrators, self.gateway]:
            if service is not None:
                parts.append(f"--- {service.log_path.name}\n{service.log_tail(30)}")
        return "\n".join(parts)

    # --- talking to it --------------------------------------------------------------------

    def token(self, user: str = "alice", teams: Sequence[str] = ("platform",)) -> str:
        return user_token(self.settings, user, teams=teams)

    async def submit(
        self,
        requests: Iterable[tuple[str, str, dict[str, Any]]],
        *,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        """Publish ``SubmitRequest`` for each ``(request_id, item_id, inputs)`` (bare aiokafka)."""
        await self._submit(
            (submit_body(rid, item, inputs) for rid, item, inputs in requests), producer
        )

    async def submit_operations(
        self,
        operations: Iterable[tuple[str, str, str, str, dict[str, Any]]],
        *,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        """Publish an operation's ``SubmitRequest`` for each ``(request_id, item_id,
        resource_id, operation, inputs)``, as a system following docs/kafka-api.md would."""
        await self._submit(
            (
                submit_body(rid, item, inputs, resource_id=resource_id, operation=operation)
                for rid, item, resource_id, operation, inputs in operations
            ),
            producer,
        )

    async def _submit(
        self, bodies: Iterable[dict[str, Any]], producer: AIOKafkaProducer | None
    ) -> None:
        own = producer is None
        if producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
            await producer.start()
        try:
            sends = [
                await producer.send(
                    self.topics.request_commands,
                    json.dumps(body).encode(),
                    key=body["request_id"].encode(),
                    headers=[
                        *cloudevent_headers("pao.request.submit", body["request_id"]),
                        credential_for(self.settings, ALICE),
                    ],
                )
                for body in bodies
            ]
            await asyncio.gather(*sends)
        finally:
            if own:
                await producer.stop()


def wait_alive(service: ServiceProcess, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.process is not None
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.module} exited: {service.log_tail()}")
        try:
            if httpx.get(service.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{service.module} not alive in {timeout_s}s: {service.log_tail()}")


# --- reading the outcome from PostgreSQL -----------------------------------------------------


async def statuses(pool: asyncpg.Pool, request_ids: Sequence[str]) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT request_id, status FROM request_view WHERE request_id = ANY($1::text[])",
        list(request_ids),
    )
    return {r["request_id"]: r["status"] for r in rows}


async def wait_until(
    pool: asyncpg.Pool,
    request_ids: Sequence[str],
    wanted: Iterable[str] = TERMINAL,
    *,
    count: int | None = None,
    deadline_s: float = 180.0,
    platform: Platform | None = None,
) -> dict[str, str]:
    """Poll ``request_view`` until ``count`` (default: all) of the requests are in ``wanted``.

    The deadline only stops a hung test; it asserts nothing about speed.
    """
    goal = set(wanted)
    need = len(request_ids) if count is None else count
    stop = time.monotonic() + deadline_s
    found: dict[str, str] = {}
    while time.monotonic() < stop:
        found = await statuses(pool, request_ids)
        if sum(1 for s in found.values() if s in goal) >= need:
            return found
        await asyncio.sleep(0.2)
    waiting = {r: found.get(r, "<no row>") for r in request_ids if found.get(r) not in goal}
    tail = platform.logs() if platform is not None else ""
    raise AssertionError(
        f"{len(waiting)} request(s) never reached {sorted(goal)}: "
        f"{dict(list(waiting.items())[:10])}\n{tail}"
    )


async def assert_recorded_once(pool: asyncpg.Pool, request_ids: Sequence[str]) -> None:
    """No message's effects are in the log twice, and no step result is recorded twice.

    - every event names the message that caused it, and that message is recorded as
      processed (for the same stream);
    - one message's events are one contiguous run of versions (one commit);
    - per stream: one ``RequestSubmitted``, one terminal event, and no command
      dispatched, answered or compensated twice.
    """
    ids = list(request_ids)
    rows = await pool.fetch(
        "SELECT e.stream_id, e.version, e.event_type, e.message_id, e.data::text AS data,"
        " p.stream_id AS processed_stream"
        " FROM request_events e LEFT JOIN processed_messages p ON p.message_id = e.message_id"
        " WHERE e.stream_id = ANY($1::text[]) ORDER BY e.stream_id, e.version",
        ids,
    )
    problems: list[str] = []
    runs: dict[tuple[str, str], list[int]] = {}
    per_stream: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for r in rows:
        sid, mid = r["stream_id"], r["message_id"]
        if mid is None:
            problems.append(f"{sid} v{r['version']} {r['event_type']}: no message id")
        elif r["processed_stream"] != sid:
            problems.append(f"{sid} v{r['version']}: message {mid} not recorded as processed")
        else:
            runs.setdefault((sid, mid), []).append(r["version"])
        per_stream.setdefault(sid, []).append((r["event_type"], json.loads(r["data"])))
    for (sid, mid), versions in runs.items():
        if versions != list(range(versions[0], versions[0] + len(versions))):
            problems.append(f"{sid}: message {mid} recorded in separate commits {versions}")
    for sid in ids:
        events = per_stream.get(sid, [])
        types = [t for t, _ in events]
        if types.count("RequestSubmitted") != 1:
            problems.append(f"{sid}: {types.count('RequestSubmitted')} RequestSubmitted")
        ends = [t for t in types if t in TERMINAL_EVENTS]
        if len(ends) != 1:
            problems.append(f"{sid}: terminal events {ends}")
        for kind in ("StepDispatched", "StepSucceeded", "StepCompensated", "StepFailed"):
            cmds = [d.get("command_id") for t, d in events if t == kind and d.get("command_id")]
            if len(cmds) != len(set(cmds)):
                problems.append(f"{sid}: {kind} twice for one command: {cmds}")
    assert not problems, "\n".join(problems[:30])


async def assert_side_effects_once(pool: asyncpg.Pool, request_ids: Sequence[str]) -> int:
    """Every attempt recorded as dispatched ran exactly once in the executor, and nothing
    ran that was not dispatched. Returns the number of attempts checked."""
    dispatched = await pool.fetch(
        "SELECT stream_id, data->>'command_id' AS command_id, data->>'phase' AS phase,"
        " (data->>'attempt')::int AS attempt"
        " FROM request_events WHERE event_type = 'StepDispatched' AND stream_id = ANY($1::text[])",
        list(request_ids),
    )
    effects = await pool.fetch(
        "SELECT command_id, kind, attempt, count(*) AS n FROM debug_side_effects"
        " WHERE request_id = ANY($1::text[]) GROUP BY command_id, kind, attempt",
        list(request_ids),
    )
    ran = {r["command_id"]: (r["kind"], r["attempt"], r["n"]) for r in effects}
    problems = []
    for d in dispatched:
        got = ran.pop(d["command_id"], None)
        if got != (d["phase"], d["attempt"], 1):
            problems.append(f"{d['stream_id']} {d['phase']} #{d['attempt']}: ran {got}")
    problems += [f"ran without a recorded dispatch: {cid} {v}" for cid, v in ran.items()]
    assert not problems, "\n".join(problems[:30])
    return len(dispatched)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` of each server-sent event of a streaming response."""
    name, data = "message", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif not line.startswith(":"):
            field_name, _, value = line.partition(":")
            if field_name == "event":
                name = value.strip()
            elif field_name == "data":
                data.append(value.removeprefix(" "))
