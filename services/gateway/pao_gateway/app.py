"""Composition root of the gateway: the public HTTP API.

``wire`` registers the subscribers (catalog cache invalidation, live request
events; each replica in consumer groups of its own, so every replica sees every
event) and the routes; ``start`` builds the components once PostgreSQL, Redis and
the broker are connected, and starts the submission relay.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from fastapi.middleware import Middleware
from pao_common.change_calendar import load_calendar
from pao_common.cloudevents import CloudEvent
from pao_common.identity import CREDENTIAL_EXTENSION
from pao_common.kafka import publish_event, subscribe
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    CatalogItemPublished,
    CatalogItemRetired,
    CommandRefused,
    Message,
    RejectRequest,
    RequestEvent,
    SubmitRequest,
    to_cloudevent,
)
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.service_tokens import ServiceSigner
from pao_common.settings import Settings, get_settings
from pao_common.telemetry import tag_current_span
from pao_common.topics import Topics

from pao_gateway import (
    api_approvals,
    api_catalog,
    api_reports,
    api_requests,
    api_resources,
    portal,
    servicenow_webhook,
    webhooks,
)
from pao_gateway.body_limit import BodySizeLimit
from pao_gateway.catalog_items import PostgresItemVersions
from pao_gateway.catalog_proxy import CatalogCache, CatalogProxy
from pao_gateway.fastpath import FastPath
from pao_gateway.http import Gateway, install_error_handlers
from pao_gateway.identity import build_verifier
from pao_gateway.live import LiveEvents
from pao_gateway.rate_limit import Rate, SubmissionRateLimiter
from pao_gateway.reports import LeadTimeReport
from pao_gateway.request_reads import RequestReader
from pao_gateway.request_service import RequestService
from pao_gateway.resource_claims import ResourceClaims
from pao_gateway.resource_reads import ResourceReader
from pao_gateway.resource_service import ResourceService
from pao_gateway.stream_slots import StreamSlots
from pao_gateway.submissions import SubmissionRelay, SubmissionStore

SPEC = ServiceSpec(name="gateway", uses_database=True, uses_redis=True)
SOURCE = "pao-gateway"


class KafkaCommandSender:
    """``CommandSender`` on the request commands topic, CloudEvents binary mode; a command
    acting for a person carries the gateway's signature for it (``ce_authtoken``), made at
    publish time (``pao_common.service_tokens``)."""

    def __init__(self, runtime: ServiceRuntime, signer: ServiceSigner) -> None:
        self._broker = runtime.broker
        self._topic = Topics(runtime.settings.topic_suffix).request_commands
        self._signer = signer

    async def send(self, command: Message, *, request_id: str, message_id: str) -> None:
        event: CloudEvent = to_cloudevent(command, source=SOURCE, subject=request_id, id=message_id)
        tag_current_span(command, request_id)
        person = command.requester if isinstance(command, SubmitRequest) else None
        if isinstance(command, ApproveRequest | RejectRequest | CancelRequest):
            person = command.by
        if person is not None:
            token = self._signer.sign(event, person)
            event = event.model_copy(update={"extensions": {CREDENTIAL_EXTENSION: token}})
        await publish_event(self._broker, self._topic, event)


# The gateway's consumers feed people (live status, catalog pages), not the next hop of a
# request: a tenth of a second is instant to them, and against a broker that answers each
# fetch only when the wait is up (the bundled one) it is 20 times fewer fetches than 5 ms.
FANOUT_FETCH_MAX_WAIT_MS = 100
# ... and, where consumers lengthen their wait while idle (the local and test profiles), the
# first event after a quiet spell may take half a second to show.
FANOUT_IDLE_FETCH_MAX_WAIT_MS = 500


def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Register the gateway's routes and subscribers."""
    settings = runtime.settings
    instance = settings.gateway_instance_id or uuid.uuid4().hex[:12]
    verifier = build_verifier(settings)  # fails fast on a missing issuer configuration
    signer = ServiceSigner.from_settings(settings)  # ... and on a missing signing key
    calendar = load_calendar(settings.change_calendar)  # ... and on a wrong calendar
    fastpath = FastPath(
        lambda: runtime.redis,
        prefix=f"{settings.redis_prefix}gw:",
        timeout_s=settings.gateway_redis_timeout_s,
        cooldown_s=settings.gateway_redis_cooldown_s,
    )
    cache = CatalogCache(fastpath, ttl_s=settings.gateway_catalog_cache_ttl_s)
    live = LiveEvents()
    limiter = SubmissionRateLimiter(
        fastpath,
        Rate(settings.gateway_submit_rate_per_min, settings.gateway_submit_burst),
        exempt_roles=frozenset(
            role.strip()
            for role in settings.gateway_submit_limit_exempt_roles.split(",")
            if role.strip()
        ),
    )
    stream_slots = StreamSlots(fastpath, settings.gateway_sse_streams_per_user)
    fanout_idle_ms = (
        max(settings.idle_fetch_max_wait_ms, FANOUT_IDLE_FETCH_MAX_WAIT_MS)
        if settings.idle_fetch_max_wait_ms > settings.fetch_max_wait_ms
        else None
    )
    versions_seen: list[PostgresItemVersions] = []
    claims_made: list[ResourceClaims] = []
    submissions_made: list[SubmissionStore] = []

    async def on_catalog_event(message: Message, event: CloudEvent) -> None:
        await cache.on_catalog_event(message, event)
        if isinstance(message, CatalogItemPublished | CatalogItemRetired):
            for versions in versions_seen:
                versions.forget(message.item_id)

    subscribe(
        runtime.broker,
        {runtime.topics.catalog_events: (CatalogItemPublished, CatalogItemRetired)},
        on_catalog_event,
        group_id=f"gateway-cache-{instance}",
        dlq=runtime.dlq,
        fetch_max_wait_ms=max(settings.fetch_max_wait_ms, FANOUT_FETCH_MAX_WAIT_MS),
        idle_fetch_max_wait_ms=fanout_idle_ms,
        session_timeout_ms=settings.session_timeout_ms,
    )

    async def on_request_event(message: Message, event: CloudEvent) -> None:
        await live.on_event(message, event)
        for claims in claims_made:
            await claims.on_event(message, event)

    def followed(request_id: str | None) -> bool:
        if request_id is not None and live.listening(request_id) > 0:
            return True
        return any(claims.holds(request_id) for claims in claims_made)

    subscribe(
        runtime.broker,
        {runtime.topics.request_events: (RequestEvent, CommandRefused)},
        on_request_event,
        group_id=f"gateway-live-{instance}",
        dlq=runtime.dlq,
        fetch_max_wait_ms=max(settings.fetch_max_wait_ms, FANOUT_FETCH_MAX_WAIT_MS),
        idle_fetch_max_wait_ms=fanout_idle_ms,
        session_timeout_ms=settings.session_timeout_ms,
        auto_offset_reset="latest",  # a stream starts from the read model, not the topic
        ignored=(CommandRefused,),  # refusals of other systems' commands: not a status
        # Only requests someone follows here, and the holders of resource claims: most
        # events concern nobody on this instance.
        wanted=followed,
    )
    clients: list[httpx.AsyncClient] = []
    relays: list[SubmissionRelay] = []

    async def start(runtime: ServiceRuntime) -> None:
        catalog_client = httpx.AsyncClient(
            base_url=settings.catalog_url, timeout=settings.gateway_catalog_timeout_s
        )
        clients.append(catalog_client)
        sender = KafkaCommandSender(runtime, signer)
        reader = RequestReader(runtime.db)
        versions = PostgresItemVersions(runtime.db)
        versions_seen.append(versions)
        submissions = SubmissionStore(
            runtime.db,
            fastpath,
            hint_ttl_s=settings.gateway_idempotency_ttl_s,
            topic=runtime.topics.request_commands,
        )
        submissions_made.append(submissions)
        app.state.reports = LeadTimeReport(runtime.db)
        claims = ResourceClaims(runtime.db, stale_s=settings.gateway_resource_claim_stale_s)
        claims_made.append(claims)
        await claims.sweep()  # learn the claims other replicas hold
        requests = RequestService(
            versions=versions,
            submissions=submissions,
            reader=reader,
            sender=sender,
            limiter=limiter,
            calendar=calendar,
            system={"environment": settings.environment, "portal_url": settings.portal_url},
        )
        app.state.gateway = Gateway(
            settings=settings,
            verifier=verifier,
            catalog=CatalogProxy(catalog_client, cache),
            versions=versions,
            requests=requests,
            reader=reader,
            live=live,
            stream_slots=stream_slots,
            resources=ResourceService(
                reader=ResourceReader(runtime.db),
                versions=versions,
                requests=requests,
                claims=claims,
            ),
        )
        relay = SubmissionRelay(
            runtime.db,
            sender,
            topic=runtime.topics.request_commands,
            republish_window_s=settings.gateway_republish_window_s,
        )
        relays.append(relay)
        runtime.run_every(settings.metrics_refresh_s, relay.refresh_gauges, name="outbox-gauges")
        runtime.run_every(stream_slots.lease_s / 3, stream_slots.renew, name="sse-lease-renewal")
        runtime.run_every(
            settings.gateway_resource_claim_sweep_s, claims.sweep, name="resource-claim-sweep"
        )
        runtime.background.append(asyncio.create_task(relay.run(settings.gateway_relay_interval_s)))

    async def broker_reset(runtime: ServiceRuntime) -> None:
        for relay in relays:
            await relay.republish_unprojected()

    async def stop(runtime: ServiceRuntime) -> None:
        for store in submissions_made:
            await store.close()
        for client in clients:
            await client.aclose()
        clients.clear()
        await verifier.close()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    runtime.on_broker_reset.append(broker_reset)
    # Innermost of the middleware (appended, not ``add_middleware``'s outermost), so the
    # 413s still carry a request id and are counted by ``ObserveRequests``.
    app.user_middleware.append(
        Middleware(
            BodySizeLimit,
            limit=settings.gateway_max_body_bytes,
            by_prefix={webhooks.PREFIX: settings.gateway_webhook_max_body_bytes},
        )
    )
    install_error_handlers(app)
    app.include_router(api_catalog.router)
    app.include_router(api_requests.router)
    app.include_router(api_approvals.router)
    app.include_router(api_resources.router)
    app.include_router(api_reports.router)
    app.include_router(api_approvals.notifications_router)
    webhooks.register(app, runtime)
    servicenow_webhook.register(app, runtime)
    portal.register(app, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or get_settings(), wire, title="PAO gateway")
