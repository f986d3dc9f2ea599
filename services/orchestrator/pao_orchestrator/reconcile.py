"""Reconciliation on start: re-send the commands of attempts still waiting for an answer.

A command may have been lost after it left the outbox (the dev broker forgets
everything on restart). Re-sending it with the same command id is safe: executors
deduplicate on it. If it never gets an answer, its timeout timer (durable) fires.
"""

from __future__ import annotations

import logging

from pao_common.messages import CompensateAction, ExecuteAction
from pao_common.topics import Topics

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.ports import Commit, EventStore, OutboxMessage

log = logging.getLogger(__name__)


async def redispatch_unanswered(store: EventStore, topics: Topics) -> int:
    """Put the in-flight commands of every open request back into the outbox."""
    count = 0
    for stream_id in await store.open_streams():
        try:
            count += await _redispatch_stream(store, topics, stream_id)
        except Exception:  # one unreadable or contended stream must not stop the others
            log.exception("reconciliation skipped request %s", stream_id)
    if count:
        log.info("reconciliation: re-sent %d unanswered command(s)", count)
    return count


async def _redispatch_stream(store: EventStore, topics: Topics, stream_id: str) -> int:
    events = await store.load(stream_id)
    state = reduce(events)
    waiting = {s.command_id: s for s in state.steps if s.command_id is not None}
    if not waiting:
        return 0
    outbox: list[OutboxMessage] = []
    for event in events:
        if not isinstance(event, ev.StepDispatched) or event.command_id not in waiting:
            continue
        step = waiting[event.command_id]
        common = {
            "command_id": event.command_id,
            "request_id": stream_id,
            "step_id": event.step_id,
            "action_type": event.action_type,
            "attempt": event.attempt,
            "inputs": event.inputs,
            "timeout_s": event.timeout_s,
        }
        command: ExecuteAction | CompensateAction
        if event.phase == "execute":
            command = ExecuteAction(**common)
        else:
            command = CompensateAction(**common, outputs=step.outputs)
        outbox.append(
            OutboxMessage(
                message_id=command.command_id,
                topic=topics.actions(command.action_type),
                key=stream_id,
                ce_type=command.ce_type,
                body=command.model_dump(mode="json"),
            )
        )
    if outbox:
        await store.commit(
            Commit(stream_id=stream_id, expected_version=state.version, outbox=outbox)
        )
    return len(outbox)
