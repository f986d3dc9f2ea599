"""Completion of manual tickets: polling, the cancel-comment contract, resolution mapping."""

from __future__ import annotations

from typing import Any

import pytest
from pao_common.cloudevents import CloudEvent
from pao_common.executor.testing import ExecutorHarness
from pao_common.jira_tickets import message_id, parse_done, ticket_resolved
from pao_common.messages import (
    ActionSucceeded,
    CancelRequest,
    CompensateAction,
    TicketResolved,
    parse_message,
)
from pao_executors.jira import LibraryJira, ResolutionPoller
from pao_orchestrator.domain.state import TICKET_STEP

from tests.executors_jira.conftest import jira_settings
from tests.executors_jira.test_jira_executor import TICKET
from tests.orchestrator.items import ALICE, Run, manual_item
from tests.support.sandbox import SandboxServer


class Collected:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def publish(self, event: CloudEvent) -> None:
        self.events.append(event)

    def messages(self) -> list[TicketResolved]:
        parsed = [parse_message(e) for e in self.events]
        resolved = [m for m in parsed if isinstance(m, TicketResolved)]
        assert len(resolved) == len(parsed), parsed
        return resolved


def resolve(sandbox: SandboxServer, key: str, resolution: str, comment: str | None = None) -> None:
    import httpx

    body: dict[str, Any] = {"resolution": resolution}
    if comment:
        body["comment"] = comment
    httpx.post(f"{sandbox.jira_url}/sandbox/issues/{key}/resolve", json=body).raise_for_status()


async def test_polling_finds_resolved_tickets_announces_each_once(
    sandbox: SandboxServer, harness: ExecutorHarness, jira_client: LibraryJira
) -> None:
    for request in ("req-a", "req-b", "req-c"):
        await harness.execute("jira", TICKET, request_id=request, step_id=TICKET_STEP)
    await harness.execute("jira", TICKET, request_id="req-d", step_id="some-step")
    resolve(sandbox, "NETSEC-1", "Done")
    resolve(sandbox, "NETSEC-2", "Won't Do", comment="Policy forbids this range.")
    resolve(sandbox, "NETSEC-4", "Done")  # not a manual ticket: no announcement
    collected = Collected()
    poller = ResolutionPoller(jira_client, collected, jira_settings(sandbox))

    announced = await poller.poll_once()
    again = await poller.poll_once()

    assert announced == ["NETSEC-1", "NETSEC-2"]
    assert again == []
    done, wont = collected.messages()
    assert (done.request_id, done.ticket_key, done.outcome) == ("req-a", "NETSEC-1", "done")
    assert (wont.request_id, wont.outcome, wont.resolution) == ("req-b", "wont_do", "Won't Do")
    assert wont.reason == "Won't Do: Policy forbids this range."
    assert [e.id for e in collected.events] == [
        message_id("NETSEC-1", "Done"),
        message_id("NETSEC-2", "Won't Do"),
    ]
    assert all(
        e.subject == m.request_id
        for e, m in zip(collected.events, collected.messages(), strict=True)
    )
    labels = {i["key"]: i["labels"] for i in sandbox.state("jira")["issues"]}
    assert "pao-synced" in labels["NETSEC-1"] and "pao-synced" in labels["NETSEC-2"]
    assert "pao-synced" not in labels["NETSEC-3"]  # still open


async def test_a_failed_publish_leaves_the_ticket_for_the_next_poll(
    sandbox: SandboxServer, harness: ExecutorHarness, jira_client: LibraryJira
) -> None:
    await harness.execute("jira", TICKET, request_id="req-a", step_id=TICKET_STEP)
    resolve(sandbox, "NETSEC-1", "Done")

    class Down:
        async def publish(self, event: CloudEvent) -> None:
            raise ConnectionError("broker down")

    settings = jira_settings(sandbox)
    with pytest.raises(ConnectionError):
        await ResolutionPoller(jira_client, Down(), settings).poll_once()
    collected = Collected()
    assert await ResolutionPoller(jira_client, collected, settings).poll_once() == ["NETSEC-1"]


def test_resolutions_map_to_outcomes() -> None:
    done = parse_done("Done, Fixed")
    issue = {
        "key": "X-1",
        "fields": {"labels": ["pao-request-r1"], "resolution": {"name": "Fixed"}},
    }
    assert ticket_resolved(issue, done=done) == TicketResolved(
        request_id="r1", ticket_key="X-1", outcome="done", resolution="Fixed"
    )
    wont = {
        "key": "X-1",
        "fields": {"labels": ["pao-request-r1"], "resolution": {"name": "Duplicate"}},
    }
    message = ticket_resolved(wont, done=done)
    assert message is not None and message.outcome == "wont_do" and message.reason == "Duplicate"
    unresolved = {"key": "X-1", "fields": {"labels": ["pao-request-r1"], "resolution": None}}
    assert ticket_resolved(unresolved, done=done) is None
    foreign = {"key": "X-1", "fields": {"labels": ["other"], "resolution": {"name": "Done"}}}
    assert ticket_resolved(foreign, done=done) is None


async def test_cancelling_a_manual_request_comments_on_its_ticket(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    # The orchestrator's decision, delivered to the jira executor as it would be.
    run = Run(manual_item(), request_id="req-cancel")
    created = await harness.run(run.submit().commands[0])
    assert isinstance(created, ActionSucceeded), created
    run.succeed(created.outputs)

    decision = run.send(CancelRequest(request_id="req-cancel", by=ALICE, reason="no longer needed"))

    assert run.state.status == "cancelled"
    [comment] = decision.commands
    assert isinstance(comment, CompensateAction)
    assert (comment.action_type, comment.step_id) == ("jira", TICKET_STEP)
    assert comment.outputs["key"] == created.outputs["key"]
    answer = await harness.run(comment)
    assert isinstance(answer, ActionSucceeded), answer
    [issue] = sandbox.state("jira")["issues"]
    assert issue["status"] == "To Do"
    assert [c["body"] for c in issue["comments"]] == [
        "PAO request req-cancel was cancelled by alice: no longer needed. "
        "No further work is needed on this ticket."
    ]
