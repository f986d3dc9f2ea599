"""Composition root of the orchestrator: adapters, handler, relay, timers, subscribers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from opentelemetry.trace import SpanKind
from pao_common.catalog_api import CatalogApi
from pao_common.change_calendar import load_calendar
from pao_common.cloudevents import CloudEvent
from pao_common.identity import build_verifier
from pao_common.kafka import enqueue_event, ensure_topics, subscribe
from pao_common.kafka_security import kafka_security
from pao_common.messages import (
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
    ApproveRequest,
    CancelRequest,
    ChangeRequestDecided,
    Message,
    RejectRequest,
    SubmitRequest,
    TicketResolved,
)
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.service_tokens import TrustedServices
from pao_common.settings import Settings, get_settings
from pao_common.telemetry import current_traceparent, message_attributes, message_span, recording
from pao_common.topics import Topics

from pao_orchestrator.adapters.catalog import CatalogServiceItems
from pao_orchestrator.adapters.postgres import (
    PostgresEventStore,
    PostgresOutbox,
    PostgresTimerStore,
)
from pao_orchestrator.authentication import CommandAuthenticator
from pao_orchestrator.domain.decide import INFORMATIONAL
from pao_orchestrator.domain.decision import Inbound
from pao_orchestrator.errors import CommandNotAllowed
from pao_orchestrator.handler import RequestHandler
from pao_orchestrator.metrics import LifecycleGauges, RequestMetrics
from pao_orchestrator.ports import Commit, ItemCatalog, OutboxMessage
from pao_orchestrator.reconcile import redispatch_unanswered
from pao_orchestrator.relay import OutboxRelay, SendOne
from pao_orchestrator.timers import TimerPoller

log = logging.getLogger(__name__)

SPEC = ServiceSpec(name="orchestrator", uses_database=True)
GROUP_ID = "pao-orchestrator"
COMMANDS = (
    SubmitRequest,
    CancelRequest,
    ApproveRequest,
    RejectRequest,
    TicketResolved,
    ChangeRequestDecided,
)
RESULTS = (ActionStarted, ActionProgress, ActionSucceeded, ActionFailed)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Orchestrator:
    handler: RequestHandler
    relay: OutboxRelay
    timers: TimerPoller
    store: PostgresEventStore
    topics: Topics


def bootstrap(
    settings: Settings, pool: asyncpg.Pool, send: SendOne, catalog: ItemCatalog
) -> Orchestrator:
    """Wire the orchestrator over a database pool, a ``send(OutboxMessage)`` function and
    the catalog's item versions."""
    topics = Topics(settings.topic_suffix)
    store = PostgresEventStore(pool)
    clock = SystemClock()
    relay = OutboxRelay(PostgresOutbox(pool), send)
    handler = RequestHandler(
        store=store,
        catalog=catalog,
        clock=clock,
        topics=topics,
        system={"environment": settings.environment, "portal_url": settings.portal_url},
        observe=RequestMetrics().observe,
        # a calendar that does not load stops the start (InvalidChangeCalendar, file:line)
        calendar=load_calendar(settings.change_calendar),
    )
    timers = TimerPoller(PostgresTimerStore(pool), handler, clock)

    def after_commit(commit: Commit) -> None:
        if commit.outbox:
            relay.committed(commit.outbox)
        if commit.timers:
            timers.wake(min(t.due_at for t in commit.timers))

    handler.after_commit = after_commit
    return Orchestrator(handler=handler, relay=relay, timers=timers, store=store, topics=topics)


def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Register the orchestrator's subscribers and its background loops."""
    settings = runtime.settings
    holder: dict[str, Orchestrator] = {}
    # Fails fast on a missing issuer or trusted-service configuration, like the gateway.
    users = build_verifier(settings)
    authenticator = CommandAuthenticator(
        users, TrustedServices.from_settings(settings), issuer=settings.jwt_issuer
    )
    # Subscribers start with the broker, before ``start`` has the database: they wait.
    ready = asyncio.Event()
    ensured: set[str] = set(runtime.all_topics())

    async def send(message: OutboxMessage) -> asyncio.Future[Any]:
        if message.topic not in ensured:
            await ensure_topics(
                settings.kafka_bootstrap,
                [message.topic],
                partitions=settings.topic_partitions,
                security=kafka_security(settings),
            )
            ensured.add(message.topic)
        if not recording():
            return await enqueue_event(runtime.broker, message.topic, message.cloudevent())
        # The publish continues the trace of the message whose handling wrote the row.
        with message_span(
            f"{message.ce_type} publish",
            message.traceparent,
            kind=SpanKind.PRODUCER,
            attributes=lambda: {
                "messaging.system": "kafka",
                "messaging.operation": "publish",
                "messaging.destination.name": message.topic,
                "messaging.message.id": message.message_id,
                **message_attributes(message.body, message.key),
            },
        ):
            event = message.cloudevent().model_copy(update={"traceparent": current_traceparent()})
            return await enqueue_event(runtime.broker, message.topic, event)

    async def on_message(message: Message, event: CloudEvent) -> None:
        await ready.wait()
        handler = holder["orchestrator"].handler
        try:
            message = await authenticator.authenticate(message, event)
        except CommandNotAllowed as refused:
            # The refusal event is durable first; re-raised, ``subscribe`` then
            # dead-letters the command with the reason.
            await handler.refuse(
                request_id=refused.request_id,
                command_id=event.id,
                command_type=event.type,
                reason=refused.kind,
                detail=refused.detail,
            )
            raise
        inbound: Inbound = message  # type: ignore[assignment]  # accepts= narrows the types
        await handler.handle(inbound, event.id)

    subscribe(
        runtime.broker,
        {runtime.topics.request_commands: COMMANDS, runtime.topics.action_results: RESULTS},
        on_message,
        # Environments sharing a broker (topic suffixes) must not share the group:
        # a member of another one would hold up every rebalance of this one.
        group_id=GROUP_ID + settings.topic_suffix,
        dlq=runtime.dlq,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        ignored=INFORMATIONAL,  # an executor's started/progress reports change nothing
    )

    # Item versions come from the catalog service's API (it owns their table).
    catalog_client = httpx.AsyncClient(
        base_url=settings.catalog_url, timeout=settings.catalog_timeout_s
    )

    async def start(rt: ServiceRuntime) -> None:
        catalog = CatalogServiceItems(CatalogApi(catalog_client))
        orchestrator = bootstrap(settings, rt.db, send, catalog)
        holder["orchestrator"] = orchestrator
        ready.set()
        await redispatch_unanswered(orchestrator.store, orchestrator.topics)
        rt.background.append(asyncio.create_task(orchestrator.relay.run(), name="outbox-relay"))
        rt.background.append(asyncio.create_task(orchestrator.timers.run(), name="timers"))
        rt.run_every(
            settings.dedup_prune_interval_s,
            lambda: orchestrator.store.prune_processed(settings.dedup_retention_s),
            name="processed-messages-prune",
        )
        gauges = LifecycleGauges(rt.db)
        await gauges.refresh()
        rt.run_every(settings.metrics_refresh_s, gauges.refresh, name="lifecycle-gauges")

    async def stop(rt: ServiceRuntime) -> None:
        if "orchestrator" in holder:
            await holder["orchestrator"].relay.close()
        await catalog_client.aclose()
        await users.close()

    async def broker_reset(rt: ServiceRuntime) -> None:
        # Commands and results in flight were lost with the broker's data: send the
        # unanswered commands again (executors deduplicate on the command id).
        ensured.intersection_update(rt.all_topics())
        if "orchestrator" in holder:
            orchestrator = holder["orchestrator"]
            await redispatch_unanswered(orchestrator.store, orchestrator.topics)
            orchestrator.relay.wake()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    runtime.on_broker_reset.append(broker_reset)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or get_settings(), wire, title="PAO orchestrator")
