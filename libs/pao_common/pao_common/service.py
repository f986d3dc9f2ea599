"""The shell every PAO service runs in: one FastAPI app with FastStream wired in.

``create_service_app`` builds the app from a ``ServiceSpec``; the service's own
``wire`` function registers its subscribers and routes on the ``ServiceRuntime``
before anything connects. Connections open in the lifespan, never at import.

Every service answers ``/healthz`` (the process is alive), ``/readyz`` (broker,
database and, where used, Redis answer; 503 naming what is down) and
``/metrics`` (Prometheus text format). Redis is a cache: a service that uses it
stays correct without it, so Redis down makes ``/readyz`` say ``degraded`` and
name it, with 200, and the service stays in rotation (slower, not wrong).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pao_common import db
from pao_common.dlq import DeadLetterPublisher
from pao_common.kafka import (
    BrokerEpoch,
    adapt_fetch_waits,
    create_broker,
    ensure_topics,
    stop_consuming,
)
from pao_common.kafka_security import kafka_security
from pao_common.logs import bind_context, configure_logging
from pao_common.settings import Settings
from pao_common.telemetry import configure_tracing, context_from_traceparent, spans_recorded
from pao_common.topics import Topics

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("pao.http")

HTTP_REQUESTS = Counter(
    "pao_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "pao_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# What the last readiness check found (``/readyz``, and every ``metrics_refresh_s`` in the
# background, so a service nobody probes still tells its scraper).
READY = Gauge("pao_ready", "1 when the last readiness check found every required dependency up")
DEPENDENCY_UP = Gauge(
    "pao_dependency_up",
    "1 when the last readiness check found the dependency answering",
    ["dependency"],
)

CHECK_TIMEOUT_S = 1.0
EPOCH_TIMEOUT_S = 5.0
# Python's default is 700 allocations; a request allocates thousands of objects.
GC_YOUNG_THRESHOLD = 10_000


@dataclass
class ServiceSpec:
    name: str
    uses_database: bool = True
    uses_redis: bool = False
    # Dependencies whose outage degrades the service instead of stopping it.
    optional_dependencies: frozenset[str] = frozenset({"redis"})
    # Topics this service needs beyond the core ones (e.g. its executor topic).
    extra_topics: list[str] = field(default_factory=list)


@dataclass
class ServiceRuntime:
    """What a service's code needs at hand; filled in as the lifespan connects."""

    spec: ServiceSpec
    settings: Settings
    broker: KafkaBroker
    topics: Topics
    dlq: DeadLetterPublisher
    pool: asyncpg.Pool | None = None
    redis: aioredis.Redis | None = None
    on_start: list[Callable[[ServiceRuntime], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[ServiceRuntime], Awaitable[None]]] = field(default_factory=list)
    # Run after the broker lost its data and the topics were recreated (re-send what
    # may have been lost with it).
    on_broker_reset: list[Callable[[ServiceRuntime], Awaitable[None]]] = field(default_factory=list)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    def run_every(self, interval_s: float, job: Callable[[], Awaitable[Any]], *, name: str) -> None:
        """Run ``job`` every ``interval_s`` in the background until the service stops; a
        failing run is logged and the next one comes all the same."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await job()
                except Exception as exc:
                    log.warning("%s failed: %r", name, exc)

        self.background.append(asyncio.create_task(loop(), name=name))

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError(f"{self.spec.name} has no database pool (not started?)")
        return self.pool

    def all_topics(self) -> list[str]:
        return self.topics.core() + self.spec.extra_topics

    async def readiness(self) -> dict[str, str]:
        """``{dependency: "ok" | reason}`` for every dependency this service uses; also
        sets the ``pao_ready`` and ``pao_dependency_up`` gauges."""
        checks: dict[str, Awaitable[None]] = {"kafka": self._check_kafka()}
        if self.spec.uses_database:
            checks["database"] = self._check_database()
        if self.spec.uses_redis and self.settings.redis_enabled:
            checks["redis"] = self._check_redis()
        results = await asyncio.gather(*checks.values(), return_exceptions=True)
        found = {
            name: "ok" if res is None else (str(res) or type(res).__name__)
            for name, res in zip(checks, results, strict=True)
        }
        for name, state in found.items():
            DEPENDENCY_UP.labels(name).set(state == "ok")
        down = {n for n, state in found.items() if state != "ok"} - self.spec.optional_dependencies
        READY.set(not down)
        return found

    async def _check_kafka(self) -> None:
        if not await self.broker.ping(CHECK_TIMEOUT_S):
            raise ConnectionError(f"broker {self.settings.kafka_bootstrap} unreachable")

    async def _check_database(self) -> None:
        if self.pool is None:
            raise ConnectionError("no connection pool")
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await self.pool.fetchval("SELECT 1")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConnectionError(f"database unreachable: {exc!r}") from exc

    async def _check_redis(self) -> None:
        if self.redis is None:
            raise ConnectionError("no redis client")
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await self.redis.ping()
        except (OSError, TimeoutError, aioredis.RedisError) as exc:
            raise ConnectionError(f"redis unreachable: {exc!r}") from exc


async def _start_epoch(runtime: ServiceRuntime) -> BrokerEpoch:
    epoch = BrokerEpoch(
        runtime.settings.kafka_bootstrap,
        runtime.topics.dlq,
        client_id=f"{runtime.settings.kafka_client_id}-{runtime.spec.name}",
        security=kafka_security(runtime.settings),
    )
    try:
        async with asyncio.timeout(EPOCH_TIMEOUT_S):
            await epoch.start()
    except BaseException:
        await _stop_epoch(epoch)
        raise
    return epoch


async def _stop_epoch(epoch: BrokerEpoch) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(EPOCH_TIMEOUT_S):
            await epoch.stop()


async def _keep_topics(runtime: ServiceRuntime, interval_s: float = 2.0) -> None:
    """Recreate the topics after the broker lost its data, then run ``on_broker_reset``.

    The dev broker keeps nothing across a restart, and it restarts faster than any
    outage check notices, so ``BrokerEpoch`` asks the broker what it still knows.
    After a loss the mark is left anew by a fresh client (the old one's group
    coordinator state went with the broker).
    """
    epoch: BrokerEpoch | None = None
    try:
        while True:
            await asyncio.sleep(interval_s)
            try:
                if epoch is None:
                    epoch = await _start_epoch(runtime)
                    continue
                async with asyncio.timeout(EPOCH_TIMEOUT_S):
                    if not await epoch.lost():
                        continue
                created = await ensure_topics(
                    runtime.settings.kafka_bootstrap,
                    runtime.all_topics(),
                    partitions=runtime.settings.topic_partitions,
                    security=kafka_security(runtime.settings),
                )
                log.warning("the broker lost its data; recreated topics %s", created)
                for hook in runtime.on_broker_reset:
                    await hook(runtime)
                old, epoch = epoch, await _start_epoch(runtime)
                await _stop_epoch(old)
            except Exception as exc:  # keep watching whatever happens
                log.warning("topic keeper: %r", exc)
    finally:
        if epoch is not None:
            await _stop_epoch(epoch)


async def _connect_broker(runtime: ServiceRuntime, deadline_s: float = 60.0) -> None:
    start = time.monotonic()
    delay = 0.2
    while True:
        try:
            await ensure_topics(
                runtime.settings.kafka_bootstrap,
                runtime.all_topics(),
                partitions=runtime.settings.topic_partitions,
                security=kafka_security(runtime.settings),
            )
            await runtime.broker.start()
            adapt_fetch_waits(runtime.broker)
            return
        except Exception as exc:
            if time.monotonic() - start > deadline_s:
                raise
            log.warning("broker %s not ready (%r); retrying", runtime.settings.kafka_bootstrap, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


class ObserveRequests:
    """ASGI middleware: request id (``X-Request-Id``, made up when absent) bound to the
    logs and echoed on the response, request count and latency per route as metrics, and
    a trace context for the request: the span FastAPI records when spans are recorded,
    else one of ours (unrecorded, ~10 µs) continuing the caller's ``traceparent`` or
    starting a trace. Its trace id reaches the logs and the messages published meanwhile.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which runs every request in an extra
    task with memory streams: a cost paid on every call of every service.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("x-request-id", request_id)
            await send(message)

        if trace.get_current_span().get_span_context().is_valid:
            span: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        else:
            span = _tracer.start_as_current_span(
                f"HTTP {scope['method']}",
                context=cast(Context, context_from_traceparent(headers.get("traceparent"))),
                kind=SpanKind.SERVER,
            )
        try:
            with bind_context(request_id=request_id), span:
                await self.app(scope, receive, send_with_id)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)


def create_service_app(
    spec: ServiceSpec,
    settings: Settings,
    wire: Callable[[FastAPI, ServiceRuntime], None],
    *,
    title: str | None = None,
) -> FastAPI:
    configure_logging(spec.name, level=settings.log_level, json_lines=settings.log_json)
    configure_tracing(spec.name)
    broker = create_broker(settings, client_id=spec.name)
    topics = Topics(settings.topic_suffix)
    runtime = ServiceRuntime(
        spec=spec,
        settings=settings,
        broker=broker,
        topics=topics,
        dlq=DeadLetterPublisher(broker, topics.dlq, source=spec.name),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if spec.uses_database:
            runtime.pool = await db.create_pool(
                settings.database_url, max_size=settings.database_pool_max
            )
        if spec.uses_redis and settings.redis_enabled:
            runtime.redis = aioredis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
        await _connect_broker(runtime)
        for hook in runtime.on_start:
            await hook(runtime)
        runtime.background.append(asyncio.create_task(_keep_topics(runtime)))
        runtime.run_every(settings.metrics_refresh_s, runtime.readiness, name="readiness-gauges")
        log.info("%s started", spec.name)
        try:
            yield
        finally:
            for task in runtime.background:
                task.cancel()
            await asyncio.gather(*runtime.background, return_exceptions=True)
            for hook in reversed(runtime.on_stop):
                await hook(runtime)
            await stop_consuming()
            await broker.stop()
            if runtime.redis is not None:
                await runtime.redis.aclose()
            if runtime.pool is not None:
                await runtime.pool.close()
            log.info("%s stopped", spec.name)

    app = FastAPI(
        title=title or f"PAO {spec.name}",
        lifespan=lifespan,
        version="0.1.0",
        # FastAPI's own HTTP spans only when spans are recorded: a span nobody records
        # still cost ~0.1 ms per request. Metrics are ObserveRequests' (Prometheus).
        telemetry={"tracing": spans_recorded(), "metrics": False, "logs": False},
    )
    app.state.runtime = runtime

    app.add_middleware(ObserveRequests, service=spec.name)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": spec.name}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        failing = {name for name, state in checks.items() if state != "ok"}
        down = sorted(failing - spec.optional_dependencies)
        degraded = sorted(failing & spec.optional_dependencies)
        status = "not ready" if down else "degraded" if degraded else "ready"
        body: dict[str, Any] = {"status": status, "checks": checks}
        if down:
            body["down"] = down
        if degraded:
            body["degraded"] = degraded
        return JSONResponse(body, status_code=503 if down else 200)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    wire(app, runtime)
    return app


def runtime_of(app: FastAPI) -> ServiceRuntime:
    runtime: ServiceRuntime = app.state.runtime
    return runtime


def settle_garbage_collector() -> None:
    """Freeze what exists once the app is built (modules, schemas, routes, models: it lives
    as long as the process) out of the cyclic collector's reach, and collect the youngest
    generation less often. Full collections then walk what requests left behind, not the
    whole program."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def serve(app: FastAPI, port: int, host: str = "127.0.0.1") -> None:
    """Run ``app`` with uvicorn until SIGINT/SIGTERM."""
    import uvicorn

    settle_garbage_collector()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")


def run_service(
    create_app: Callable[[Settings], FastAPI], default_port: Callable[[Settings], int]
) -> None:
    """Entry point of ``python -m pao_<service> [--port N] [--host H]``."""
    import argparse

    from pao_common.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=default_port(settings))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    serve(create_app(settings), args.port, args.host)
