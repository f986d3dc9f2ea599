"""The ``servicenow`` executor: change requests in ServiceNow for PAO's normal/major changes.

``python -m pao_executors.servicenow --port N`` runs it (``pao dev`` starts it, pointed at
the sandbox). Settings: ``pao_executors.servicenow.config.ServiceNowSettings``
(``PAO_SERVICENOW_URL``, ``PAO_SERVICENOW_USER``, the secret ``servicenow_password``).
Besides the actions it runs the approval poller (``PAO_SERVICENOW_POLL_INTERVAL_S``; the
gateway's webhook ``/api/v1/webhooks/servicenow`` is the fast path).
"""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from pao_common.cloudevents import CloudEvent
from pao_common.errors import SecretNotFound
from pao_common.executor import Executor, create_executor_app
from pao_common.executor.breaker import CircuitBreaker
from pao_common.executor.secrets import SecretResolver
from pao_common.kafka import publish_event
from pao_common.service import ServiceRuntime
from pao_common.servicenow import SecretBasicAuth, TableApi
from pao_common.settings import Settings

from pao_executors.servicenow.actions import build_executor
from pao_executors.servicenow.config import ServiceNowSettings
from pao_executors.servicenow.poller import ApprovalPoller


class KafkaCommandPublisher:
    """``CommandPublisher`` on the service's broker."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._broker = runtime.broker
        self._topic = runtime.topics.request_commands

    async def publish(self, event: CloudEvent) -> None:
        await publish_event(self._broker, self._topic, event)


def table_api(settings: ServiceNowSettings, secrets: SecretResolver | None = None) -> TableApi:
    """The Table API client of the instance (opened on first use, in the service's loop)."""
    resolver = secrets or SecretResolver()

    def password() -> str:
        try:
            return resolver.get(settings.password_secret)
        except SecretNotFound as exc:
            # Not there yet (a secret mounted late): fails like an outage, and is retried.
            raise httpx.TransportError(str(exc)) from exc

    client = httpx.AsyncClient(
        base_url=settings.url.rstrip("/"),
        auth=SecretBasicAuth(settings.user, password),
        timeout=settings.timeout_s,
        headers={"Accept": "application/json"},
    )
    breaker = CircuitBreaker(
        httpx.URL(settings.url).host or settings.url,
        executor="servicenow",
        failure_threshold=settings.circuit_failures,
        reset_timeout_s=settings.circuit_reset_s,
    )
    return TableApi(client, breaker)


def service_executor(settings: ServiceNowSettings | None = None) -> Executor:
    """The executor as the service runs it: the Table API client, and the poller."""
    config = settings or ServiceNowSettings()
    config.check()  # fail at start, not at the first change
    holder: list[TableApi] = []

    def table() -> TableApi:
        if not holder:
            holder.append(table_api(config))
        return holder[0]

    executor = build_executor(table, config.url)

    @executor.on_start
    async def start_poller(runtime: ServiceRuntime) -> None:
        if config.poll_interval_s > 0:
            poller = ApprovalPoller(table, KafkaCommandPublisher(runtime), config)
            runtime.background.append(
                asyncio.create_task(poller.run(), name="servicenow-approval-poller")
            )

    return executor


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = [
    "ApprovalPoller",
    "ServiceNowSettings",
    "build_executor",
    "create_app",
    "service_executor",
    "table_api",
]
