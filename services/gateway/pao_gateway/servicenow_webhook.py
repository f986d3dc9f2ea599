"""``POST /api/v1/webhooks/servicenow``: a decided change request lets its request go on.

ServiceNow calls it when the ``approval`` of a change request PAO opened changes (a
business rule on ``change_request`` with an outbound REST message, or a flow's REST
step), with the record as JSON: at least ``sys_id``, ``number``, ``approval``,
``correlation_id`` (the request id) and ``correlation_display`` (``PAO``); a
``{"result": {...}}`` envelope is accepted too. It is authenticated with the shared
secret ``PAO_SERVICENOW_WEBHOOK_SECRET`` the same ways the JIRA webhook is
(``X-Hub-Signature: sha256=<HMAC of the body>``, ``Authorization: Bearer``,
``X-PAO-Webhook-Secret`` or ``?secret=``: see ``pao_gateway.webhook_intake``).

An ``approved`` or ``rejected`` PAO change request becomes ``ChangeRequestDecided`` on
``pao.requests.commands`` with the message id derived from ``sys_id`` and the decision,
the id the servicenow executor's poller uses, so a decision announced twice is handled
once. Anything else is acknowledged and ignored. Without a configured secret the
endpoint answers 503 to everyone.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pao_common.messages import to_cloudevent
from pao_common.service import ServiceRuntime
from pao_common.servicenow import change_decided, message_id
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pao_gateway.webhook_intake import PREFIX, WebhookIntake

log = logging.getLogger("pao.gateway.webhooks.servicenow")
PATH = f"{PREFIX}servicenow"
SOURCE = "pao-gateway/webhooks/servicenow"
INTAKE = WebhookIntake("ServiceNow", "PAO_SERVICENOW_WEBHOOK_SECRET", log)


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
        payload = await INTAKE.payload(request, settings.webhook_secret)
        if isinstance(payload, JSONResponse):
            return payload
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
        refused = await INTAKE.publish(
            runtime, event, command="ChangeRequestDecided", what="the decision"
        )
        if refused is not None:
            return refused
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
