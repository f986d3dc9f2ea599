"""The notifier service: a follower of ``pao.requests.events`` in its own consumer group,
and the delivery loop. ``bootstrap`` wires the parts; ``wire`` registers them."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI
from pao_common.cloudevents import CloudEvent
from pao_common.kafka import subscribe
from pao_common.messages import CommandRefused, Message, RequestEvent
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.settings import Settings, get_settings

from pao_notifier.channels import SmtpRelay, Webhooks
from pao_notifier.notifier import Notifier, Retry
from pao_notifier.policy import NotificationPolicy, load_policy

SPEC = ServiceSpec(name="notifier", uses_database=True)
GROUP_ID = "pao-notifier"


def bootstrap(
    settings: Settings,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    policy: NotificationPolicy | None = None,
) -> Notifier:
    policy = policy if policy is not None else load_policy(settings.notifications_policy)
    smtp = SmtpRelay(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=policy.sender,
        timeout_s=settings.notify_timeout_s,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )
    return Notifier(
        pool=pool,
        policy=policy,
        smtp=smtp,
        webhooks=Webhooks(client, sandbox_url=settings.notify_webhook_sandbox_url),
        system={"environment": settings.environment, "portal_url": settings.portal_url},
        retry=Retry(attempts=settings.notify_attempts, backoff_s=settings.notify_backoff_s),
    )


def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    policy = load_policy(settings.notifications_policy)  # a bad policy stops the start
    ready = asyncio.Event()
    holder: dict[str, Notifier] = {}
    client = httpx.AsyncClient(timeout=settings.notify_timeout_s)

    async def on_event(message: Message, event: CloudEvent) -> None:
        await ready.wait()
        assert isinstance(message, RequestEvent)  # accepts= narrows the types
        await holder["notifier"].handle(message)

    subscribe(
        runtime.broker,
        {runtime.topics.request_events: (RequestEvent, CommandRefused)},
        on_event,
        group_id=GROUP_ID + settings.topic_suffix,
        dlq=runtime.dlq,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        ignored=(CommandRefused,),
    )

    async def start(rt: ServiceRuntime) -> None:
        notifier = bootstrap(settings, rt.db, client, policy)
        holder["notifier"] = notifier
        ready.set()
        rt.background.append(asyncio.create_task(notifier.run(), name="notifications"))

    async def stop(rt: ServiceRuntime) -> None:
        await client.aclose()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or get_settings(), wire, title="PAO notifier")
