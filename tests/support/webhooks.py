"""The gateway's webhooks in tests: a gateway process that knows their secrets, and the
signature JIRA (and ServiceNow's outbound REST messages) put on a delivery."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pao_common.settings import Settings

from tests.support.services import ServiceProcess, service_env


def hub_signature(secret: str, raw: bytes) -> str:
    """``X-Hub-Signature``'s value for the body ``raw``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


@contextmanager
def webhook_gateway(settings: Settings, tmp_path: Path, **secrets: str) -> Iterator[ServiceProcess]:
    """A ``python -m pao_gateway`` process with ``secrets`` in its environment (e.g.
    ``PAO_JIRA_WEBHOOK_SECRET=...``), its development key under ``tmp_path``; no catalog
    (the webhooks need none)."""
    env = service_env(
        settings,
        **secrets,
        PAO_JWT_DEV_KEY_DIR=str(tmp_path / "dev-jwt"),
        PAO_CATALOG_URL="http://127.0.0.1:9",
    )
    service = ServiceProcess("pao_gateway", env, tmp_path).start(wait_ready_s=90)
    try:
        yield service
    finally:
        service.stop()
