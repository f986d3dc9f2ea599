"""Notifications in ``pao dev``: the notifier runs beside the platform, its e-mails reach
the sandbox's SMTP catcher and its chat posts the sandbox's webhook sink.

One ``pao dev`` subprocess (free ports, its own database), nothing of the notifier
configured but its policy (``PAO_NOTIFICATIONS_POLICY``) and a short retry: a request that
needs an approval e-mails the approvers (a named user by the directory's address, a team by
its own address, one message to both) and posts to the team's chat, whose webhook answers
500 every time (a sandbox fault); the approver approves, the request completes as it
would have anyway, the requester is e-mailed and the item's chat hears of it; and
``GET /requests/{id}`` shows each message, to whom, sent or failed with the last error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.pao_dev import PaoDev, running_pao_dev

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API = "/api/v1"

ITEM = """\
schemaVersion: "2.0"
metadata:
  id: notify-demo
  name: Notify demo
  version: 1.0.0
  owner: platform
  category: debug
  description: Echoes a message once ana or the ops team approves.
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
approval:
  required: true
  approvers: {users: [ana], teams: [ops]}
  expires_after: 1h
  reason: A demo of notifications.
fulfillment:
  mode: automated
  automated:
    steps:
      - id: echo
        action: debug.log
        with: {message: "{{ inputs.message }}"}
        timeout_s: 30
examples:
  - name: hello
    user: {id: rita, email: rita@example.com, teams: [dev]}
    inputs: {message: hello}
"""

POLICY = """\
schemaVersion: "1.0"
kind: NotificationPolicy
from: pao@example.com
directory:
  email_domain: example.com
  users: {ana: ana.approver@example.com}
teams:
  ops:
    email: [ops-approvals@example.com]
    chat: [{name: ops-slack, url: "https://hooks.slack.com/services/T0/B0/ops", format: slack}]
items:
  notify-demo:
    triggers: [awaiting_approval, completed, failed]
    email: [requester]
    chat: [{name: demo-slack, url: "https://hooks.slack.com/services/T0/B0/demo"}]
"""


@pytest.fixture(scope="module")
def pao_dev(
    postgres_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PaoDev]:
    root = tmp_path_factory.mktemp("notify")
    catalog = root / "catalog"
    catalog.mkdir()
    (catalog / "notify-demo.yaml").write_text(ITEM)
    (root / "notifications.yaml").write_text(POLICY)
    env = {
        "PAO_NOTIFICATIONS_POLICY": str(root / "notifications.yaml"),
        "PAO_NOTIFY_ATTEMPTS": "2",
        "PAO_NOTIFY_BACKOFF_S": "0.2",
    }
    with running_pao_dev(
        postgres_admin_url, redis_url, root / "work", catalog, label="notify", extra_env=env
    ) as dev:
        yield dev


def _wait(check: Callable[[], Any], what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_approvers_are_emailed_and_a_failing_chat_hook_changes_nothing(pao_dev: PaoDev) -> None:
    assert "notifier" in pao_dev.log() and "/notify/ui" in pao_dev.log()
    assert httpx.get(pao_dev.notifier_url + "/readyz").status_code == 200
    sandbox = pao_dev.sandbox_url + "/notify"
    httpx.post(
        sandbox + "/sandbox/faults",
        json={"method": "POST", "path": "/webhooks/ops-slack", "status": 500, "times": 100},
    ).raise_for_status()
    rita = {
        "Authorization": f"Bearer {pao_dev.token('rita', teams=('dev',), email='rita@example.com')}"
    }
    ana = {"Authorization": f"Bearer {pao_dev.token('ana', teams=('qa',))}"}
    gateway = pao_dev.gateway_url + API

    submitted = httpx.post(
        gateway + "/requests",
        json={"item_id": "notify-demo", "inputs": {"message": "hello"}},
        headers=rita,
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    request_id = submitted.json()["id"]

    def mails() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(sandbox + "/mails").json()
        return found

    approval_mail = _wait(
        lambda: [m for m in mails() if "awaits your approval" in m["subject"]],
        "the approvers' e-mail in the SMTP catcher",
    )
    assert len(approval_mail) == 1
    mail = approval_mail[0]
    assert mail["rcpt_tos"] == ["ana.approver@example.com", "ops-approvals@example.com"]
    assert mail["mail_from"] == "pao@example.com"
    assert mail["subject"] == "[PAO] notify-demo by rita awaits your approval"
    assert request_id in mail["body"]

    approved = httpx.post(
        f"{gateway}/requests/{request_id}/approve", json={"comment": "ok"}, headers=ana
    )
    assert approved.status_code == 202, approved.text

    def settled() -> dict[str, Any] | None:
        view: dict[str, Any] = httpx.get(f"{gateway}/requests/{request_id}", headers=rita).json()
        notes = view.get("notifications") or []
        done = view["status"] == "completed" and len(notes) == 4
        return view if done and all(n["status"] != "pending" for n in notes) else None

    view = _wait(settled, "the request completed and every notification sent or failed")
    assert view["status"] == "completed" and view["error"] is None
    by_target = {(n["trigger"], n["target"]): n for n in view["notifications"]}
    assert set(by_target) == {
        ("awaiting_approval", "ana.approver@example.com, ops-approvals@example.com"),
        ("awaiting_approval", "ops-slack"),
        ("completed", "rita@example.com"),
        ("completed", "demo-slack"),
    }
    approvers = by_target[
        ("awaiting_approval", "ana.approver@example.com, ops-approvals@example.com")
    ]
    assert approvers["channel"] == "email" and approvers["status"] == "sent"
    assert approvers["recipients"] == ["ana.approver@example.com", "ops-approvals@example.com"]
    hook = by_target[("awaiting_approval", "ops-slack")]
    assert (hook["channel"], hook["status"], hook["attempts"]) == ("slack", "failed", 2)
    assert hook["last_error"] == "webhook answered HTTP 500"
    assert by_target[("completed", "rita@example.com")]["status"] == "sent"
    assert by_target[("completed", "demo-slack")]["status"] == "sent"
    assert view["links"]["notifications"] == f"{API}/requests/{request_id}/notifications"

    completed_mail = [m for m in mails() if m["rcpt_tos"] == ["rita@example.com"]]
    assert len(completed_mail) == 1 and request_id in completed_mail[0]["body"]
    posts = httpx.get(sandbox + "/webhooks").json()
    assert [p["name"] for p in posts] == ["demo-slack"]
    assert request_id in posts[0]["text"]
    tried = httpx.get(sandbox + "/sandbox/requests", params={"path": "/webhooks/ops-slack"}).json()
    assert [r["status"] for r in tried] == [500, 500]
    # The failing hook is nowhere in the request's own history.
    events = httpx.get(f"{gateway}/requests/{request_id}/events", headers=rita).json()["events"]
    assert events[-1]["event_type"] == "RequestCompleted"
    assert not any("notif" in e["event_type"].lower() for e in events)
