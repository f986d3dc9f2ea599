"""The gateway's adapters: everything it reaches outside its own code, in one container.

``build_adapters(settings)`` makes the production ones; ``pao_gateway.app.create_app``
takes them, so a test gives the gateway another of any one with ``dataclasses.replace``::

    adapters = replace(build_adapters(settings), verifier=build_verifier(other_settings))
    app = create_app(settings, adapters)

The identity verifier, the command signer and the change calendar are built here, so a
missing issuer configuration, signing key or a wrong calendar stops the gateway before it
starts. The adapters over a connection the service shell opens in the lifespan (the
database pool, Redis, the broker) and the catalog's HTTP client (opened at start, closed
at stop) are factories, called once those exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import httpx
import redis.asyncio as aioredis
from pao_common.catalog_api import CatalogApi
from pao_common.change_calendar import ChangeCalendar, load_calendar
from pao_common.cloudevents import CloudEvent
from pao_common.identity import CREDENTIAL_EXTENSION
from pao_common.kafka import publish_event
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    Message,
    RejectRequest,
    SubmitRequest,
    to_cloudevent,
)
from pao_common.service import ServiceRuntime
from pao_common.service_tokens import ServiceSigner
from pao_common.settings import Settings
from pao_common.telemetry import tag_current_span
from pao_common.topics import Topics

from pao_gateway.catalog_items import CatalogItemVersions, ItemVersions
from pao_gateway.identity import TokenVerifier, build_verifier
from pao_gateway.submissions import CommandSender

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


class CatalogVersions(ItemVersions, Protocol):
    """``ItemVersions`` that keep what they read until told the item changed."""

    def forget(self, item_id: str) -> None:
        """Drop what is kept of ``item_id`` (``pao.catalog.events`` says it changed)."""
        ...


def shell_pool(runtime: ServiceRuntime) -> asyncpg.Pool:
    """The database pool the service shell opened."""
    return runtime.db


def shell_redis(runtime: ServiceRuntime) -> aioredis.Redis | None:
    """The Redis client the service shell opened; None when Redis is off."""
    return runtime.redis


def catalog_client(settings: Settings) -> httpx.AsyncClient:
    """A client of the catalog service's API."""
    return httpx.AsyncClient(
        base_url=settings.catalog_url, timeout=settings.gateway_catalog_timeout_s
    )


def catalog_item_versions(catalog: httpx.AsyncClient) -> CatalogVersions:
    """Item versions read through the catalog service's API (``pao_common.catalog_api``)."""
    return CatalogItemVersions(CatalogApi(catalog))


def kafka_commands(runtime: ServiceRuntime, signer: ServiceSigner) -> CommandSender:
    """Commands published on the broker the service shell connected."""
    return KafkaCommandSender(runtime, signer)


@dataclass(frozen=True)
class GatewayAdapters:
    """The gateway's edges, one field each (see the module docstring)."""

    verifier: TokenVerifier  # the caller's identity: bearer tokens of the configured issuer
    signer: ServiceSigner  # signs the commands the gateway sends for a person
    calendar: ChangeCalendar | None  # change windows a submission is held to; None: none
    pool: Callable[[ServiceRuntime], asyncpg.Pool] = shell_pool
    # Read on every use (the shell opens it in the lifespan; None: Redis off).
    redis: Callable[[ServiceRuntime], aioredis.Redis | None] = shell_redis
    catalog: Callable[[Settings], httpx.AsyncClient] = catalog_client
    item_versions: Callable[[httpx.AsyncClient], CatalogVersions] = catalog_item_versions
    commands: Callable[[ServiceRuntime, ServiceSigner], CommandSender] = kafka_commands


def build_adapters(settings: Settings) -> GatewayAdapters:
    """The production adapters of a gateway configured by ``settings``."""
    return GatewayAdapters(
        verifier=build_verifier(settings),  # fails fast on a missing issuer configuration
        signer=ServiceSigner.from_settings(settings),  # ... and on a missing signing key
        calendar=load_calendar(settings.change_calendar),  # ... and on a wrong calendar
    )
