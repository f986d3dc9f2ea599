"""``PAO_SECRETS_SANDBOX=1`` (``pao dev`` with every system sandboxed): placeholders."""

from __future__ import annotations

import pytest
from pao_cli.dev import SANDBOXED_SYSTEMS, sandbox_environment
from pao_common.errors import SecretNotFound
from pao_common.executor.secrets import Redactor, SecretResolver


def test_an_unconfigured_secret_gets_a_stable_redacted_placeholder() -> None:
    redactor = Redactor()
    resolver = SecretResolver(environ={"PAO_SECRETS_SANDBOX": "1"}, redactor=redactor)
    value = resolver.get("dns-api/token")
    assert value.startswith("sandbox-") and resolver.get("dns-api/token") == value
    assert resolver.get("pam/api-token") != value
    assert redactor.redact(f"Bearer {value}") == "Bearer ***"


def test_a_configured_secret_wins_and_without_the_flag_nothing_is_invented() -> None:
    env = {"PAO_SECRETS_SANDBOX": "1", "PAO_SECRET_DNS_API_TOKEN": "real"}
    assert SecretResolver(environ=env, redactor=Redactor()).get("dns-api/token") == "real"
    with pytest.raises(SecretNotFound, match="is not configured"):
        SecretResolver(environ={}, redactor=Redactor()).get("dns-api/token")


def test_pao_dev_sets_it_only_when_every_system_is_the_sandbox() -> None:
    env, sandboxed = sandbox_environment({}, "http://127.0.0.1:9", 8080)
    assert len(sandboxed) == len(SANDBOXED_SYSTEMS) and env["PAO_SECRETS_SANDBOX"] == "1"
    assert env["PAO_REST_SANDBOX_URL"] == "http://127.0.0.1:9/echo"
    real_rest, sandboxed = sandbox_environment(
        {"PAO_REST_ALLOWED_HOSTS": "api.example.com"}, "http://127.0.0.1:9", 8080
    )
    assert "REST" not in sandboxed
    assert "PAO_SECRETS_SANDBOX" not in real_rest and "PAO_REST_SANDBOX_URL" not in real_rest
