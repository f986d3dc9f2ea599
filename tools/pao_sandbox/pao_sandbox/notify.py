"""Notifications sandbox: an SMTP catcher and a chat-webhook sink, so the notifier's
e-mails and chat posts are received on the laptop and nothing leaves it.

Mounted at ``/notify``. The SMTP catcher is a real SMTP server (``aiosmtpd``) on its own
port (``PAO_SANDBOX_SMTP_PORT``; ``pao dev``: the sandbox's port + 1, 8100 by default),
started by ``start_smtp`` (``python -m pao_sandbox`` does at start); it accepts
every message and keeps it with its envelope. The webhook sink answers like a Slack
incoming webhook::

    POST /webhooks/{name}     {"text": "..."} (Slack) or a Teams MessageCard
                              -> 200 "ok" (text/plain, as Slack answers)
                              a body that is not a JSON object -> 400 "invalid_payload"

Sandbox side::

    GET    /mails             every received e-mail: envelope sender and recipients,
                              From/To/Subject headers, the text body, when
    GET    /webhooks          every webhook post: name, body, when
    DELETE /mails | /webhooks forget them
    GET    /ui                both lists

A webhook that fails is scripted with the usual faults
(``POST /notify/sandbox/faults {"path": "/webhooks/security-slack", "status": 500}``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any, ClassVar

from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from pao_sandbox.common import SandboxSystem, esc, json_body, page
from pao_sandbox.errors import SandboxApiError

KEEP = 1000  # messages and posts kept, newest last


class NotifyConfig(BaseModel):
    reject_recipients: list[str] = Field(
        default_factory=list, description="RCPT TO addresses refused with 550"
    )


class _Handler:
    """aiosmtpd's handler: every accepted message into the sandbox's list."""

    def __init__(self, system: NotifySandbox) -> None:
        self.system = system

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in {a.lower() for a in self.system.config.reject_recipients}:
            return f"550 5.1.1 {address}: recipient refused by the sandbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.system.received_mail(
            str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], bytes(raw)
        )
        return "250 Message accepted for delivery"


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content.replace("\r\n", "\n") if isinstance(content, str) else ""


class NotifySandbox(SandboxSystem[NotifyConfig]):
    name: ClassVar[str] = "notify"
    title: ClassVar[str] = "Notifications (SMTP and chat webhooks)"
    config_model: ClassVar[type[BaseModel]] = NotifyConfig

    def __init__(self, config: NotifyConfig) -> None:
        self._lock = threading.Lock()  # the SMTP server runs in its own thread
        self._controller: Controller | None = None
        super().__init__(config)

    def reset_state(self) -> None:
        with self._lock:
            self.mails: deque[dict[str, Any]] = deque(maxlen=KEEP)
            self.posts: deque[dict[str, Any]] = deque(maxlen=KEEP)
            self._seq = 0

    def dump_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "smtp_port": self.smtp_port,
                "mails": list(self.mails),
                "webhooks": list(self.posts),
            }

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        return {"ok": False, "error": message or f"HTTP {status}"}

    # --- the SMTP catcher ---------------------------------------------------------------

    @property
    def smtp_port(self) -> int | None:
        return self._controller.port if self._controller is not None else None

    def start_smtp(self, host: str, port: int) -> None:
        """Listen for SMTP on ``host:port`` (a thread of aiosmtpd's) until ``stop_smtp``."""
        if self._controller is not None:
            raise RuntimeError(f"the SMTP catcher already listens on port {self.smtp_port}")
        controller = Controller(_Handler(self), hostname=host, port=port)
        controller.start()
        self._controller = controller

    def stop_smtp(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received_mail(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        message = message_from_bytes(raw, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._seq += 1
            self.mails.append(
                {
                    "id": self._seq,
                    "mail_from": mail_from,
                    "rcpt_tos": rcpt_tos,
                    "from": str(message.get("From", "")),
                    "to": str(message.get("To", "")),
                    "subject": str(message.get("Subject", "")),
                    "body": _text_body(message),
                    "received_at": time.time(),
                }
            )

    # --- the API ------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        @app.post("/webhooks/{name}")
        async def post_webhook(name: str, request: Request) -> Response:
            body = await json_body(request)
            if not isinstance(body, dict):
                # Slack answers 400 invalid_payload to a body it cannot read.
                raise SandboxApiError(400, "invalid_payload", body=None)
            teams = body.get("@type") == "MessageCard"
            text = body.get("text")
            if teams:
                text = f"{body.get('title') or ''}\n{body.get('text') or ''}".strip()
            with self._lock:
                self._seq += 1
                self.posts.append(
                    {
                        "id": self._seq,
                        "name": name,
                        "format": "teams" if teams else "slack",
                        "text": text if isinstance(text, str) else None,
                        "body": body,
                        "received_at": time.time(),
                    }
                )
            return PlainTextResponse("ok")

        @app.get("/mails")
        async def mails() -> list[dict[str, Any]]:
            with self._lock:
                return list(self.mails)

        @app.delete("/mails", status_code=204)
        async def forget_mails() -> Response:
            with self._lock:
                self.mails.clear()
            return Response(status_code=204)

        @app.get("/webhooks")
        async def webhooks() -> list[dict[str, Any]]:
            with self._lock:
                return list(self.posts)

        @app.delete("/webhooks", status_code=204)
        async def forget_webhooks() -> Response:
            with self._lock:
                self.posts.clear()
            return Response(status_code=204)

        @app.get("/ui", include_in_schema=False)
        async def ui(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            with self._lock:
                mails = list(reversed(self.mails))
                posts = list(reversed(self.posts))
            mail_rows = "".join(
                f"<tr><td>{esc(_when(m['received_at']))}</td><td>{esc(m['from'])}</td>"
                f"<td>{esc(', '.join(m['rcpt_tos']))}</td><td><b>{esc(m['subject'])}</b>"
                f"<pre>{esc(m['body'])}</pre></td></tr>"
                for m in mails
            )
            post_rows = "".join(
                f"<tr><td>{esc(_when(p['received_at']))}</td><td>{esc(p['name'])}</td>"
                f"<td>{esc(p['format'])}</td><td><pre>{esc(p['text'])}</pre></td></tr>"
                for p in posts
            )
            smtp = (
                f"SMTP on port {self.smtp_port}"
                if self.smtp_port is not None
                else "SMTP catcher not started"
            )
            return page(
                "Sandbox notifications: e-mails and chat posts",
                f"<p>{esc(smtp)}; chat webhooks at <code>{esc(root)}/webhooks/NAME</code>."
                f" JSON: <a href='{esc(root)}/mails'>mails</a>,"
                f" <a href='{esc(root)}/webhooks'>webhooks</a>.</p>"
                f"<h2>E-mails ({len(mails)})</h2><table><tr><th>Received</th><th>From</th>"
                "<th>Recipients</th><th>Message</th></tr>"
                f"{mail_rows or '<tr><td>No e-mails yet.</td></tr>'}</table>"
                f"<h2>Chat webhooks ({len(posts)})</h2><table><tr><th>Received</th>"
                "<th>Webhook</th><th>Format</th><th>Text</th></tr>"
                f"{post_rows or '<tr><td>No posts yet.</td></tr>'}</table>",
            )


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + "Z"
