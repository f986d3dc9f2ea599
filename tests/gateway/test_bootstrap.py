"""The gateway's adapters are the ones ``create_app`` is given (``pao_gateway.bootstrap``)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from pao_common.settings import Settings
from pao_gateway.bootstrap import build_adapters
from pao_gateway.identity import build_verifier

from tests.gateway.conftest import (
    Issuer,
    JsonServer,
    gateway_settings,
    rsa_pair,
    run_gateway,
)

pytestmark = pytest.mark.integration


async def test_a_gateway_over_a_replaced_verifier_trusts_that_issuer_only(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    tmp_path: Path,
) -> None:
    settings = gateway_settings(
        kafka_bootstrap, database_url, redis_url, issuer, catalog_service.url, tmp_path
    )
    private, public = rsa_pair()
    (tmp_path / "other.pem").write_bytes(public)
    other = Issuer(private, public, tmp_path / "other.pem", issuer="https://other.test/realms/pao")
    trusting_other: Settings = settings.model_copy(
        update={"jwt_issuer": other.issuer, "jwt_public_key_file": other.public_key_file}
    )
    adapters = replace(build_adapters(settings), verifier=build_verifier(trusting_other))

    async for gateway in run_gateway(settings, adapters):
        assert gateway.app.state.gateway.verifier is adapters.verifier
        user = f"u-{uuid.uuid4().hex[:8]}"
        accepted = await gateway.client.get("/api/v1/requests", headers=other.headers(user))
        assert accepted.status_code == 200, accepted.text
        refused = await gateway.client.get("/api/v1/requests", headers=issuer.headers(user))
        assert refused.status_code == 401, refused.text
