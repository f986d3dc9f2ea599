"""Who a command acts for: the verified credential replaces the identity its body claims.

Unit tests of ``pao_orchestrator.authentication`` and ``pao_common.service_tokens`` (no
broker): the gateway's signed commands, users' bearer tokens, and every way each is
refused. The same checks over a real broker and database: tests/lifecycle/test_kafka_ingress.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pao_common import devkeys
from pao_common.cloudevents import CloudEvent
from pao_common.errors import AuthenticationFailed, ConfigurationError, IdentityProviderDown
from pao_common.identity import CREDENTIAL_EXTENSION, build_verifier
from pao_common.messages import (
    ApproveRequest,
    Message,
    RejectRequest,
    Requester,
    SubmitRequest,
    TicketResolved,
    to_cloudevent,
)
from pao_common.service_tokens import ServiceSigner, TrustedServices, body_sha256
from pao_common.settings import Profile, Settings
from pao_devtools.ports import free_port
from pao_orchestrator.authentication import CommandAuthenticator
from pao_orchestrator.errors import CommandNotAllowed

ALICE = Requester(id="alice", email="alice@example.com", teams=("payments",), roles=("engineer",))


@pytest.fixture
def dev_settings(tmp_path: Path) -> Settings:
    return Settings(
        profile=Profile.TEST,
        jwt_dev_key_dir=tmp_path / "dev-jwt",
        service_dev_key_dir=tmp_path / "dev-service",
    )


@pytest.fixture
def authenticator(dev_settings: Settings) -> CommandAuthenticator:
    return CommandAuthenticator(
        build_verifier(dev_settings),
        TrustedServices.from_settings(dev_settings),
        issuer=dev_settings.jwt_issuer,
    )


def submit(requester: Requester = ALICE, request_id: str = "r-1") -> SubmitRequest:
    return SubmitRequest(
        request_id=request_id, item_id="debug-echo", inputs={"message": "hi"}, requester=requester
    )


def event_of(message: Message, token: str | None = None) -> CloudEvent:
    event = to_cloudevent(message, source="test", subject="r-1")
    if token is not None:
        event = event.model_copy(update={"extensions": {CREDENTIAL_EXTENSION: token}})
    return event


def signed(settings: Settings, message: Message, person: Requester, **kw: float) -> CloudEvent:
    event = event_of(message)
    token = ServiceSigner.from_settings(settings).sign(event, person, **kw)
    return event.model_copy(update={"extensions": {CREDENTIAL_EXTENSION: token}})


async def refused(auth: CommandAuthenticator, message: Message, event: CloudEvent) -> str:
    with pytest.raises(CommandNotAllowed) as caught:
        await auth.authenticate(message, event)
    assert caught.value.request_id == "r-1"
    return caught.value.reason


# --- the gateway's signed commands -----------------------------------------------------------


async def test_gateway_signed_submit_acts_for_the_signed_person(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    message = submit()
    verified = await authenticator.authenticate(message, signed(dev_settings, message, ALICE))
    assert verified == message


async def test_a_signed_command_cannot_change_body_id_or_type(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    message = submit()
    event = signed(dev_settings, message, ALICE)
    bigger = event.model_copy(update={"data": {**event.data, "inputs": {"message": "rm -rf"}}})
    assert "not the one the service credential signed" in await refused(
        authenticator, message, bigger
    )
    moved = event.model_copy(update={"id": "another-message"})
    assert "signed for message" in await refused(authenticator, message, moved)
    # An approval's signature does not sign the rejection with the same body and id.
    approve = ApproveRequest(request_id="r-1", by=ALICE)
    approval = signed(dev_settings, approve, ALICE)
    reject = RejectRequest(request_id="r-1", by=ALICE)
    as_reject = approval.model_copy(update={"type": RejectRequest.ce_type})
    assert f"not '{RejectRequest.ce_type}'" in await refused(authenticator, reject, as_reject)


async def test_a_service_key_nobody_trusts_is_refused(
    dev_settings: Settings, authenticator: CommandAuthenticator, tmp_path: Path
) -> None:
    message = submit()
    impostor = dev_settings.model_copy(update={"service_dev_key_dir": tmp_path / "other"})
    reason = await refused(authenticator, message, signed(impostor, message, ALICE))
    assert reason.startswith("unauthenticated: ")
    assert "signature does not verify with 'pao-gateway'" in reason
    unknown = impostor.model_copy(update={"service_identity": "pao-intruder"})
    reason = await refused(authenticator, message, signed(unknown, message, ALICE))
    assert "issuer 'pao-intruder' is neither the identity provider ('pao-dev')" in reason


async def test_an_expired_service_signature_is_refused(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    message = submit()
    week_ago = time.time() - dev_settings.service_token_ttl_s - 3600
    event = signed(dev_settings, message, ALICE, now=week_ago)
    assert "expired" in await refused(authenticator, message, event)


async def test_the_signed_person_must_be_the_one_the_body_names(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    message = submit(Requester(id="mallory"))
    reason = await refused(authenticator, message, signed(dev_settings, message, ALICE))
    assert reason == "forbidden: the body acts for 'mallory' but the credential is 'alice''s"


# --- people's bearer tokens ------------------------------------------------------------------


async def test_a_bearer_token_replaces_the_roles_and_teams_the_body_claims(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    token = devkeys.mint(dev_settings, user="bob", teams=("dba",), roles=("engineer",))
    claims_admin = ApproveRequest(
        request_id="r-1", by=Requester(id="bob", roles=("platform-admin",), teams=("everyone",))
    )
    verified = await authenticator.authenticate(claims_admin, event_of(claims_admin, token))
    assert isinstance(verified, ApproveRequest)
    assert verified.by == Requester(id="bob", teams=("dba",), roles=("engineer",))
    assert not verified.by.is_admin


@pytest.mark.parametrize(
    ("ttl_s", "audience", "reason"),
    [
        (-120, "pao", "unauthenticated: token expired"),
        (600, "someone-else", "unauthenticated: token audience is not 'pao'"),
    ],
)
async def test_expired_or_wrong_audience_bearer_tokens_are_refused(
    dev_settings: Settings,
    authenticator: CommandAuthenticator,
    ttl_s: int,
    audience: str,
    reason: str,
) -> None:
    minting = dev_settings.model_copy(update={"jwt_audience": audience})
    token = devkeys.mint(minting, user="alice", ttl_s=ttl_s)
    message = submit()
    assert await refused(authenticator, message, event_of(message, token)) == reason


async def test_a_token_of_another_issuer_is_refused(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    token = devkeys.mint(
        dev_settings.model_copy(update={"jwt_issuer": "https://evil.test"}), user="alice"
    )
    message = submit()
    assert "issuer 'https://evil.test' is neither" in await refused(
        authenticator, message, event_of(message, token)
    )


async def test_missing_or_malformed_credentials_are_refused(
    authenticator: CommandAuthenticator,
) -> None:
    message = submit()
    assert "no credential" in await refused(authenticator, message, event_of(message))
    assert "malformed credential" in await refused(
        authenticator, message, event_of(message, "not-a-jwt")
    )


async def test_someone_elses_token_is_forbidden(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    token = devkeys.mint(dev_settings, user="eve")
    message = ApproveRequest(request_id="r-1", by=Requester(id="bob", roles=("platform-admin",)))
    assert (await refused(authenticator, message, event_of(message, token))).startswith(
        "forbidden: the body acts for 'bob'"
    )


async def test_commands_acting_for_nobody_pass_unchanged(
    authenticator: CommandAuthenticator,
) -> None:
    resolved = TicketResolved(request_id="r-1", ticket_key="OPS-1", outcome="done")
    assert await authenticator.authenticate(resolved, event_of(resolved)) is resolved


# --- configuration -----------------------------------------------------------------------------


def test_production_needs_a_signing_key_and_trusted_services(dev_settings: Settings) -> None:
    production = dev_settings.model_copy(update={"profile": Profile.PRODUCTION})
    with pytest.raises(ConfigurationError, match="PAO_SERVICE_SIGNING_KEY_FILE"):
        ServiceSigner.from_settings(production)
    with pytest.raises(ConfigurationError, match="PAO_SERVICE_TRUSTED_KEYS"):
        TrustedServices.from_settings(production)


def test_configured_keys_sign_and_verify(dev_settings: Settings, tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    private = tmp_path / "gateway.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "gateway-public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    production = dev_settings.model_copy(
        update={
            "profile": Profile.PRODUCTION,
            "service_signing_key_file": private,
            "service_trusted_keys": f"pao-gateway={public}, other={public}",
        }
    )
    trusted = TrustedServices.from_settings(production)
    assert trusted.names() == {"pao-gateway", "other"}
    message = submit()
    event = event_of(message)
    token = ServiceSigner.from_settings(production).sign(event, ALICE)
    assert trusted.verify(token, event) == ALICE
    with pytest.raises(ConfigurationError, match="not `name=path"):
        TrustedServices.from_settings(production.model_copy(update={"service_trusted_keys": "x"}))
    with pytest.raises(ConfigurationError, match="also the token issuer"):
        TrustedServices.from_settings(production.model_copy(update={"jwt_issuer": "other"}))
    with pytest.raises(AuthenticationFailed, match="not a trusted service"):
        trusted.verify(
            ServiceSigner("stranger", private.read_bytes(), ttl_s=60).sign(event, ALICE), event
        )


def test_body_digest_does_not_depend_on_key_order_or_spacing() -> None:
    assert body_sha256({"a": 1, "b": [1.5, "é"]}) == body_sha256({"b": [1.5, "é"], "a": 1})
    assert body_sha256({"a": 1}) != body_sha256({"a": 2})


async def test_a_service_credential_in_another_algorithm_is_refused(
    dev_settings: Settings, authenticator: CommandAuthenticator
) -> None:
    message = submit()
    event = event_of(message)
    genuine = ServiceSigner.from_settings(dev_settings).sign(event, ALICE)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = {"kid": jwt.get_unverified_header(genuine)["kid"]}  # naming the genuine key
    for forged in (
        jwt.encode(claims, "a shared secret of at least 32 bytes", "HS256", headers=kid),
        jwt.encode(claims, "", algorithm="none", headers=kid),
    ):
        tampered = event.model_copy(update={"extensions": {CREDENTIAL_EXTENSION: forged}})
        reason = await refused(authenticator, message, tampered)
        assert reason.startswith("unauthenticated: "), reason
        assert "signs with EdDSA" in reason, reason


async def test_an_identity_provider_that_does_not_answer_is_an_outage_not_a_refusal(
    dev_settings: Settings,
) -> None:
    """``subscribe`` retries what raises an ``OSError``: the command waits for the issuer's
    keys instead of being refused for them."""
    down = dev_settings.model_copy(update={"jwt_jwks_url": f"http://127.0.0.1:{free_port()}/"})
    users = build_verifier(down)
    authenticator = CommandAuthenticator(
        users, TrustedServices.from_settings(down), issuer=down.jwt_issuer
    )
    message = submit()
    token = devkeys.mint(dev_settings, user="alice")
    try:
        with pytest.raises(IdentityProviderDown) as caught:
            await authenticator.authenticate(message, event_of(message, token))
        assert isinstance(caught.value, OSError)
    finally:
        await users.close()


def test_a_service_key_is_rotated_by_trusting_both_for_a_while(tmp_path: Path) -> None:
    signers, entries = [], []
    for n in range(3):
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = tmp_path / f"gateway-{n}.pem"
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        signers.append(ServiceSigner("pao-gateway", pem, ttl_s=60))
        entries.append(f"pao-gateway={public}")
    settings = Settings(profile=Profile.PRODUCTION, service_trusted_keys=",".join(entries[:2]))
    trusted = TrustedServices.from_settings(settings)
    event = event_of(submit())
    old, new, retired = (signer.sign(event, ALICE) for signer in signers)
    assert trusted.verify(old, event) == trusted.verify(new, event) == ALICE
    with pytest.raises(AuthenticationFailed, match="none has kid"):
        trusted.verify(retired, event)
