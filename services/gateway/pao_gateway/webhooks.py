"""``POST /api/v1/webhooks/jira``: a resolved manual ticket completes (or fails) its request.

JIRA calls it on ``jira:issue_updated``. The call is authenticated with the shared
secret ``PAO_JIRA_WEBHOOK_SECRET`` (an ``X-Hub-Signature`` HMAC of the body, a bearer or
``X-PAO-Webhook-Secret`` header, or ``?secret=``: see ``pao_gateway.webhook_intake``).

A resolved issue carrying a ``pao-request-<id>`` label becomes ``TicketResolved`` on
``pao.requests.commands`` (``done`` for the resolutions in ``PAO_JIRA_DONE_RESOLUTIONS``,
else ``wont_do`` with the resolution and its comment as the reason), with the message id
derived from issue key and resolution, the same id the jira executor's poller uses,
so a resolution announced twice is handled once. Anything else is acknowledged and
ignored. Without a configured secret the endpoint answers 503 to everyone.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pao_common.jira_tickets import (
    DONE_RESOLUTIONS,
    message_id,
    parse_done,
    ticket_resolved,
)
from pao_common.messages import to_cloudevent
from pao_common.service import ServiceRuntime
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pao_gateway.webhook_intake import PREFIX, WebhookIntake

log = logging.getLogger("pao.gateway.webhooks")
PATH = f"{PREFIX}jira"
SOURCE = "pao-gateway/webhooks/jira"
INTAKE = WebhookIntake("JIRA", "PAO_JIRA_WEBHOOK_SECRET", log)


class JiraWebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_JIRA_", extra="ignore")

    webhook_secret: SecretStr | None = Field(None, description="Shared secret of the webhook")
    done_resolutions: str = Field(",".join(DONE_RESOLUTIONS))


def register(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Add the JIRA webhook route to the gateway ``app`` (publishing on ``runtime``'s broker)."""
    settings = JiraWebhookSettings()
    done = parse_done(settings.done_resolutions)
    router = APIRouter(tags=["webhooks"])

    @router.post(PATH, status_code=202, responses={401: {}, 503: {}})
    async def jira_webhook(request: Request) -> JSONResponse:
        """JIRA's issue events; a resolved PAO ticket completes or fails its request."""
        payload = await INTAKE.payload(request, settings.webhook_secret)
        if isinstance(payload, JSONResponse):
            return payload
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
        refused = await INTAKE.publish(
            runtime, event, command="TicketResolved", what="the resolution"
        )
        if refused is not None:
            return refused
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
