"""``pao dev``: the whole platform on one machine, with prefixed logs, stopped by Ctrl-C.

Order: broker (bundled unless ``PAO_KAFKA_BOOTSTRAP`` names one) and its topics,
PostgreSQL (``PAO_DATABASE_URL``, else an embedded server under ``.pao/``) and its
migrations, Redis if reachable, then every service as its own process (the built-in
executors all in one, unless ``--separate-executors``). It waits
until each ``/readyz`` answers 200 and prints the URLs. SIGINT or SIGTERM stops
the services, then the broker and the embedded database, leaving nothing behind.

This module says what runs, with which environment (``DevPlan``: the sandbox for every
system without credentials); ``pao_devtools.platform`` runs it. Dev-only code: that
runner, the broker, the embedded database (``pao_devtools``) and the sandbox
(``pao_sandbox``) come with the dev extra, which the production image does not install;
there ``pao dev`` says so (``pao_cli.main``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import click
from pao_common.errors import ConfigurationError
from pao_common.executor.secrets import secret_env_var
from pao_common.kafka import ensure_topics
from pao_common.kafka_security import kafka_security
from pao_common.settings import Settings
from pao_common.topics import Topics
from pao_devtools.platform import STATE_DIR, Platform, ServiceProcess, say
from pao_executors.registry import (
    BUILTIN_EXECUTORS_SERVICE,
    CMDB_SYNC_PORT_OFFSET,
    CMDB_SYNC_SERVICE,
    EXECUTOR_SERVICES,
)

SANDBOX_PORT_OFFSET = 16  # the sandbox listens at executors_base_port + 16 (8099 by default)
# and its SMTP catcher at executors_base_port + 17 (8100 by default)
SANDBOX_SMTP_PORT_OFFSET = 17


@dataclass(frozen=True)
class SandboxedSystem:
    """An external system an executor drives; without credentials it gets the sandbox."""

    name: str
    configured_by: tuple[str, ...]  # any of these set = real credentials were given
    env: dict[str, str]  # what the executor gets instead ({sandbox} = the sandbox's URL)


SANDBOXED_SYSTEMS = (
    SandboxedSystem(
        "JIRA",
        ("PAO_JIRA_URL",),
        {"PAO_JIRA_URL": "{sandbox}/jira", "PAO_JIRA_TOKEN": "sandbox-jira-pat"},
    ),
    SandboxedSystem(
        "GitHub",
        ("PAO_GITHUB_TOKEN", "PAO_GITHUB_APP_ID"),
        {"PAO_GITHUB_API_URL": "{sandbox}/github", "PAO_GITHUB_TOKEN": "sandbox-github-token"},
    ),
    SandboxedSystem(
        "Terraform Cloud",
        ("PAO_TFC_TOKEN",),
        {
            "PAO_TFC_URL": "{sandbox}/tfc",
            "PAO_TFC_TOKEN": "sandbox-tfc-token",
            "PAO_TFC_ORGANIZATION": "pao",
            "PAO_TERRAFORM_MODE": "tfc",
        },
    ),
    # Change requests (the change calendar's change_requests:), by the servicenow executor.
    SandboxedSystem(
        "ServiceNow",
        ("PAO_SERVICENOW_URL",),
        {
            "PAO_SERVICENOW_URL": "{sandbox}/servicenow",
            "PAO_SERVICENOW_USER": "pao.integration",
            "PAO_SECRET_SERVICENOW_PASSWORD": "sandbox-servicenow-password",
        },
    ),
    # REST targets are the platform's own APIs: an allowlist (or a sandbox of one's own)
    # means they are real; otherwise every call goes to the sandbox's echo target.
    SandboxedSystem(
        "REST",
        ("PAO_REST_ALLOWED_HOSTS", "PAO_REST_SANDBOX_URL"),
        {"PAO_REST_SANDBOX_URL": "{sandbox}/echo"},
    ),
    # The CMDB sync's ServiceNow instance; its password is a secret (servicenow_password).
    SandboxedSystem(
        "ServiceNow CMDB",
        ("PAO_CMDB_URL",),
        {
            "PAO_CMDB_URL": "{sandbox}/servicenow",
            "PAO_CMDB_USER": "pao.integration",
            secret_env_var("servicenow_password"): "sandbox-servicenow-password",
        },
    ),
)


def sandbox_environment(
    environ: dict[str, str], sandbox_url: str, gateway_port: int
) -> tuple[dict[str, str], list[str]]:
    """The variables that point unconfigured systems at the sandbox, and their names."""
    env: dict[str, str] = {}
    sandboxed: list[str] = []
    for system in SANDBOXED_SYSTEMS:
        if any(environ.get(var) for var in system.configured_by):
            continue
        sandboxed.append(system.name)
        env.update({k: v.format(sandbox=sandbox_url) for k, v in system.env.items()})
    if len(sandboxed) == len(SANDBOXED_SYSTEMS) and not environ.get("PAO_SECRETS_SANDBOX"):
        # Nothing real to reach: a secret nobody configured gets a placeholder, so items
        # can be tried end to end (only the sandbox ever sees it).
        env["PAO_SECRETS_SANDBOX"] = "1"
    if "JIRA" in sandboxed:
        # Resolving a sandbox ticket calls the gateway's JIRA webhook, signed with a secret.
        secret = environ.get("PAO_JIRA_WEBHOOK_SECRET") or secrets.token_hex(16)
        env["PAO_JIRA_WEBHOOK_SECRET"] = secret
        env["PAO_SANDBOX_JIRA__WEBHOOK_SECRET"] = secret
        env["PAO_SANDBOX_JIRA__WEBHOOK_URL"] = (
            f"http://127.0.0.1:{gateway_port}/api/v1/webhooks/jira"
        )
    if "ServiceNow" in sandboxed:
        # Approving a sandbox change request calls the gateway's ServiceNow webhook.
        secret = environ.get("PAO_SERVICENOW_WEBHOOK_SECRET") or secrets.token_hex(16)
        env["PAO_SERVICENOW_WEBHOOK_SECRET"] = secret
        env["PAO_SANDBOX_SERVICENOW__WEBHOOK_SECRET"] = secret
        env["PAO_SANDBOX_SERVICENOW__WEBHOOK_URL"] = (
            f"http://127.0.0.1:{gateway_port}/api/v1/webhooks/servicenow"
        )
    return env, sandboxed


def notify_environment(
    environ: dict[str, str], sandbox_url: str, smtp_port: int, catalog_dir: Path
) -> tuple[dict[str, str], list[str]]:
    """The notifier's policy (``policies/notifications.yaml`` beside the catalog unless
    ``PAO_NOTIFICATIONS_POLICY`` names one), and, unless configured, the sandbox's SMTP
    catcher for its e-mails and the sandbox's webhook sink for its chat posts."""
    env: dict[str, str] = {}
    sandboxed: list[str] = []
    if "PAO_NOTIFICATIONS_POLICY" not in environ:
        shipped = catalog_dir.absolute().parent / "policies" / "notifications.yaml"
        if shipped.is_file():
            env["PAO_NOTIFICATIONS_POLICY"] = str(shipped)
    if not environ.get("PAO_SMTP_HOST"):
        sandboxed.append("e-mail")
        env["PAO_SMTP_HOST"] = "127.0.0.1"
        env["PAO_SMTP_PORT"] = str(smtp_port)
        env["PAO_SMTP_STARTTLS"] = "false"
    if "PAO_NOTIFY_WEBHOOK_SANDBOX_URL" not in environ:
        sandboxed.append("chat webhooks")
        env["PAO_NOTIFY_WEBHOOK_SANDBOX_URL"] = f"{sandbox_url}/notify/webhooks"
    env["PAO_SANDBOX_SMTP_PORT"] = str(smtp_port)
    return env, sandboxed


def change_calendar_env(environ: dict[str, str], catalog_dir: Path) -> dict[str, str]:
    """The change calendar shipped beside the catalog (``policies/change-calendar.yaml``
    next to ``catalog/``), unless one is configured (``PAO_CHANGE_CALENDAR=``: none)."""
    if "PAO_CHANGE_CALENDAR" in environ:
        return {}
    shipped = catalog_dir.absolute().parent / "policies" / "change-calendar.yaml"
    return {"PAO_CHANGE_CALENDAR": str(shipped)} if shipped.is_file() else {}


def catalog_url_env(environ: dict[str, str], settings: Settings) -> dict[str, str]:
    """The catalog service this run starts, for the services that call it (the gateway's
    proxy and item versions, the orchestrator's item versions, the CMDB sync's mappings),
    unless ``PAO_CATALOG_URL`` names one."""
    if environ.get("PAO_CATALOG_URL"):
        return {}
    return {"PAO_CATALOG_URL": f"http://127.0.0.1:{settings.catalog_port}"}


def planned_services(
    settings: Settings, *, with_sandbox: bool, separate_executors: bool = False
) -> list[ServiceProcess]:
    services = []
    if with_sandbox:
        port = settings.executors_base_port + SANDBOX_PORT_OFFSET
        services.append(ServiceProcess("sandbox", "pao_sandbox", port))
    services += [
        ServiceProcess("catalog", "pao_catalog", settings.catalog_port),
        ServiceProcess("orchestrator", "pao_orchestrator", settings.orchestrator_port),
        ServiceProcess("gateway", "pao_gateway", settings.gateway_port),
        ServiceProcess("notifier", "pao_notifier", settings.notifier_port),
    ]
    if separate_executors:
        for offset, (name, module) in enumerate(EXECUTOR_SERVICES.items()):
            services.append(
                ServiceProcess(f"exec-{name}", module, settings.executors_base_port + offset)
            )
    else:
        # One process, one consumer for every built-in action type: each idle consumer
        # polls the bundled broker several times a second (docs/performance.md, Idle).
        port = settings.executors_base_port
        services.append(ServiceProcess("executors", BUILTIN_EXECUTORS_SERVICE, port))
    # The CMDB sync follows pao.resources.events into ServiceNow (the sandbox's unless
    # PAO_CMDB_URL names an instance).
    services.append(
        ServiceProcess(
            "cmdb-sync", CMDB_SYNC_SERVICE, settings.executors_base_port + CMDB_SYNC_PORT_OFFSET
        )
    )
    return services


@dataclass(frozen=True)
class DevPlan:
    """What ``pao dev`` runs: the services, and the environment that points every system
    without credentials (and the notifier's e-mail and chat posts) at the sandbox."""

    sandbox_url: str
    smtp_port: int
    sandbox_env: dict[str, str]
    sandboxed: list[str]
    notify_env: dict[str, str]
    notify_sandboxed: list[str]
    services: list[ServiceProcess]

    @classmethod
    def of(cls, settings: Settings, *, separate_executors: bool = False) -> DevPlan:
        sandbox_url = f"http://127.0.0.1:{settings.executors_base_port + SANDBOX_PORT_OFFSET}"
        smtp_port = settings.executors_base_port + SANDBOX_SMTP_PORT_OFFSET
        sandbox_env, sandboxed = sandbox_environment(
            dict(os.environ), sandbox_url, settings.gateway_port
        )
        notify_env, notify_sandboxed = notify_environment(
            dict(os.environ), sandbox_url, smtp_port, Path(settings.catalog_dir)
        )
        services = planned_services(
            settings,
            with_sandbox=bool(sandboxed or notify_sandboxed),
            separate_executors=separate_executors,
        )
        return cls(
            sandbox_url, smtp_port, sandbox_env, sandboxed, notify_env, notify_sandboxed, services
        )


async def run_platform(
    settings: Settings, broker_port: int, *, separate_executors: bool = False
) -> int:
    started = time.monotonic()
    await asyncio.to_thread(STATE_DIR.mkdir, exist_ok=True)
    plan = DevPlan.of(settings, separate_executors=separate_executors)
    platform = Platform(settings, broker_port=broker_port, services=plan.services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        bootstrap = platform.start_broker()
        topics = Topics(settings.topic_suffix)
        created = await ensure_topics(
            bootstrap,
            topics.core(),
            partitions=settings.topic_partitions,
            security=kafka_security(settings),
        )
        made = ", ".join(created) or "all existed"
        say(f"topics ready ({settings.topic_partitions} partitions): {made}")
        database_url = await platform.prepare_database()
        redis_url = await platform.redis_url()
        platform.env = {
            **os.environ,
            "PAO_KAFKA_BOOTSTRAP": bootstrap,
            "PAO_DATABASE_URL": database_url,
            "PAO_REDIS_URL": redis_url,
            "PAO_PROFILE": settings.profile.value,
            "PAO_LOG_JSON": os.environ.get("PAO_LOG_JSON", "false"),
            "PYTHONUNBUFFERED": "1",
            **catalog_url_env(dict(os.environ), settings),
            **plan.sandbox_env,
            **plan.notify_env,
            **change_calendar_env(dict(os.environ), Path(settings.catalog_dir)),
        }
        if platform.env.get("PAO_CHANGE_CALENDAR"):
            say(f"change calendar: {platform.env['PAO_CHANGE_CALENDAR']}")
        if platform.env.get("PAO_NOTIFICATIONS_POLICY"):
            say(f"notification policy: {platform.env['PAO_NOTIFICATIONS_POLICY']}")
        await platform.start_services()
        ready = asyncio.create_task(platform.wait_ready())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([ready, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            stopper.cancel()
            ready.result()
            elapsed = time.monotonic() - started
            lines = [f"  {s.name:<14} {s.url}" for s in platform.services]
            cmdb_url = platform.env.get("PAO_CMDB_URL", "")
            if "ServiceNow CMDB" in plan.sandboxed:
                lines.append(f"  {'CMDB (CIs)':<14} {cmdb_url}/ui")
            elif cmdb_url:
                lines.append(f"  {'CMDB':<14} {cmdb_url}")
            if plan.sandboxed:
                lines.append(
                    click.style(
                        f"  sandboxed: {', '.join(plan.sandboxed)} (no credentials given;"
                        " tickets and runs are resolved at the sandbox URL above)"
                        + (
                            "; unconfigured secrets get placeholders"
                            if plan.sandbox_env.get("PAO_SECRETS_SANDBOX")
                            else ""
                        ),
                        fg="yellow",
                    )
                )
            if plan.notify_sandboxed:
                lines.append(
                    click.style(
                        f"  notifications: {' and '.join(plan.notify_sandboxed)} to the"
                        f" sandbox (SMTP 127.0.0.1:{plan.smtp_port}), read them at"
                        f" {plan.sandbox_url}/notify/ui",
                        fg="yellow",
                    )
                )
            say(
                click.style(f"all ready in {elapsed:.1f}s", fg="green", bold=True)
                + "\n"
                + "\n".join(lines)
                + f"\n  API docs       http://127.0.0.1:{settings.gateway_port}/docs"
                + "\nCtrl-C stops everything."
            )
            await platform.watch(stop)
        else:
            ready.cancel()
    except click.ClickException as exc:
        say(click.style(exc.format_message(), fg="red"))
        code = 1
    finally:
        say("stopping ...")
        await platform.stop()
        say("stopped")
    return code


@click.command(help="Start the whole platform locally; Ctrl-C stops it.")
@click.option("--broker-port", default=9092, show_default=True, help="Port of the bundled broker")
@click.option(
    "--separate-executors",
    is_flag=True,
    help="Run each built-in executor as its own process (as Kubernetes deploys them)"
    " instead of all in one",
)
def dev(broker_port: int, separate_executors: bool) -> None:
    settings = Settings()
    try:
        kafka_security(settings)  # a bad TLS / SASL combination stops here, not in 8 services
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(
        asyncio.run(run_platform(settings, broker_port, separate_executors=separate_executors))
    )
