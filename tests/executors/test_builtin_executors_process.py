"""Every built-in executor in one process (what ``pao dev`` runs): one consumer over their
topics, each topic's commands answered by its own executor."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pao_cli.dev import planned_services, sandbox_environment
from pao_common.settings import Settings
from pao_common.topics import Topics
from pao_executors.builtin import service_executors
from pao_executors.registry import BUILTIN_EXECUTORS_SERVICE, EXECUTOR_SERVICES

from tests.executors.kafka_io import Producer, Reader, execute_body
from tests.support.services import ServiceProcess, service_env

ANSWERS = {"pao.action.succeeded", "pao.action.failed"}


def sandboxed() -> dict[str, str]:
    """What ``pao dev`` gives its executors when nothing is configured (a sandbox URL
    nobody answers at: these tests call no external system)."""
    env, _ = sandbox_environment({}, "http://127.0.0.1:9", gateway_port=9)
    return env


def test_it_serves_every_executor_of_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandboxed().items():
        monkeypatch.setenv(name, value)
    families = [e.family for e in service_executors()]
    assert families == list(EXECUTOR_SERVICES)


def test_pao_dev_runs_one_executor_process_unless_asked_for_separate_ones() -> None:
    settings = Settings()
    executor_modules = {BUILTIN_EXECUTORS_SERVICE, *EXECUTOR_SERVICES.values()}
    together = planned_services(settings, with_sandbox=False)
    executors = [s for s in together if s.module in executor_modules]
    assert [(s.name, s.module, s.port) for s in executors] == [
        ("executors", BUILTIN_EXECUTORS_SERVICE, settings.executors_base_port)
    ]
    separate = planned_services(settings, with_sandbox=False, separate_executors=True)
    assert [s.module for s in separate if s.module in executor_modules] == list(
        EXECUTOR_SERVICES.values()
    )
    assert {s.module for s in together} - executor_modules == {
        s.module for s in separate
    } - executor_modules, "everything else is the same"


@pytest.mark.integration
@pytest.mark.slow
async def test_one_process_answers_each_family_on_its_own_topic(
    settings: Settings, tmp_path: Path
) -> None:
    env = service_env(settings, **sandboxed())
    service = ServiceProcess(BUILTIN_EXECUTORS_SERVICE, env, tmp_path).start()
    topics = Topics(settings.topic_suffix)
    echo = execute_body("debug.log", {"message": "one process"})
    # An action type the jira executor does not declare, on its topic: its runner says so.
    unknown = execute_body("jira.no-such-action", {})
    try:
        async with (
            Reader(settings.kafka_bootstrap, topics.action_results) as reader,
            Producer(settings.kafka_bootstrap) as producer,
        ):
            await producer.command(topics.actions("debug"), echo)
            await producer.command(topics.actions("jira"), unknown)
            await reader.wait(
                lambda: all(
                    any(r.type in ANSWERS for r in rs)
                    for rs in (
                        reader.for_command(echo["command_id"]),
                        reader.for_command(unknown["command_id"]),
                    )
                )
            )
        async with httpx.AsyncClient(base_url=service.url) as client:
            actions = (await client.get("/actions")).json()
    finally:
        service.stop()

    [succeeded] = [r for r in reader.for_command(echo["command_id"]) if r.type in ANSWERS]
    assert succeeded.type == "pao.action.succeeded"
    assert succeeded.body["outputs"]["message"] == "one process"
    [failed] = [r for r in reader.for_command(unknown["command_id"]) if r.type in ANSWERS]
    assert failed.type == "pao.action.failed"
    assert failed.body["error_type"] == "UnknownActionType"
    assert "jira" in failed.body["error"]
    served = {entry["executor"]: entry["topic"] for entry in actions["executors"]}
    assert served == {family: topics.actions(family) for family in EXECUTOR_SERVICES}
