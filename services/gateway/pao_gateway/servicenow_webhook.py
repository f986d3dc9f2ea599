"""``POST /api/v1/webhooks/servicenow``: a decided change request lets its request go on.

ServiceNow calls it when the ``approval`` of a change request PAO opened changes (a
business rule on ``change_request`` with an outbound REST message, or a flow's REST
step), with the record as JSON: at least ``sys_id``, ``number``, ``approval``,
``correlation_id`` (the request id) and ``correlation_display`` (``PAO``); a
``{"result": {...}}`` envelope is accepted too. It is authenticated with the shared
secret ``PAO_SERVICENOW_WEBHOOK_SECRET`` the same ways the JIRA webhook is
(``X-Hub-Signature: sha256=<HMAC of the body>``, ``Authorization: Bearer``,
``X-PAO-Webhook-Secret`` or ``?secret=``).

An ``approved`` or ``rejected`` PAO change request becomes ``ChangeRequestDecided`` on
``pao.requests.commands`` with the message id derived from ``sys_id`` and the decision,
the id the servicenow executor's poller uses, so a decision announced twice is handled
once. Anything else is acknowledged and ignored. Without a configured secret the
endpoint answers 503 to everyone.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pao_common.kafka import publish_event
from pao_common.messages import to_cloudevent
from pao_common.service import ServiceRuntime
from pao_common.servicenow import change_decided, message_id
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pao_gateway.webhooks import PREFIX, verify

log = logging.getLogger("pao.gateway.webhooks.servicenow")
PATH = f"{PREFIX}servicenow"
SOURCE = "pao-gateway/webhooks/servicenow"


class ServiceNowWebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_SERVICENOW_", extra="ignore")

    webhook_secret: SecretStr | None = Field(None, description="Shared secret of the webhook")


def register(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Add the ServiceNow webhook route to the gateway ``app``."""
    settings = ServiceNowWebhookSettings()
    router = APIRouter(tags=["webhooks"])

    @router.post(PATH, status_code=202, responses={401: {}, 503: {}})
    async def servicenow_webhook(request: Request) -> JSONResponse:
        """A change request's record; a decided PAO change request lets its request go on."""
        if settings.webhook_secret is None:
            return _problem(
                503, "the ServiceNow webhook is not configured (PAO_SERVICENOW_WEBHOOK_SECRET)"
            )
        raw = await request.body()
        if not verify(
            settings.webhook_secret.get_secret_value(), raw, request.headers, request.query_params
        ):
            log.warning("ServiceNow webhook refused: missing or wrong secret")
            return _problem(401, "missing or wrong webhook secret")
        try:
            payload = json.loads(raw)
        except ValueError:
            return _problem(400, "the body is not JSON")
        record = payload.get("result", payload) if isinstance(payload, dict) else None
        if not isinstance(record, dict):
            return JSONResponse({"status": "ignored", "reason": "no record in the body"}, 200)
        message = change_decided(record)
        if message is None:
            reason = "not a decided PAO change request"
            return JSONResponse(
                {"status": "ignored", "reason": reason, "number": record.get("number")}
            )
        event = to_cloudevent(
            message,
            source=SOURCE,
            subject=message.request_id,
            id=message_id(message.sys_id, message.approval),
        )
        try:
            await publish_event(runtime.broker, runtime.topics.request_commands, event)
        except Exception as exc:  # ServiceNow retries a failed outbound message
            log.warning("ServiceNow webhook: cannot publish ChangeRequestDecided: %r", exc)
            return _problem(503, "cannot publish the decision now; retry")
        log.info(
            "change request %s of request %s %s",
            message.number or message.sys_id,
            message.request_id,
            message.approval,
        )
        return JSONResponse(
            {
                "status": "accepted",
                "request_id": message.request_id,
                "number": message.number,
                "approval": message.approval,
                "message_id": event.id,
            },
            202,
        )

    app.include_router(router)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)
