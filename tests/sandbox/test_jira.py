"""The JIRA sandbox driven by the real ``jira`` library and httpx over real sockets."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from jira import JIRA, JIRAError

from tests.sandbox.conftest import WebhookReceiver
from tests.support.sandbox import JIRA_API_TOKEN, JIRA_EMAIL, JIRA_PAT, SandboxServer

FIELDS = {
    "project": {"key": "PLAT"},
    "issuetype": {"name": "Task"},
    "summary": "Provision database orders-db",
    "description": "Requested through PAO.\n\nSize: small",
    "labels": ["pao", "pao-req-123"],
    "components": [{"name": "Databases"}],
    "priority": {"name": "High"},
    "assignee": {"name": "dba.oncall"},
    "customfield_10010": "team-data",
    "customfield_10012": "req-123",
}


def client(sandbox: SandboxServer) -> JIRA:
    return JIRA(server=sandbox.jira_url, token_auth=JIRA_PAT, max_retries=0)


def test_create_get_transition_comment_and_search_with_the_jira_library(
    sandbox: SandboxServer,
) -> None:
    jira = client(sandbox)
    assert jira.server_info()["deploymentType"] == "Server"
    assert jira.myself()["name"] == "pao-bot"

    issue = jira.create_issue(fields=FIELDS)

    assert issue.key == "PLAT-1"
    assert issue.fields.summary == "Provision database orders-db"
    assert issue.fields.labels == ["pao", "pao-req-123"]
    assert [c.name for c in issue.fields.components] == ["Databases"]
    assert issue.fields.priority.name == "High"
    assert issue.fields.assignee is not None and issue.fields.assignee.name == "dba.oncall"
    assert issue.fields.reporter.name == "pao-bot"
    assert issue.fields.customfield_10010 == "team-data"
    assert issue.fields.status.name == "To Do"
    assert issue.fields.resolution is None
    permalink = issue.permalink()  # type: ignore[no-untyped-call]  # jira: unannotated
    assert permalink == f"{sandbox.jira_url}/browse/PLAT-1"

    names = {t["name"]: t["id"] for t in jira.transitions(issue)}
    assert names == {"In Progress": "21", "Done": "31"}
    jira.add_comment(issue, "Cancelled by the requester")
    jira.transition_issue(issue, "Done", fields={"resolution": {"name": "Won't Do"}})

    again = jira.issue("PLAT-1")
    assert again.fields.status.name == "Done"
    resolution = again.fields.resolution
    assert resolution is not None and resolution.name == "Won't Do"
    assert [c.body for c in jira.comments("PLAT-1")] == ["Cancelled by the requester"]

    found = jira.search_issues('labels = pao-req-123 AND resolution = "Won\'t Do"')
    assert [i.key for i in found] == ["PLAT-1"]
    assert jira.search_issues("key = PLAT-1 AND status != Done") == []
    assert [i.key for i in jira.search_issues('"PAO Request" = req-123')] == ["PLAT-1"]


def test_project_and_issue_type_by_name_resolve_like_jira(sandbox: SandboxServer) -> None:
    jira = client(sandbox)

    issue = jira.create_issue(project="OPS", issuetype="Bug", summary="Broken laptop")

    assert issue.key == "OPS-1"
    assert issue.fields.issuetype.name == "Bug"


def test_cloud_flavour_basic_auth_account_ids_and_enhanced_search(sandbox: SandboxServer) -> None:
    sandbox.configure("jira", deployment="Cloud")
    jira = JIRA(server=sandbox.jira_url, basic_auth=(JIRA_EMAIL, JIRA_API_TOKEN), max_retries=0)

    issue = jira.create_issue(
        fields={**FIELDS, "assignee": {"accountId": "5b10a2844c20165700ede21g"}}
    )

    assert jira.myself()["emailAddress"] == JIRA_EMAIL
    assignee = issue.fields.assignee
    assert assignee is not None and assignee.accountId == "5b10a2844c20165700ede21g"
    assert [i.key for i in jira.search_issues(f"key = {issue.key}")] == [issue.key]
    old_search = httpx.get(
        f"{sandbox.jira_url}/rest/api/2/search",
        params={"jql": "key = PLAT-1"},
        auth=(JIRA_EMAIL, JIRA_API_TOKEN),
    )
    assert old_search.status_code == 410


def test_api_v3_speaks_atlassian_document_format_on_cloud_only(sandbox: SandboxServer) -> None:
    auth = (JIRA_EMAIL, JIRA_API_TOKEN)
    url = f"{sandbox.jira_url}/rest/api/3/issue"
    fields = {**FIELDS, "assignee": {"accountId": "5b10a2844c20165700ede21g"}}
    assert httpx.post(url, json={"fields": fields}, auth=auth).status_code == 404

    sandbox.configure("jira", deployment="Cloud")
    plain = httpx.post(url, json={"fields": FIELDS}, auth=auth)
    assert plain.status_code == 400
    assert plain.json()["errors"] == {
        "description": "Operation value must be an Atlassian Document (see the Atlassian "
        "Document Format)",
        "assignee": "Specify a valid 'accountId' for Assignee",
    }
    doc = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "In ADF"}]}],
    }
    created = httpx.post(url, json={"fields": {**fields, "description": doc}}, auth=auth)
    assert created.status_code == 201
    key = created.json()["key"]
    assert httpx.get(f"{url}/{key}", auth=auth).json()["fields"]["description"] == doc
    v2 = httpx.get(f"{sandbox.jira_url}/rest/api/2/issue/{key}", auth=auth).json()
    assert v2["fields"]["description"] == "In ADF"


def test_wrong_credentials_are_refused_with_401(sandbox: SandboxServer) -> None:
    with pytest.raises(JIRAError) as caught:
        JIRA(server=sandbox.jira_url, token_auth="wrong", max_retries=0).myself()
    assert caught.value.status_code == 401
    basic = httpx.get(f"{sandbox.jira_url}/rest/api/2/myself", auth=(JIRA_EMAIL, "wrong"))
    assert basic.status_code == 401
    assert basic.json()["errorMessages"]


def test_validation_errors_answer_like_jira(sandbox: SandboxServer) -> None:
    sandbox.configure("jira", auto_projects=False, auto_custom_fields=False, auto_issue_types=False)
    response = httpx.post(
        f"{sandbox.jira_url}/rest/api/2/issue",
        headers={"Authorization": f"Bearer {JIRA_PAT}"},
        json={
            "fields": {
                "project": {"key": "NOPE"},
                "issuetype": {"name": "Saga"},
                "components": [{"name": "Databases"}],
                "customfield_99999": 1,
            }
        },
    )

    assert response.status_code == 400
    body = response.json()
    assert body["errorMessages"] == []
    assert body["errors"] == {
        "project": "valid project is required",
        "issuetype": "The issue type selected is invalid.",
        "summary": "You must specify a summary of the issue.",
        "customfield_99999": "Field 'customfield_99999' cannot be set. It is not on the "
        "appropriate screen, or unknown.",
    }
    with pytest.raises(JIRAError) as caught:
        client(sandbox).create_issue(fields={**FIELDS, "components": [{"name": "Lasers"}]})
    assert caught.value.status_code == 400
    assert "Component name 'Lasers' is not valid" in str(caught.value.text)


def test_500_then_201_creates_exactly_one_ticket(sandbox: SandboxServer) -> None:
    sandbox.fault("jira", method="POST", path="/rest/api/2/issue", status=500, times=1)
    jira = client(sandbox)

    with pytest.raises(JIRAError) as caught:
        jira.create_issue(fields=FIELDS)
    assert caught.value.status_code == 500
    issue = jira.create_issue(fields=FIELDS)

    assert issue.key == "PLAT-1"
    assert [i["key"] for i in sandbox.state("jira")["issues"]] == ["PLAT-1"]
    posts = sandbox.requests("jira", path="/rest/api/2/issue", method="POST")
    assert [(p["status"], p["fault"]) for p in posts] == [(500, True), (201, False)]


def test_a_fault_after_the_handler_commits_yet_answers_500(sandbox: SandboxServer) -> None:
    sandbox.fault(
        "jira", method="POST", path="/rest/api/2/issue", status=504, when="after", times=1
    )
    jira = client(sandbox)

    with pytest.raises(JIRAError):
        jira.create_issue(fields=FIELDS)

    # The ticket exists anyway: an executor must look before it creates again.
    assert [i.key for i in jira.search_issues("labels = pao-req-123")] == ["PLAT-1"]


def _signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_resolving_posts_a_signed_issue_updated_webhook(
    sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure("jira", webhook_url=webhook_receiver.url, webhook_secret="s3cret")
    key = client(sandbox).create_issue(fields=FIELDS).key

    answer = httpx.post(
        f"{sandbox.jira_url}/sandbox/issues/{key}/resolve",
        json={"resolution": "Won't Do", "comment": "No budget this quarter"},
    )

    assert answer.status_code == 200
    assert answer.json()["webhook"]["delivered"] is True
    [hook] = webhook_receiver.received
    assert hook.path == "/api/v1/webhooks/jira"
    assert hook.headers["X-Hub-Signature"] == _signature("s3cret", hook.body)
    payload = json.loads(hook.body)
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue"]["key"] == key
    assert payload["issue"]["fields"]["resolution"]["name"] == "Won't Do"
    assert payload["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    items = {i["field"]: (i["fromString"], i["toString"]) for i in payload["changelog"]["items"]}
    assert items == {"status": ("To Do", "Done"), "resolution": (None, "Won't Do")}
    assert payload["comment"]["body"] == "No budget this quarter"


def test_a_rest_transition_also_fires_the_webhook_and_failed_deliveries_are_retried(
    sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure("jira", webhook_url=webhook_receiver.url, webhook_secret="s3cret")
    jira = client(sandbox)
    issue = jira.create_issue(fields=FIELDS)
    webhook_receiver.statuses = [503]

    jira.transition_issue(issue, "31")

    assert len(webhook_receiver.received) == 2
    retry = webhook_receiver.received[1]
    assert retry.headers["X-Atlassian-Webhook-Retry"] == "1"
    assert json.loads(retry.body)["issue"]["fields"]["resolution"]["name"] == "Done"
    [delivery] = sandbox.state("jira")["webhook_deliveries"]
    assert delivery["attempts"] == [{"status": 503}, {"status": 200}]


def test_the_ui_lists_tickets_and_its_buttons_resolve_them(
    sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure("jira", webhook_url=webhook_receiver.url)
    key = client(sandbox).create_issue(fields=FIELDS).key

    listing = httpx.get(f"{sandbox.jira_url}/ui")
    assert listing.status_code == 200
    assert key in listing.text
    assert "Won't Do</button>" in listing.text
    clicked = httpx.post(
        f"{sandbox.jira_url}/ui/issues/{key}/resolve",
        content="resolution=Done&comment=provisioned+by+hand",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=True,
    )

    assert clicked.status_code == 200
    assert str(clicked.url) == f"{sandbox.jira_url}/browse/{key}"
    assert "provisioned by hand" in clicked.text
    resolution = client(sandbox).issue(key).fields.resolution
    assert resolution is not None and resolution.name == "Done"
    assert "X-Hub-Signature" not in webhook_receiver.received[0].headers  # no secret set


def test_unknown_issue_types_spring_into_existence(sandbox: SandboxServer) -> None:
    """Like unknown projects: a catalog item's own issue type works in ``pao dev``."""
    issue = client(sandbox).create_issue(
        fields={**FIELDS, "issuetype": {"name": "Firewall Change"}}
    )
    assert issue.fields.issuetype.name == "Firewall Change"
    types = {
        t["name"]
        for t in httpx.get(
            f"{sandbox.jira_url}/rest/api/2/issuetype",
            headers={"Authorization": f"Bearer {JIRA_PAT}"},
        ).json()
    }
    assert {"Firewall Change", "Task"} <= types
