"""``POST /api/v1/webhooks/jira``: a resolved manual ticket completes (or fails) its request.

JIRA calls it on ``jira:issue_updated``. The call is authenticated with the shared
secret ``PAO_JIRA_WEBHOOK_SECRET``, compared in constant time, given either way JIRA
can send it:

- ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (Jira Cloud admin
  webhooks with a secret, and the sandbox);
- ``Authorization: Bearer <secret>`` or ``X-PAO-Webhook-Secret: <secret>`` (a proxy
  or automation rule that adds a header);
- ``?secret=<secret>`` in the webhook URL (Jira Server/Data Center webhooks, which
  can only be configured with a URL).

A resolved issue carrying a ``pao-request-<id>`` label becomes ``TicketResolved`` on
``pao.requests.commands`` (``done`` for the resolutions in ``PAO_JIRA_DONE_RESOLUTIONS``,
else ``wont_do`` with the resolution and its comment as the reason), with the message id
derived from issue key and resolution, the same id the jira executor's poller uses,
so a resolution announced twice is handled once. Anything else is acknowledged and
ignored. Without a configured secret the endpoint answers 503 to everyone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pao_common.jira_tickets import (
    DONE_RESOLUTIONS,
    message_id,
    parse_done,
    ticket_resolved,
)
from pao_common.kafka import publish_event
from pao_common.messages import to_cloudevent
from pao_common.service import ServiceRuntime
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("pao.gateway.webhooks")
PREFIX = "/api/v1/webhooks/"  # PAO_GATEWAY_WEBHOOK_MAX_BODY_BYTES applies under it
PATH = f"{PREFIX}jira"
SOURCE = "pao-gateway/webhooks/jira"


class JiraWebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_JIRA_", extra="ignore")

    webhook_secret: SecretStr | None = Field(None, description="Shared secret of the webhook")
    done_resolutions: str = Field(",".join(DONE_RESOLUTIONS))


def _equal(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode(), secret.encode())


def verify(secret: str, raw: bytes, headers: Any, query: Any) -> bool:
    """Whether the call proves it knows ``secret`` (see the module docstring)."""
    signature = headers.get("x-hub-signature") or ""
    if signature.startswith("sha256="):
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return _equal(signature.removeprefix("sha256="), digest)
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return _equal(authorization[7:].strip(), secret)
    if "x-pao-webhook-secret" in headers:
        return _equal(headers["x-pao-webhook-secret"], secret)
    if "secret" in query:
        return _equal(query["secret"], secret)
    return False


def register(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Add the JIRA webhook route to the gateway ``app`` (publishing on ``runtime``'s broker)."""
    settings = JiraWebhookSettings()
    done = parse_done(settings.done_resolutions)
    router = APIRouter(tags=["webhooks"])

    @router.post(PATH, status_code=202, responses={401: {}, 503: {}})
    async def jira_webhook(request: Request) -> JSONResponse:
        """JIRA's issue events; a resolved PAO ticket completes or fails its request."""
        if settings.webhook_secret is None:
            return _problem(503, "the JIRA webhook is not configured (PAO_JIRA_WEBHOOK_SECRET)")
        raw = await request.body()
        secret = settings.webhook_secret.get_secret_value()
        if not verify(secret, raw, request.headers, request.query_params):
            log.warning("JIRA webhook refused: missing or wrong secret")
            return _problem(401, "missing or wrong webhook secret")
        try:
            payload = json.loads(raw)
        except ValueError:
            return _problem(400, "the body is not JSON")
        issue = payload.get("issue") if isinstance(payload, dict) else None
        if not isinstance(issue, dict):
            return JSONResponse({"status": "ignored", "reason": "no issue in the event"}, 200)
        comment = payload.get("comment")
        text = comment.get("body") if isinstance(comment, dict) else None
        message = ticket_resolved(
            issue, done=done, comment=text if isinstance(text, str) and text else None
        )
        if message is None:
            reason = "not a resolved PAO ticket"
            return JSONResponse({"status": "ignored", "reason": reason, "key": issue.get("key")})
        assert message.resolution is not None
        event = to_cloudevent(
            message,
            source=SOURCE,
            subject=message.request_id,
            id=message_id(message.ticket_key, message.resolution),
        )
        try:
            await publish_event(runtime.broker, runtime.topics.request_commands, event)
        except Exception as exc:  # JIRA retries a 5xx delivery
            log.warning("JIRA webhook: cannot publish TicketResolved: %r", exc)
            return _problem(503, "cannot publish the resolution now; retry")
        log.info(
            "ticket %s of request %s resolved (%s)",
            message.ticket_key,
            message.request_id,
            message.outcome,
        )
        return JSONResponse(
            {
                "status": "accepted",
                "request_id": message.request_id,
                "ticket_key": message.ticket_key,
                "outcome": message.outcome,
                "message_id": event.id,
            },
            202,
        )

    app.include_router(router)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)
