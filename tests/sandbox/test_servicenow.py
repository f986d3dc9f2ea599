"""The ServiceNow sandbox's Table API over real sockets, with httpx as a client."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import httpx
import pytest

from tests.sandbox.conftest import WebhookReceiver
from tests.support.sandbox import SERVICENOW_PASSWORD, SERVICENOW_USER, SandboxServer

AUTH = (SERVICENOW_USER, SERVICENOW_PASSWORD)
TABLE = "/api/now/table/cmdb_ci_db_instance"


def client(sandbox: SandboxServer, auth: tuple[str, str] | None = AUTH) -> httpx.Client:
    return httpx.Client(base_url=sandbox.servicenow_url, auth=auth, timeout=5)


def test_create_find_by_correlation_id_patch_and_read_back(sandbox: SandboxServer) -> None:
    with client(sandbox) as sn:
        created = sn.post(
            TABLE,
            json={
                "name": "orders-development",
                "correlation_id": "res-1",
                "tcp_port": 5432,
                "u_owner_team": "orders",
                "not_a_column": "dropped",
            },
        )
        assert created.status_code == 201
        record = created.json()["result"]
        assert re.fullmatch(r"[0-9a-f]{32}", record["sys_id"])
        assert created.headers["location"].endswith(f"{TABLE}/{record['sys_id']}")
        # every value a string, as the real API writes them; unknown columns ignored
        assert record["tcp_port"] == "5432"
        assert record["install_status"] == "1"
        assert record["sys_class_name"] == "cmdb_ci_db_instance"
        assert record["sys_created_by"] == SERVICENOW_USER
        assert record["sys_mod_count"] == "0"
        assert "not_a_column" not in record
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["sys_created_on"])
        sn.post(TABLE, json={"name": "other", "correlation_id": "res-2"})

        found = sn.get(
            TABLE,
            params={"sysparm_query": "correlation_id=res-1", "sysparm_fields": "sys_id,name"},
        )
        assert found.json() == {
            "result": [{"sys_id": record["sys_id"], "name": "orders-development"}]
        }
        assert found.headers["x-total-count"] == "1"

        patched = sn.patch(f"{TABLE}/{record['sys_id']}", json={"install_status": 7})
        assert patched.status_code == 200
        assert patched.json()["result"]["install_status"] == "7"
        assert patched.json()["result"]["sys_mod_count"] == "1"

        shown = sn.get(
            f"{TABLE}/{record['sys_id']}",
            params={"sysparm_display_value": "all", "sysparm_fields": "install_status"},
        )
        assert shown.json()["result"] == {
            "install_status": {"display_value": "Retired", "value": "7"}
        }
    assert len(sandbox.state("servicenow")["records"]["cmdb_ci_db_instance"]) == 2


def test_encoded_queries_and_ordering_and_paging(sandbox: SandboxServer) -> None:
    with client(sandbox) as sn:
        for name, env in [("a", "dev"), ("b", "prod"), ("c", "dev"), ("d", "test")]:
            sn.post(TABLE, json={"name": name, "environment": env})

        def names(query: str, **params: str) -> list[str]:
            answer = sn.get(TABLE, params={"sysparm_query": query, **params})
            return [r["name"] for r in answer.json()["result"]]

        assert names("environment=dev^ORDERBYDESCname") == ["c", "a"]
        assert names("environment=prod^ORenvironment=test^ORDERBYname") == ["b", "d"]
        assert names("environmentINdev,test^name!=a^ORDERBYname") == ["c", "d"]
        assert names("nameSTARTSWITHb^NQname=d^ORDERBYname") == ["b", "d"]
        assert names("correlation_idISEMPTY^ORDERBYname") == ["a", "b", "c", "d"]
        # a condition on a column the table does not have selects nothing
        assert names("no_such_field=x") == []
        first = sn.get(TABLE, params={"sysparm_query": "ORDERBYname", "sysparm_limit": "3"})
        assert [r["name"] for r in first.json()["result"]] == ["a", "b", "c"]
        assert first.headers["x-total-count"] == "4"
        assert 'rel="next"' in first.headers["link"]
        assert names("ORDERBYname", sysparm_limit="3", sysparm_offset="3") == ["d"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/api/now/table/cmdb_ci_nope", None, 400, "Invalid table cmdb_ci_nope"),
        ("POST", "/api/now/table/cmdb_ci_nope", {"name": "x"}, 400, "Invalid table cmdb_ci_nope"),
        ("GET", f"{TABLE}/{'0' * 32}", None, 404, "No Record found"),
        ("PATCH", f"{TABLE}/{'0' * 32}", {"name": "x"}, 404, "No Record found"),
    ],
)
def test_errors_in_servicenow_shape(
    sandbox: SandboxServer,
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    message: str,
) -> None:
    with client(sandbox) as sn:
        answer = sn.request(method, path, json=body)
    assert answer.status_code == status
    assert answer.json()["status"] == "failure"
    assert answer.json()["error"]["message"] == message


def test_bad_json_and_missing_or_wrong_credentials(sandbox: SandboxServer) -> None:
    with client(sandbox) as sn:
        bad = sn.post(TABLE, content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "message": "Exception while reading request",
        "detail": "The payload is not valid JSON.",
    }
    for auth in (None, (SERVICENOW_USER, "wrong")):
        with client(sandbox, auth=auth) as sn:
            answer = sn.get(TABLE)
        assert answer.status_code == 401
        assert answer.json() == {
            "error": {
                "message": "User Not Authenticated",
                "detail": "Required to provide Auth information",
            },
            "status": "failure",
        }


def test_faults_answer_in_servicenow_shape(sandbox: SandboxServer) -> None:
    sandbox.fault("servicenow", method="POST", path=TABLE, status=500)
    with client(sandbox) as sn:
        failed = sn.post(TABLE, json={"name": "x"})
        assert failed.status_code == 500
        assert failed.json()["status"] == "failure"
        assert sn.post(TABLE, json={"name": "x"}).status_code == 201


def test_the_page_lists_the_cis_with_their_install_status(sandbox: SandboxServer) -> None:
    with client(sandbox) as sn:
        record = sn.post(TABLE, json={"name": "ledger-prod", "correlation_id": "res-9"}).json()
        sn.patch(f"{TABLE}/{record['result']['sys_id']}", json={"install_status": "7"})
        sn.post("/api/now/table/cmdb_ci_dns_name", json={"name": "api.example.com"})
    page = httpx.get(f"{sandbox.servicenow_url}/ui").text
    assert "ledger-prod" in page and "res-9" in page and "Retired" in page
    assert "api.example.com" in page and "cmdb_ci_dns_name" in page
    assert "2 CI(s)" in page
    assert "/servicenow/ui" in httpx.get(f"{sandbox.url}/").text


# --- change requests ------------------------------------------------------------------------

CHANGES = "/api/now/table/change_request"


def test_change_requests_number_ask_for_approval_and_end_inactive(
    sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure("servicenow", webhook_url=webhook_receiver.url, webhook_secret="s3cret")
    with client(sandbox) as sn:
        first = sn.post(CHANGES, json={"short_description": "draft"}).json()["result"]
        assert (first["number"], first["state"], first["approval"]) == (
            "CHG0010001",
            "-5",
            "not requested",
        )
        created = sn.post(
            CHANGES,
            json={
                "short_description": "PAO: deploy",
                "state": "-4",
                "risk": "2",
                "correlation_id": "req-1",
                "correlation_display": "PAO",
                "install_status": "7",  # a CI column: not a change_request's
            },
        ).json()["result"]
        assert created["number"] == "CHG0010002" and created["approval"] == "requested"
        assert created["active"] == "true" and "install_status" not in created
        shown = sn.get(
            f"{CHANGES}/{created['sys_id']}", params={"sysparm_display_value": "true"}
        ).json()["result"]
        assert (shown["state"], shown["approval"], shown["risk"]) == ("Assess", "Requested", "High")
        found = sn.get(
            CHANGES,
            params={"sysparm_query": "correlation_display=PAO^active=true^approvalINapproved"},
        ).json()["result"]
        assert found == []

        decided = httpx.post(
            f"{sandbox.servicenow_url}/sandbox/change_request/{created['sys_id']}/approve",
            json={"user": "carla", "comment": "CAB ok"},
        ).json()
        assert decided["result"]["approval"] == "approved" and decided["result"]["state"] == "-2"
        assert decided["webhook"]["delivered"]
        [delivery] = webhook_receiver.received
        body = json.loads(delivery.body)
        assert (body["number"], body["approval"], body["sys_updated_by"]) == (
            "CHG0010002",
            "approved",
            "carla",
        )
        digest = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
        assert delivery.headers["X-Hub-Signature"] == f"sha256={digest}"
        found = sn.get(
            CHANGES,
            params={"sysparm_query": "correlation_display=PAO^active=true^approvalINapproved"},
        ).json()["result"]
        assert [r["number"] for r in found] == ["CHG0010002"]

        closed = sn.patch(
            f"{CHANGES}/{created['sys_id']}",
            json={"state": "3", "close_code": "successful", "close_notes": "done", "number": "X"},
        ).json()["result"]
        assert closed["active"] == "false" and closed["number"] == "CHG0010002"
        again = httpx.post(
            f"{sandbox.servicenow_url}/sandbox/change_request/{created['sys_id']}/reject", json={}
        )
        assert again.status_code == 409


def test_the_change_pages_list_and_decide(sandbox: SandboxServer) -> None:
    with client(sandbox) as sn:
        record = sn.post(CHANGES, json={"short_description": "PAO: x", "state": "-4"}).json()[
            "result"
        ]
    listing = httpx.get(f"{sandbox.servicenow_url}/ui/changes").text
    assert "CHG0010001" in listing and "Approve" in listing
    page = httpx.post(
        f"{sandbox.servicenow_url}/ui/changes/{record['sys_id']}/decide",
        content="approval=rejected&comment=not+now",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=True,
    )
    assert page.status_code == 200 and "Rejected" in page.text and "not now" in page.text
    state = sandbox.state("servicenow")["records"]["change_request"][0]
    assert (state["approval"], state["state"], state["comments"]) == ("rejected", "-5", "not now")
