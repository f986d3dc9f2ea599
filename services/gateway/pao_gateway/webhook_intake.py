"""What the gateway's webhooks (JIRA, ServiceNow) share: the shared-secret check, the
verify -> parse prologue and the publish of the command they turn a call into.

A call is authenticated with the webhook's shared secret, compared in constant time,
given any way the calling tool can send it:

- ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (Jira Cloud admin
  webhooks with a secret, and the sandbox);
- ``Authorization: Bearer <secret>`` or ``X-PAO-Webhook-Secret: <secret>`` (a proxy
  or automation rule that adds a header);
- ``?secret=<secret>`` in the webhook URL (Jira Server/Data Center webhooks, which
  can only be configured with a URL).

Without a configured secret a webhook answers 503 to everyone; a missing or wrong secret
is 401, a body that is not JSON 400, a command the broker does not take 503 (the tools
retry a 5xx delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pao_common.cloudevents import CloudEvent
from pao_common.kafka import publish_event
from pao_common.service import ServiceRuntime
from pydantic import SecretStr

PREFIX = "/api/v1/webhooks/"  # PAO_GATEWAY_WEBHOOK_MAX_BODY_BYTES applies under it


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


def problem(status: int, detail: str) -> JSONResponse:
    """The error answer of a webhook: ``{"detail": ...}`` with ``status``."""
    return JSONResponse({"detail": detail}, status)


@dataclass(frozen=True)
class WebhookIntake:
    """One webhook's prologue and publish: ``tool`` names it in answers and logs
    (``JIRA``), ``secret_variable`` is the setting its secret comes from."""

    tool: str
    secret_variable: str
    log: logging.Logger

    async def payload(self, request: Request, secret: SecretStr | None) -> Any | JSONResponse:
        """The call's JSON body once its secret is checked, or the error answer."""
        if secret is None:
            return problem(
                503, f"the {self.tool} webhook is not configured ({self.secret_variable})"
            )
        raw = await request.body()
        if not verify(secret.get_secret_value(), raw, request.headers, request.query_params):
            self.log.warning("%s webhook refused: missing or wrong secret", self.tool)
            return problem(401, "missing or wrong webhook secret")
        try:
            return json.loads(raw)
        except ValueError:
            return problem(400, "the body is not JSON")

    async def publish(
        self, runtime: ServiceRuntime, event: CloudEvent, *, command: str, what: str
    ) -> JSONResponse | None:
        """Publish ``event`` (a ``command`` about ``what``) on ``pao.requests.commands``;
        the 503 answer if the broker does not take it, else ``None``."""
        try:
            await publish_event(runtime.broker, runtime.topics.request_commands, event)
        except Exception as exc:  # the tool retries a 5xx delivery
            self.log.warning("%s webhook: cannot publish %s: %r", self.tool, command, exc)
            return problem(503, f"cannot publish {what} now; retry")
        return None
