"""Change requests as a platform engineer meets them (issue #12's leftovers), on the whole
platform as ``pao dev`` runs it (``E2EPlatform``: the notifier included, the sandbox
ServiceNow, its SMTP catcher) with a calendar that asks a change request of every normal
change:

- the requester is e-mailed when the change request opens (its CHG number and the form's
  link) and again when it is approved (then the request completes and says so) or rejected;
- a request whose change request was rejected shows its steps as ``skipped`` with the
  reason in ``GET /api/v1/requests/{id}``, never ``pending``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MakePlatform
from tests.e2e.platform import E2EPlatform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = """\
schemaVersion: "2.0"
metadata:
  id: e2e-normal-change
  name: A normal change with a change request
  version: 1.0.0
  owner: platform
  category: debug
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
change_class: normal
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: prepare, action: debug.log, with: {message: "prepare {{ inputs.message }}"}}
      - {id: finish, action: debug.log, with: {message: "done {{ inputs.message }}"}}
examples:
  - {name: ok, user: {id: alice}, inputs: {message: hi}}
"""
CALENDAR = """\
schemaVersion: "1.0"
kind: ChangeCalendar
version: e2e
timezone: UTC
change_requests:
  classes: [normal]
  items: [e2e-normal-change]
  planned_duration: 1h
"""
RITA = {"id": "rita", "email": "rita@example.com", "name": "Rita", "teams": ["platform"]}


async def _settled_notes(
    platform: E2EPlatform, token: str, request_id: str, triggers: set[str]
) -> dict[str, Any]:
    def done(view: dict[str, Any]) -> bool:
        notes = view.get("notifications") or []
        sent = {n["trigger"] for n in notes if n["status"] == "sent"}
        return triggers <= sent

    return await platform.wait_for(
        token, request_id, done, what=f"notifications {sorted(triggers)} sent"
    )


async def _mails_for(platform: E2EPlatform, request_id: str, count: int) -> list[dict[str, Any]]:
    stop = time.monotonic() + 120
    found: list[dict[str, Any]] = []
    while time.monotonic() < stop:
        found = [m for m in await platform.sandbox.mails() if request_id in m["subject"]]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"{count} mails for {request_id} never arrived: {found}")


async def _decide(platform: E2EPlatform, token: str, request_id: str, verb: str) -> str:
    view = await platform.wait_for(
        token,
        request_id,
        lambda v: (
            v["status"] == "awaiting_change_approval"
            and bool((v.get("change") or {}).get("change_request", {}).get("number"))
        ),
        what="its change request opened",
    )
    record = view["change"]["change_request"]
    await platform.sandbox.call(
        "POST",
        f"/servicenow/sandbox/change_request/{record['sys_id']}/{verb}",
        {"user": "carla.cab", "comment": f"{verb} (the e2e test)"},
    )
    number: str = record["number"]
    return number


async def test_the_requester_hears_of_the_change_request_and_a_rejected_one_skips_its_steps(
    make_e2e_platform: MakePlatform, tmp_path: Path
) -> None:
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text(CALENDAR)
    platform = await make_e2e_platform(
        extra_env={"PAO_CHANGE_CALENDAR": str(calendar)},
        extra_items={"e2e-normal-change.yaml": ITEM},
    )
    token = platform.user_token(RITA)
    approved = await platform.submit_request(token, "e2e-normal-change", {"message": "yes"})
    rejected = await platform.submit_request(token, "e2e-normal-change", {"message": "no"})

    # rejected in ServiceNow: the request ends rejected, its steps never ran
    number = await _decide(platform, token, rejected, "reject")
    view = await platform.wait_status(token, rejected, {"rejected"})
    assert [(s["id"], s["status"], s["skipped_reason"]) for s in view["steps"]] == [
        ("prepare", "skipped", "not run: request rejected"),
        ("finish", "skipped", "not run: request rejected"),
    ]
    assert all(s["attempts"] == 0 and s["started_at"] is None for s in view["steps"])
    view = await _settled_notes(
        platform, token, rejected, {"awaiting_change_approval", "change_rejected"}
    )
    notes = {n["trigger"]: n for n in view["notifications"]}
    assert notes["awaiting_change_approval"]["recipients"] == ["rita@example.com"]
    assert number in notes["awaiting_change_approval"]["subject"]
    assert number in notes["change_rejected"]["subject"]
    assert "completed" not in notes and "failed" not in notes
    mails = {m["subject"]: m for m in await _mails_for(platform, rejected, 2)}
    opened = next(m for s, m in mails.items() if "waits for change request" in s)
    assert opened["rcpt_tos"] == ["rita@example.com"]
    url = view["change"]["change_request"]["url"]
    assert url and url in opened["body"] and number in opened["body"]
    refused = next(m for s, m in mails.items() if "was rejected" in s)
    assert "carla.cab" in refused["body"] and "reject (the e2e test)" in refused["body"]

    # approved in ServiceNow: the request runs and completes; three e-mails in all
    number = await _decide(platform, token, approved, "approve")
    view = await platform.wait_status(token, approved, {"completed"})
    assert [(s["status"], s.get("skipped_reason")) for s in view["steps"]] == [
        ("succeeded", None),
        ("succeeded", None),
    ]
    view = await _settled_notes(
        platform, token, approved, {"awaiting_change_approval", "change_approved", "completed"}
    )
    approval = next(n for n in view["notifications"] if n["trigger"] == "change_approved")
    assert number in approval["subject"] and approval["recipients"] == ["rita@example.com"]
    assert len(await _mails_for(platform, approved, 3)) == 3
