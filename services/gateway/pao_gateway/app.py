"""Composition root of the gateway: the public HTTP API over its adapters.

``create_app(settings, adapters)`` builds the app over ``pao_gateway.bootstrap``'s
adapters; ``wire`` registers the subscribers (catalog cache invalidation, live request
events) and the routes; ``GatewayService.start`` builds the components once PostgreSQL,
Redis and the broker are connected, and starts the submission relay.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from fastapi.middleware import Middleware
from pao_common.catalog_api import CatalogApi
from pao_common.cloudevents import CloudEvent
from pao_common.kafka import subscribe
from pao_common.messages import (
    CatalogItemPublished,
    CatalogItemRetired,
    CommandRefused,
    Message,
    RequestEvent,
)
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.settings import Settings, get_settings

from pao_gateway import (
    api_approvals,
    api_catalog,
    api_reports,
    api_requests,
    api_resources,
    portal,
    servicenow_webhook,
    webhook_intake,
    webhooks,
)
from pao_gateway.body_limit import BodySizeLimit
from pao_gateway.bootstrap import CatalogVersions, GatewayAdapters, build_adapters
from pao_gateway.catalog_proxy import CatalogCache, CatalogProxy
from pao_gateway.fastpath import FastPath
from pao_gateway.http import Gateway, install_error_handlers
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


# The gateway's consumers feed people (live status, catalog pages), not the next hop of a
# request: a tenth of a second is instant to them, and against a broker that answers each
# fetch only when the wait is up (the bundled one) it is 20 times fewer fetches than 5 ms.
FANOUT_FETCH_MAX_WAIT_MS = 100
# ... and, where consumers lengthen their wait while idle (the local and test profiles), the
# first event after a quiet spell may take half a second to show.
FANOUT_IDLE_FETCH_MAX_WAIT_MS = 500


@dataclass
class Started:
    """What ``start`` builds over the open connections, for the hooks that come after."""

    catalog: httpx.AsyncClient
    versions: CatalogVersions
    submissions: SubmissionStore
    claims: ResourceClaims
    relay: SubmissionRelay


class GatewayService:
    """The gateway's components over its ``adapters``: those the subscribers need are made
    at wiring (before anything connects), the rest by ``start`` once the connections are
    open; until then the subscribers have no versions to forget nor claims to follow."""

    def __init__(self, app: FastAPI, runtime: ServiceRuntime, adapters: GatewayAdapters) -> None:
        settings = runtime.settings
        self.app = app
        self.runtime = runtime
        self.settings = settings
        self.adapters = adapters
        self.instance = settings.gateway_instance_id or uuid.uuid4().hex[:12]
        self.fastpath = FastPath(
            lambda: adapters.redis(runtime),
            prefix=f"{settings.redis_prefix}gw:",
            timeout_s=settings.gateway_redis_timeout_s,
            cooldown_s=settings.gateway_redis_cooldown_s,
        )
        self.cache = CatalogCache(self.fastpath, ttl_s=settings.gateway_catalog_cache_ttl_s)
        self.live = LiveEvents()
        self.limiter = SubmissionRateLimiter(
            self.fastpath,
            Rate(settings.gateway_submit_rate_per_min, settings.gateway_submit_burst),
            exempt_roles=frozenset(
                role.strip()
                for role in settings.gateway_submit_limit_exempt_roles.split(",")
                if role.strip()
            ),
        )
        self.stream_slots = StreamSlots(self.fastpath, settings.gateway_sse_streams_per_user)
        self.started: Started | None = None

    async def on_catalog_event(self, message: Message, event: CloudEvent) -> None:
        await self.cache.on_catalog_event(message, event)
        if self.started is not None and isinstance(
            message, CatalogItemPublished | CatalogItemRetired
        ):
            self.started.versions.forget(message.item_id)

    async def on_request_event(self, message: Message, event: CloudEvent) -> None:
        await self.live.on_event(message, event)
        if self.started is not None:
            await self.started.claims.on_event(message, event)

    def followed(self, request_id: str | None) -> bool:
        """Whether anyone on this instance follows ``request_id``: a live stream, or a
        resource claim a request holds."""
        if request_id is not None and self.live.listening(request_id) > 0:
            return True
        return self.started is not None and self.started.claims.holds(request_id)

    def subscribe(self) -> None:
        """The catalog cache invalidation and the live request events; each replica in
        consumer groups of its own, so every replica sees every event."""
        runtime, settings = self.runtime, self.settings
        fanout_idle_ms = (
            max(settings.idle_fetch_max_wait_ms, FANOUT_IDLE_FETCH_MAX_WAIT_MS)
            if settings.idle_fetch_max_wait_ms > settings.fetch_max_wait_ms
            else None
        )
        # Both feed people (not the next hop of a request): the same, longer waits.
        fanout = functools.partial(
            subscribe,
            runtime.broker,
            dlq=runtime.dlq,
            fetch_max_wait_ms=max(settings.fetch_max_wait_ms, FANOUT_FETCH_MAX_WAIT_MS),
            idle_fetch_max_wait_ms=fanout_idle_ms,
            session_timeout_ms=settings.session_timeout_ms,
            # FastStream's pipeline once per fetch, not per record (and most live events
            # are passed over)
            batch=True,
        )
        fanout(
            {runtime.topics.catalog_events: (CatalogItemPublished, CatalogItemRetired)},
            self.on_catalog_event,
            group_id=f"gateway-cache-{self.instance}",
        )
        fanout(
            {runtime.topics.request_events: (RequestEvent, CommandRefused)},
            self.on_request_event,
            group_id=f"gateway-live-{self.instance}",
            auto_offset_reset="latest",  # a stream starts from the read model, not the topic
            ignored=(CommandRefused,),  # refusals of other systems' commands: not a status
            # Only requests someone follows here, and the holders of resource claims: most
            # events concern nobody on this instance.
            wanted=self.followed,
        )

    async def start(self, runtime: ServiceRuntime) -> None:
        settings, adapters = self.settings, self.adapters
        pool = adapters.pool(runtime)
        catalog = adapters.catalog(settings)
        sender = adapters.commands(runtime, adapters.signer)
        reader = RequestReader(pool)
        versions = adapters.item_versions(catalog)
        submissions = SubmissionStore(
            pool,
            self.fastpath,
            hint_ttl_s=settings.gateway_idempotency_ttl_s,
            topic=runtime.topics.request_commands,
        )
        claims = ResourceClaims(pool, stale_s=settings.gateway_resource_claim_stale_s)
        relay = SubmissionRelay(
            pool,
            sender,
            topic=runtime.topics.request_commands,
            republish_window_s=settings.gateway_republish_window_s,
        )
        self.started = Started(
            catalog=catalog, versions=versions, submissions=submissions, claims=claims, relay=relay
        )
        await claims.sweep()  # learn the claims other replicas hold
        requests = RequestService(
            versions=versions,
            submissions=submissions,
            reader=reader,
            sender=sender,
            limiter=self.limiter,
            calendar=adapters.calendar,
            system={"environment": settings.environment, "portal_url": settings.portal_url},
        )
        self.app.state.gateway = Gateway(
            settings=settings,
            verifier=adapters.verifier,
            catalog=CatalogProxy(catalog, self.cache),
            versions=versions,
            requests=requests,
            reader=reader,
            live=self.live,
            stream_slots=self.stream_slots,
            resources=ResourceService(
                reader=ResourceReader(pool), versions=versions, requests=requests, claims=claims
            ),
            reports=LeadTimeReport(pool, CatalogApi(catalog)),
        )
        runtime.run_every(settings.metrics_refresh_s, relay.refresh_gauges, name="outbox-gauges")
        runtime.run_every(
            self.stream_slots.lease_s / 3, self.stream_slots.renew, name="sse-lease-renewal"
        )
        runtime.run_every(
            settings.gateway_resource_claim_sweep_s, claims.sweep, name="resource-claim-sweep"
        )
        runtime.background.append(asyncio.create_task(relay.run(settings.gateway_relay_interval_s)))

    async def broker_reset(self, runtime: ServiceRuntime) -> None:
        if self.started is not None:
            await self.started.relay.republish_unprojected()

    async def stop(self, runtime: ServiceRuntime) -> None:
        if self.started is not None:
            await self.started.submissions.close()
            await self.started.catalog.aclose()
        await self.adapters.verifier.close()


def wire(app: FastAPI, runtime: ServiceRuntime, adapters: GatewayAdapters | None = None) -> None:
    """Register the gateway's routes and subscribers over ``adapters`` (the production ones
    of ``runtime.settings`` when None)."""
    settings = runtime.settings
    service = GatewayService(app, runtime, adapters or build_adapters(settings))
    service.subscribe()
    runtime.on_start.append(service.start)
    runtime.on_stop.append(service.stop)
    runtime.on_broker_reset.append(service.broker_reset)
    # Innermost of the middleware (appended, not ``add_middleware``'s outermost), so the
    # 413s still carry a request id and are counted by ``ObserveRequests``.
    app.user_middleware.append(
        Middleware(
            BodySizeLimit,
            limit=settings.gateway_max_body_bytes,
            by_prefix={webhook_intake.PREFIX: settings.gateway_webhook_max_body_bytes},
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


def create_app(
    settings: Settings | None = None, adapters: GatewayAdapters | None = None
) -> FastAPI:
    """The gateway over ``adapters`` (``pao_gateway.bootstrap``; the production ones of
    ``settings`` when None)."""
    return create_service_app(
        SPEC,
        settings or get_settings(),
        lambda app, runtime: wire(app, runtime, adapters),
        title="PAO gateway",
    )
