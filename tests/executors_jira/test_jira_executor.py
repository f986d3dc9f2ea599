"""The ``jira`` action against the sandbox JIRA: fields, idempotency, retries, compensation."""

from __future__ import annotations

from typing import Any

from pao_common.executor.testing import ExecutorHarness, compensate_command, execute_command
from pao_common.messages import ActionFailed, ActionSucceeded
from pao_executors.jira import LibraryJira, build_executor

from tests.executors_jira.conftest import cloud_settings, jira_settings
from tests.support.sandbox import SandboxServer

TICKET = {
    "project": "NETSEC",
    "issue_type": "Task",
    "summary": "Allow 1 firewall rule(s)\nin staging for Bob",
    "description": "h2. Requested change\n*Action:* allow",
    "labels": ["pao", "firewall-staging"],
    "components": ["Firewall"],
    "priority": "Medium",
    "assignee": "netsec.oncall",
    "custom_fields": {"customfield_10100": "req-1", "customfield_10101": "staging"},
}
ISSUE_PATH = "/rest/api/2/issue"


def issues(sandbox: SandboxServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sandbox.state("jira")["issues"]
    return found


def creates(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.requests("jira", path=ISSUE_PATH, method="POST")


async def test_creates_the_ticket_with_every_field_and_reports_key_and_browse_url(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    result = await harness.execute("jira", TICKET, request_id="req-1", step_id="manual-ticket")

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["key"] == "NETSEC-1"
    assert result.outputs["url"] == f"{sandbox.jira_url}/browse/NETSEC-1"
    assert result.outputs["created"] is True
    [issue] = issues(sandbox)
    assert issue["summary"] == "Allow 1 firewall rule(s) in staging for Bob"
    assert issue["issuetype"] == "Task"
    assert issue["components"] == ["Firewall"]
    assert issue["priority"] == "Medium"
    assert issue["assignee"] == "netsec.oncall"
    assert issue["custom"] == {"customfield_10100": "req-1", "customfield_10101": "staging"}
    assert issue["labels"] == [
        "pao",
        "firewall-staging",
        "pao-request-req-1",
        "pao-step-manual-ticket",
    ]
    assert issue["description"].startswith("h2. Requested change")


async def test_cloud_flavour_uses_basic_auth_and_account_ids(sandbox: SandboxServer) -> None:
    sandbox.configure("jira", deployment="Cloud")
    client = LibraryJira(cloud_settings(sandbox))
    harness = ExecutorHarness(build_executor(client, cloud_settings(sandbox)))
    try:
        result = await harness.execute("jira", {**TICKET, "assignee": "5b10a2844c20165700ede21g"})
    finally:
        client.close()

    assert isinstance(result, ActionSucceeded), result
    [issue] = issues(sandbox)
    assert issue["assignee"] == "5b10a2844c20165700ede21g"
    assert issue["reporter"] == "pao@example.com"


async def test_jira_answering_500_then_201_is_retried_and_creates_exactly_one_ticket(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    sandbox.fault("jira", method="POST", path=ISSUE_PATH, status=500, times=1)

    first = await harness.execute("jira", TICKET, request_id="req-7", step_id="manual-ticket")
    assert isinstance(first, ActionFailed)
    assert first.retryable is True
    assert "HTTP 500" in first.error
    second = await harness.execute(
        "jira", TICKET, request_id="req-7", step_id="manual-ticket", attempt=2
    )

    assert isinstance(second, ActionSucceeded), second
    assert [r["status"] for r in creates(sandbox)] == [500, 201]
    assert [i["key"] for i in issues(sandbox)] == ["NETSEC-1"]


async def test_a_500_after_jira_committed_does_not_create_a_second_ticket(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    # JIRA creates the issue but the answer is lost (a 500 after commit, a timeout).
    sandbox.fault("jira", method="POST", path=ISSUE_PATH, status=500, times=1, when="after")

    first = await harness.execute("jira", TICKET, request_id="req-8", step_id="manual-ticket")
    second = await harness.execute(
        "jira", TICKET, request_id="req-8", step_id="manual-ticket", attempt=2
    )

    assert isinstance(first, ActionFailed) and first.retryable
    assert isinstance(second, ActionSucceeded), second
    assert second.outputs["key"] == "NETSEC-1"
    assert second.outputs["created"] is False
    assert len(issues(sandbox)) == 1
    assert len(creates(sandbox)) == 1  # the retry searched and found it


async def test_another_step_or_request_gets_its_own_ticket(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    await harness.execute("jira", TICKET, request_id="req-1", step_id="manual-ticket")
    await harness.execute("jira", TICKET, request_id="req-1", step_id="notify-netsec")
    await harness.execute("jira", TICKET, request_id="req-2", step_id="manual-ticket")

    assert [i["key"] for i in issues(sandbox)] == ["NETSEC-1", "NETSEC-2", "NETSEC-3"]


async def test_jira_refusing_the_fields_fails_without_retry_naming_the_field(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    sandbox.configure("jira", auto_issue_types=False)  # strict, like a real project
    result = await harness.execute("jira", {**TICKET, "issue_type": "Firewall Change"})

    assert isinstance(result, ActionFailed)
    assert result.retryable is False
    assert "HTTP 400" in result.error
    assert "issuetype: The issue type selected is invalid." in result.error


async def test_inputs_are_validated_before_calling_jira(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    result = await harness.execute("jira", {**TICKET, "labels": ["two words"]})

    assert isinstance(result, ActionFailed)
    assert result.error_type == "InvalidActionInputs"
    assert "labels" in result.error
    assert sandbox.requests("jira") == []


async def test_jira_down_fails_retryable(sandbox: SandboxServer) -> None:
    settings = jira_settings(sandbox, url="http://127.0.0.1:9/jira", timeout_s=2.0)
    client = LibraryJira(settings)
    harness = ExecutorHarness(build_executor(client, settings))
    try:
        result = await harness.execute("jira", TICKET)
    finally:
        client.close()

    assert isinstance(result, ActionFailed)
    assert result.retryable is True
    assert "cannot reach JIRA" in result.error


async def test_compensation_comments_once_and_closes_the_ticket_wont_do(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    created = await harness.execute("jira", TICKET, request_id="req-3", step_id="ticket")
    assert isinstance(created, ActionSucceeded)
    undo = compensate_command(
        "jira", {}, created.outputs, request_id="req-3", step_id="ticket", command_id="cmp-1"
    )

    first = await harness.run(undo)
    again = await harness.run(undo.model_copy(update={"command_id": "cmp-2", "attempt": 2}))

    assert isinstance(first, ActionSucceeded), first
    assert first.outputs == {"key": "NETSEC-1", "commented": True, "closed": True}
    assert isinstance(again, ActionSucceeded)
    assert again.outputs == {"key": "NETSEC-1", "commented": False, "closed": False}
    [issue] = issues(sandbox)
    assert issue["status"] == "Done"
    assert issue["resolution"] == "Won't Do"
    assert [c["body"] for c in issue["comments"]] == [
        "PAO request req-3 no longer needs this ticket (step ticket was rolled back)."
    ]


async def test_cancel_comment_finds_the_ticket_by_label_and_leaves_it_open(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    # The orchestrator's cancel contract: no outputs when the create was still in flight.
    await harness.execute("jira", TICKET, request_id="req-4", step_id="manual-ticket")
    result = await harness.run(
        compensate_command(
            "jira",
            {"comment": "PAO request req-4 was cancelled by Bob.", "close": False},
            {},
            request_id="req-4",
            step_id="manual-ticket",
        )
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs == {"key": "NETSEC-1", "commented": True, "closed": False}
    [issue] = issues(sandbox)
    assert issue["status"] == "To Do"
    assert [c["body"] for c in issue["comments"]] == ["PAO request req-4 was cancelled by Bob."]


async def test_compensation_without_a_ticket_does_nothing(harness: ExecutorHarness) -> None:
    result = await harness.compensate("jira", {"comment": "x"}, {}, request_id="req-none")

    assert isinstance(result, ActionSucceeded)
    assert result.outputs == {"key": None, "commented": False, "closed": False}


async def test_issue_key_mode_comments_and_transitions_an_existing_issue(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    await harness.execute("jira", TICKET)
    result = await harness.run(
        execute_command(
            "jira",
            {
                **{k: TICKET[k] for k in ("project", "issue_type", "summary")},
                "issue_key": "NETSEC-1",
                "comment": "Applied.",
                "transition": "In Progress",
            },
        )
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["status"] == "In Progress"
    [issue] = issues(sandbox)
    assert issue["status"] == "In Progress"
    assert [c["body"] for c in issue["comments"]] == ["Applied."]


async def test_no_jira_credential_appears_in_logs_or_events(sandbox: SandboxServer) -> None:
    import base64
    import json
    import logging

    from pao_common.executor import install_log_redaction

    from tests.executors_jira.conftest import cloud_settings as cloud
    from tests.support.sandbox import JIRA_API_TOKEN, JIRA_EMAIL, JIRA_PAT

    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    capture = Capture(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    level = root.level
    root.setLevel(logging.DEBUG)
    install_log_redaction()
    events: list[Any] = []
    try:
        for settings in (jira_settings(sandbox), cloud(sandbox)):
            sandbox.configure("jira", deployment="Server" if settings.token else "Cloud")
            sandbox.fault("jira", method="POST", path=ISSUE_PATH, status=500, times=1)
            client = LibraryJira(settings)
            harness = ExecutorHarness(build_executor(client, settings))
            try:
                request = f"req-{settings.email or 'server'}"
                failed = await harness.execute("jira", TICKET, request_id=request)
                created = await harness.execute("jira", TICKET, request_id=request, attempt=2)
            finally:
                client.close()
            assert isinstance(failed, ActionFailed) and isinstance(created, ActionSucceeded)
            events += [e.model_dump(mode="json") for e in harness.events]
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
    sent = json.dumps(sandbox.requests("jira"))
    assert basic in sent  # the credentials were used...
    published = json.dumps(events)
    logged = "\n".join(lines)
    for value in (JIRA_PAT, JIRA_API_TOKEN, basic):  # ... and written nowhere
        assert value not in published
        assert value not in logged
