"""Test an executor without Kafka or PostgreSQL: commands in, answers out.

    harness = ExecutorHarness(executor)
    result = await harness.execute("debug.log", {"message": "hi"})
    assert isinstance(result, ActionSucceeded)

The harness runs the real ``ActionRunner`` (validation, secrets, timeout, dedup,
redaction) against an in-memory dedup store and collects what would be published.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pao_common.cloudevents import CloudEvent
from pao_common.executor.dedup import Command, DedupStore, InMemoryDedupStore
from pao_common.executor.registry import Executor
from pao_common.executor.runner import ActionRunner
from pao_common.executor.secrets import SecretResolver
from pao_common.messages import (
    ActionFailed,
    ActionSucceeded,
    CompensateAction,
    ExecuteAction,
    Message,
    parse_message,
    to_cloudevent,
)


class ExecutorHarness:
    """An executor's runner wired to in-memory adapters; ``events`` is what it published."""

    def __init__(
        self,
        executor: Executor,
        *,
        secrets: SecretResolver | None = None,
        dedup: DedupStore | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        executor.validate()
        self.executor = executor
        self.dedup = dedup or InMemoryDedupStore()
        self.events: list[CloudEvent] = []
        if secrets is None and environ is not None:
            secrets = SecretResolver(environ=environ)
        self.runner = ActionRunner(
            executor, dedup=self.dedup, publisher=self, secrets=secrets, instance="harness"
        )
        self.runner.mark_ready()

    async def publish(self, event: CloudEvent) -> None:
        self.events.append(event)

    @property
    def messages(self) -> list[Message]:
        return [parse_message(e) for e in self.events]

    def results_for(self, command_id: str) -> list[Message]:
        return [m for m in self.messages if getattr(m, "command_id", None) == command_id]

    def answers_for(self, command_id: str) -> list[ActionSucceeded | ActionFailed]:
        return [
            m for m in self.results_for(command_id) if isinstance(m, ActionSucceeded | ActionFailed)
        ]

    async def send(self, command: Command) -> None:
        """Deliver ``command`` as the subscriber would; does not wait for the answer."""
        event = to_cloudevent(command, source="harness", subject=command.request_id)
        await self.runner.handle(command, event)

    async def run(self, command: Command) -> ActionSucceeded | ActionFailed:
        """Deliver ``command`` and return its (latest) answer."""
        await self.send(command)
        await self.runner.wait_idle()
        answers = self.answers_for(command.command_id)
        if not answers:
            raise AssertionError(f"no answer for {command.command_id}")
        return answers[-1]

    async def execute(
        self, action_type: str, inputs: dict[str, Any] | None = None, **fields: Any
    ) -> ActionSucceeded | ActionFailed:
        return await self.run(execute_command(action_type, inputs, **fields))

    async def compensate(
        self,
        action_type: str,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        **fields: Any,
    ) -> ActionSucceeded | ActionFailed:
        return await self.run(compensate_command(action_type, inputs, outputs, **fields))


def execute_command(
    action_type: str, inputs: dict[str, Any] | None = None, **fields: Any
) -> ExecuteAction:
    """An ``ExecuteAction`` with fresh ids unless given."""
    fields.setdefault("command_id", f"cmd-{uuid.uuid4().hex[:12]}")
    fields.setdefault("request_id", f"req-{uuid.uuid4().hex[:12]}")
    fields.setdefault("step_id", "step-1")
    return ExecuteAction(action_type=action_type, inputs=inputs or {}, **fields)


def compensate_command(
    action_type: str,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    **fields: Any,
) -> CompensateAction:
    fields.setdefault("command_id", f"cmp-{uuid.uuid4().hex[:12]}")
    fields.setdefault("request_id", f"req-{uuid.uuid4().hex[:12]}")
    fields.setdefault("step_id", "step-1")
    return CompensateAction(
        action_type=action_type, inputs=inputs or {}, outputs=outputs or {}, **fields
    )
