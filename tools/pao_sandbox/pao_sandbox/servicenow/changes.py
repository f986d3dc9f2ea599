"""ServiceNow sandbox change requests: an approver's decision and the signed webhook
about it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx

from pao_sandbox.errors import SandboxApiError
from pao_sandbox.servicenow.config import (
    CHANGE_STATES,
    CHANGE_TABLE,
    ENDED,
    DecisionBody,
)

if TYPE_CHECKING:
    pass
from pao_sandbox.servicenow.tables import ServiceNowTables


class ServiceNowChanges(ServiceNowTables):
    """Change requests approved or rejected, and who is told."""

    async def decide_change(self, sys_id: str, approval: str, body: DecisionBody) -> dict[str, Any]:
        """An approver approves or rejects the change request (and the webhook is called)."""
        record = self.record(CHANGE_TABLE, sys_id)
        if record["state"] in ENDED:
            raise SandboxApiError(
                409, f"{record['number']} is {CHANGE_STATES[record['state']]}: not open"
            )
        changes = {
            "approval": approval,
            "state": "-2" if approval == "approved" else "-5",  # Scheduled, or back to New
        }
        if body.comment:
            changes["comments"] = body.comment
        self.update(CHANGE_TABLE, sys_id, changes, body.user)
        delivery = await self.notify(record)
        return {"result": record, "webhook": delivery}

    async def notify(self, record: dict[str, str]) -> dict[str, Any] | None:
        """POST the record to the webhook (with retries) if one is configured."""
        url = self.config.webhook_url
        if not url:
            return None
        raw = json.dumps(record).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "ServiceNow"}
        if self.config.webhook_secret:
            digest = hmac.new(self.config.webhook_secret.encode(), raw, hashlib.sha256)
            headers["X-Hub-Signature"] = "sha256=" + digest.hexdigest()
        delivery: dict[str, Any] = {
            "number": record["number"],
            "approval": record["approval"],
            "url": url,
            "attempts": [],
            "delivered": False,
        }
        self.deliveries.append(delivery)
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout_s) as client:
            for attempt in range(self.config.webhook_attempts):
                if attempt:
                    await asyncio.sleep(0.2 * 2**attempt)
                try:
                    response = await client.post(url, content=raw, headers=headers)
                    delivery["attempts"].append({"status": response.status_code})
                    if response.is_success:
                        delivery["delivered"] = True
                        break
                    if response.status_code < 500 and response.status_code != 429:
                        break
                except httpx.HTTPError as exc:
                    delivery["attempts"].append({"error": f"{type(exc).__name__}: {exc}"})
        return delivery
