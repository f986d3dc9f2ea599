"""The ``jira`` executor: tickets for the manual fulfilment (and ``jira`` steps).

``python -m pao_executors.jira --port N`` runs it (``pao dev`` starts it). Settings:
``pao_executors.jira.config.JiraSettings`` (``PAO_JIRA_URL``, ``PAO_JIRA_TOKEN`` or
``PAO_JIRA_EMAIL`` + ``PAO_JIRA_API_TOKEN``, ...). Besides the action it runs the
resolution poller (``PAO_JIRA_POLL_INTERVAL_S``; the gateway's webhook is the fast path).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from pao_common.cloudevents import CloudEvent
from pao_common.executor import Executor, create_executor_app
from pao_common.kafka import publish_event
from pao_common.service import ServiceRuntime
from pao_common.settings import Settings

from pao_executors.jira.actions import build_executor
from pao_executors.jira.client import LibraryJira, TicketSystem
from pao_executors.jira.config import JiraSettings
from pao_executors.jira.poller import ResolutionPoller


class KafkaCommandPublisher:
    """``CommandPublisher`` on the service's broker."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._broker = runtime.broker
        self._topic = runtime.topics.request_commands

    async def publish(self, event: CloudEvent) -> None:
        await publish_event(self._broker, self._topic, event)


def service_executor(settings: JiraSettings | None = None) -> Executor:
    """The executor as the service runs it: the library client, and the poller."""
    jira_settings = settings or JiraSettings()
    jira_settings.check()  # fail at start, not at the first ticket
    client = LibraryJira(jira_settings)
    executor = build_executor(client, jira_settings)

    @executor.on_start
    async def start_poller(runtime: ServiceRuntime) -> None:
        if jira_settings.poll_interval_s > 0:
            poller = ResolutionPoller(client, KafkaCommandPublisher(runtime), jira_settings)
            runtime.background.append(asyncio.create_task(poller.run(), name="jira-poller"))

    return executor


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = [
    "JiraSettings",
    "LibraryJira",
    "ResolutionPoller",
    "TicketSystem",
    "build_executor",
    "create_app",
    "service_executor",
]
