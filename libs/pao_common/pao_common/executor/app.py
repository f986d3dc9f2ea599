"""The executor service: an ``Executor`` served on its topic, with ``/actions`` to list it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pao_common.executor.dedup import DedupStore, PostgresDedupStore
from pao_common.executor.registry import Executor
from pao_common.executor.runner import ActionRunner, KafkaResultPublisher
from pao_common.executor.secrets import SecretResolver, install_log_redaction
from pao_common.kafka import subscribe
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
    executor.validate()
    settings = settings or get_settings()

    def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
        store = dedup or PostgresDedupStore(lambda: runtime.db)
        runner = ActionRunner(
            executor,
            dedup=store,
            publisher=KafkaResultPublisher(runtime.broker, runtime.topics.action_results),
            secrets=secrets,
        )
        app.state.action_runner = runner
        subscribe(
            runtime.broker,
            {runtime.topics.actions(executor.family): (ExecuteAction, CompensateAction)},
            runner.handle,
            # Per environment (topic suffix), like the topics: see the orchestrator.
            group_id=f"pao-executor-{executor.family}{settings.topic_suffix}",
            dlq=runtime.dlq,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            session_timeout_ms=settings.session_timeout_ms,
        )

        async def start(rt: ServiceRuntime) -> None:
            install_log_redaction()
            if isinstance(store, PostgresDedupStore):
                rt.run_every(
                    settings.dedup_prune_interval_s,
                    lambda: store.prune(settings.dedup_retention_s),
                    name="command-answers-prune",
                )
            for hook in executor.start_hooks:
                await hook(rt)
            runner.mark_ready()

        async def stop(rt: ServiceRuntime) -> None:
            for hook in reversed(executor.stop_hooks):
                await hook(rt)

        async def drain(rt: ServiceRuntime) -> None:
            await runner.drain()

        # on_stop runs in reverse: drain the running actions first, then the team's hooks.
        runtime.on_start.append(start)
        runtime.on_stop.extend([stop, drain])

        @app.get("/actions", tags=["executor"])
        async def actions() -> dict[str, Any]:
            """The action types this executor serves, with their input schemas."""
            return {
                "executor": executor.family,
                "topic": runtime.topics.actions(executor.family),
                "actions": executor.describe(),
            }

    app = create_service_app(
        executor_spec(executor, settings), settings, wire, title=f"PAO executor {executor.family}"
    )
    install_log_redaction()
    return app


def run_executor(executor: Executor, *, default_port: int | None = None) -> None:
    """``__main__`` of an executor service: ``python -m my_executor [--port N]``."""
    run_service(
        lambda settings: create_executor_app(executor, settings),
        lambda settings: default_port or settings.executors_base_port,
    )
