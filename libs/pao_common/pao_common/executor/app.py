"""The executor service: an ``Executor`` served on its topic, with ``/actions`` to list it;
or several executors in one service, one consumer over their topics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from pao_common.executor.dedup import DedupStore, PostgresDedupStore
from pao_common.executor.registry import Executor
from pao_common.executor.runner import ActionRunner, KafkaResultPublisher
from pao_common.executor.secrets import SecretResolver, install_log_redaction
from pao_common.kafka import Handler, subscribe
from pao_common.messages import CompensateAction, ExecuteAction
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app, run_service
from pao_common.settings import Settings, get_settings
from pao_common.topics import Topics


def executor_spec(executor: Executor, settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name=executor.service_name,
        uses_database=True,
        extra_topics=[Topics(settings.topic_suffix).actions(executor.family)],
    )


def create_executor_app(
    executor: Executor,
    settings: Settings | None = None,
    *,
    dedup: DedupStore | None = None,
    secrets: SecretResolver | None = None,
) -> FastAPI:
    """The service of ``executor``: consumes ``pao.actions.<family>``, answers on results.

    ``app.state.action_runner`` is the ``ActionRunner`` (tests wait on it).
    """
    return create_executors_app([executor], settings, dedup=dedup, secrets=secrets)


def create_executors_app(
    executors: Sequence[Executor],
    settings: Settings | None = None,
    *,
    name: str | None = None,
    dedup: DedupStore | None = None,
    secrets: SecretResolver | None = None,
) -> FastAPI:
    """One service serving several executors: one consumer over their
    ``pao.actions.<family>`` topics, each topic's commands to its executor's own
    ``ActionRunner`` (dedup, concurrency limit, circuit breakers, start and stop hooks as
    in a service of its own). ``pao dev`` runs the built-in executors so
    (``pao_executors.builtin``): one process and one polling consumer instead of one per
    action family. With one executor it is that executor's service
    (``create_executor_app``): its name, its group ``pao-executor-<family>``.

    ``app.state.action_runners`` maps each family to its runner; with one executor
    ``app.state.action_runner`` is that runner.
    """
    if not executors:
        raise ValueError("an executor service needs at least one executor")
    families = [e.family for e in executors]
    if len(set(families)) != len(families):
        raise ValueError(f"executor families served twice: {families}")
    for executor in executors:
        executor.validate()
    settings = settings or get_settings()
    topics = Topics(settings.topic_suffix)
    single = executors[0] if len(executors) == 1 else None
    service = name or (single.service_name if single else "executors")
    # One group per family for a service of its own (as it always was); a shared
    # service's consumer reads every family's topic, so it is a group of its own.
    group = f"pao-executor-{single.family}" if single else f"pao-{service}"
    spec = ServiceSpec(
        name=service,
        uses_database=True,
        extra_topics=[topics.actions(e.family) for e in executors],
    )
    wiring = _ExecutorsWiring(executors, settings, group, dedup=dedup, secrets=secrets)
    title = f"PAO executor {single.family}" if single else f"PAO executors ({', '.join(families)})"
    app = create_service_app(spec, settings, wiring.wire, title=title)
    install_log_redaction()
    return app


class _ExecutorsWiring:
    """How a service's executors are wired into its runtime: one runner each, one
    consumer (group ``group``) over their topics, their hooks, and ``/actions``."""

    def __init__(
        self,
        executors: Sequence[Executor],
        settings: Settings,
        group: str,
        *,
        dedup: DedupStore | None,
        secrets: SecretResolver | None,
    ) -> None:
        self.executors = executors
        self.single = executors[0] if len(executors) == 1 else None
        self.settings = settings
        self.group = group
        self.dedup = dedup
        self.secrets = secrets
        self.store: DedupStore | None = None
        self.runners: dict[str, ActionRunner] = {}

    def wire(self, app: FastAPI, runtime: ServiceRuntime) -> None:
        settings = self.settings
        self.store = store = self.dedup or PostgresDedupStore(lambda: runtime.db)
        publisher = KafkaResultPublisher(runtime.broker, runtime.topics.action_results)
        runners = {
            e.family: ActionRunner(e, dedup=store, publisher=publisher, secrets=self.secrets)
            for e in self.executors
        }
        self.runners = runners
        app.state.action_runners = runners
        if self.single:
            app.state.action_runner = runners[self.single.family]
        handlers: dict[str, Handler] = {
            runtime.topics.actions(family): runner.handle for family, runner in runners.items()
        }
        subscribe(
            runtime.broker,
            {topic: (ExecuteAction, CompensateAction) for topic in handlers},
            handlers,
            # Per environment (topic suffix), like the topics: see the orchestrator.
            group_id=f"{self.group}{settings.topic_suffix}",
            dlq=runtime.dlq,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
            session_timeout_ms=settings.session_timeout_ms,
        )
        # on_stop runs in reverse: drain the running actions first, then the team's hooks.
        runtime.on_start.append(self.start)
        runtime.on_stop.extend([self.stop, self.drain])

        @app.get("/actions", tags=["executor"])
        async def actions() -> dict[str, Any]:
            """The action types this executor serves, with their input schemas (a service
            of several executors: ``executors``, one such entry each)."""
            if self.single:
                return self.described(runtime, self.single)
            return {"executors": [self.described(runtime, e) for e in self.executors]}

    async def start(self, rt: ServiceRuntime) -> None:
        install_log_redaction()
        store = self.store
        if isinstance(store, PostgresDedupStore):
            rt.run_every(
                self.settings.dedup_prune_interval_s,
                lambda: store.prune(self.settings.dedup_retention_s),
                name="command-answers-prune",
            )
        for executor in self.executors:
            for hook in executor.start_hooks:
                await hook(rt)
        for runner in self.runners.values():
            runner.mark_ready()

    async def stop(self, rt: ServiceRuntime) -> None:
        for executor in reversed(self.executors):
            for hook in reversed(executor.stop_hooks):
                await hook(rt)

    async def drain(self, rt: ServiceRuntime) -> None:
        await asyncio.gather(*(runner.drain() for runner in self.runners.values()))

    @staticmethod
    def described(runtime: ServiceRuntime, executor: Executor) -> dict[str, Any]:
        return {
            "executor": executor.family,
            "topic": runtime.topics.actions(executor.family),
            "actions": executor.describe(),
        }


def run_executor(executor: Executor, *, default_port: int | None = None) -> None:
    """``__main__`` of an executor service: ``python -m my_executor [--port N]``."""
    run_service(
        lambda settings: create_executor_app(executor, settings),
        lambda settings: default_port or settings.executors_base_port,
    )
