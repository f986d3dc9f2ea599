"""The notifications sandbox: a real SMTP server keeps what it receives (envelope and
headers), the chat-webhook sink answers like a Slack incoming webhook, a scripted fault
answers 500, and /notify/ui lists both; ``python -m pao_sandbox`` listens for
SMTP on the port it is given."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
from pao_devtools.ports import free_port

from tests.support.sandbox import SandboxServer
from tests.support.services import ServiceProcess


def _mail(to: list[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "pao@example.com"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_smtp_catcher_keeps_envelope_and_message(sandbox: SandboxServer) -> None:
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(
            _mail(["ana@example.com"], "[PAO] approve <x>", "Decide: http://portal/r/1\n"),
            to_addrs=["ana@example.com", "security-approvals@example.com"],
        )

    mails = httpx.get(f"{sandbox.notify_url}/mails").json()
    assert len(mails) == 1
    mail = mails[0]
    assert mail["mail_from"] == "pao@example.com"
    assert mail["rcpt_tos"] == ["ana@example.com", "security-approvals@example.com"]
    assert mail["to"] == "ana@example.com"
    assert mail["subject"] == "[PAO] approve <x>"
    assert mail["body"] == "Decide: http://portal/r/1\n"
    ui = httpx.get(f"{sandbox.notify_url}/ui")
    assert ui.status_code == 200
    assert "[PAO] approve &lt;x&gt;" in ui.text and "security-approvals@example.com" in ui.text

    httpx.post(f"{sandbox.url}/sandbox/reset").raise_for_status()
    assert httpx.get(f"{sandbox.notify_url}/mails").json() == []


def test_smtp_catcher_refuses_configured_recipients(sandbox: SandboxServer) -> None:
    sandbox.configure("notify", reject_recipients=["gone@example.com"])
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(
            _mail(["ana@example.com"], "s", "b"), to_addrs=["gone@example.com", "ana@example.com"]
        )
    assert refused == {
        "gone@example.com": (550, b"5.1.1 gone@example.com: recipient refused by the sandbox")
    }
    assert httpx.get(f"{sandbox.notify_url}/mails").json()[0]["rcpt_tos"] == ["ana@example.com"]


def test_webhook_sink_answers_like_slack_and_plays_faults(sandbox: SandboxServer) -> None:
    ok = httpx.post(f"{sandbox.notify_url}/webhooks/security-slack", json={"text": "*hi*\nthere"})
    card = {"@type": "MessageCard", "title": "Done", "text": "r-1 completed"}
    teams = httpx.post(f"{sandbox.notify_url}/webhooks/netops-teams", json=card)
    bad = httpx.post(f"{sandbox.notify_url}/webhooks/security-slack", content=b"[1]")
    sandbox.fault("notify", method="POST", path="/webhooks/security-slack", status=500)
    failed = httpx.post(f"{sandbox.notify_url}/webhooks/security-slack", json={"text": "again"})

    assert (ok.status_code, ok.text, ok.headers["content-type"]) == (
        200,
        "ok",
        "text/plain; charset=utf-8",
    )
    assert teams.status_code == 200
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_payload"
    assert failed.status_code == 500
    posts = httpx.get(f"{sandbox.notify_url}/webhooks").json()
    assert [(p["name"], p["format"], p["text"]) for p in posts] == [
        ("security-slack", "slack", "*hi*\nthere"),
        ("netops-teams", "teams", "Done\nr-1 completed"),
    ]
    recorded = sandbox.requests("notify", path="/webhooks/*")
    assert [r["status"] for r in recorded] == [200, 200, 400, 500]
    assert "netops-teams" in httpx.get(f"{sandbox.notify_url}/ui").text


def test_module_listens_for_smtp_on_the_given_port(tmp_path: Path) -> None:
    smtp_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env["PAO_SANDBOX_SMTP_PORT"] = str(smtp_port)
    process = ServiceProcess("pao_sandbox", env, tmp_path).start()
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(_mail(["ben@example.com"], "hello", "body"))
        mails = httpx.get(f"{process.url}/notify/mails").json()
        state = httpx.get(f"{process.url}/notify/sandbox/state").json()
    finally:
        process.stop()
    assert [m["rcpt_tos"] for m in mails] == [["ben@example.com"]]
    assert state["smtp_port"] == smtp_port
