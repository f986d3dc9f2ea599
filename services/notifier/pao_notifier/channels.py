"""Delivery over the wire: SMTP (stdlib ``smtplib`` in a thread) and chat webhooks.

A webhook is a Slack-compatible incoming webhook (``{"text": ...}``) or a Microsoft Teams
incoming webhook (a ``MessageCard``); with ``PAO_NOTIFY_WEBHOOK_SANDBOX_URL`` every hook
goes to that sink instead, under its name. Any answer but 2xx, a timeout or a refused
connection is a ``DeliveryFailed``; the sender retries it.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import httpx

from pao_notifier.errors import DeliveryFailed


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    sender: str
    timeout_s: float = 10.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    def _send(self, recipients: tuple[str, ...], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message, to_addrs=list(recipients))

    async def send(self, recipients: tuple[str, ...], subject: str, body: str) -> None:
        try:
            await asyncio.to_thread(self._send, recipients, subject, body)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {exc}") from exc


def webhook_body(channel: str, subject: str, body: str) -> dict[str, Any]:
    if channel == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": subject,
            "title": subject,
            "text": body,
        }
    return {"text": f"*{subject}*\n{body}"}


@dataclass
class Webhooks:
    client: httpx.AsyncClient
    # Every hook posted to {sandbox_url}/{hook name} instead of its URL (``pao dev``: the
    # sandbox's webhook sink, so a laptop posts to no real channel).
    sandbox_url: str | None = None

    async def send(self, url: str, channel: str, subject: str, body: str, name: str = "") -> None:
        if self.sandbox_url:
            url = f"{self.sandbox_url.rstrip('/')}/{quote(name or 'webhook', safe='')}"
        try:
            response = await self.client.post(url, json=webhook_body(channel, subject, body))
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")
