"""Token verification (``pao_common.identity``, shared by gateway and orchestrator): static
key, JWKS over real HTTP, the development key, claim mapping."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from pao_common import devkeys
from pao_common.errors import AuthenticationFailed, ConfigurationError, IdentityProviderDown
from pao_common.identity import (
    ClaimMapping,
    JwksKeySource,
    StaticKeySource,
    TokenVerifier,
    User,
    build_verifier,
)
from pao_common.settings import Profile, Settings

from tests.gateway.conftest import AUDIENCE, ISSUER, Issuer, JsonServer, rsa_pair


def verifier_for(keys: StaticKeySource | JwksKeySource, **claims: str) -> TokenVerifier:
    return TokenVerifier(
        keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        claims=ClaimMapping(**claims),
        leeway_s=0,
    )


async def test_valid_token_maps_claims_to_user(issuer: Issuer) -> None:
    verifier = verifier_for(StaticKeySource(issuer.public_pem))
    token = issuer.token(
        "alice",
        teams=("payments", "sre"),
        roles=("developer",),
        email="a@x.test",
        name="Alice",
        manager="carol",
    )
    assert await verifier.verify(token) == User(
        id="alice",
        email="a@x.test",
        name="Alice",
        teams=("payments", "sre"),
        roles=("developer",),
        manager="carol",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ttl_s": -60}, "token expired"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"aud": "someone-else"}, "audience"),
    ],
)
async def test_rejected_claims(issuer: Issuer, change: dict[str, object], reason: str) -> None:
    verifier = verifier_for(StaticKeySource(issuer.public_pem))
    with pytest.raises(AuthenticationFailed, match=reason):
        await verifier.verify(issuer.token("alice", **change))  # type: ignore[arg-type]


async def test_bad_signature_and_algorithms(issuer: Issuer) -> None:
    verifier = verifier_for(StaticKeySource(issuer.public_pem))
    other_private, _ = rsa_pair()
    forged = Issuer(other_private, issuer.public_pem, issuer.public_key_file).token("mallory")
    with pytest.raises(AuthenticationFailed, match="signature"):
        await verifier.verify(forged)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60}
    hs256 = jwt.encode(claims, "a-shared-secret-of-32-bytes-len!", algorithm="HS256")
    with pytest.raises(AuthenticationFailed, match="algorithm"):
        await verifier.verify(hs256)
    unsigned = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(AuthenticationFailed, match="algorithm"):
        await verifier.verify(unsigned)
    with pytest.raises(AuthenticationFailed, match="malformed"):
        await verifier.verify("not-a-jwt")
    no_exp = issuer.token("alice")
    payload = jwt.decode(no_exp, options={"verify_signature": False})
    del payload["exp"]
    with pytest.raises(AuthenticationFailed, match="exp"):
        await verifier.verify(jwt.encode(payload, issuer.private_pem, algorithm="RS256"))


async def test_claim_names_are_configurable(issuer: Issuer) -> None:
    verifier = verifier_for(
        StaticKeySource(issuer.public_pem),
        id="preferred_username",
        teams="groups",
        roles="realm_access.roles",
    )
    token = issuer.token(
        "uuid-123",
        preferred_username="bob",
        groups=["data"],
        realm_access={"roles": ["platform-admin"]},
    )
    user = await verifier.verify(token)
    assert (user.id, user.teams, user.roles, user.is_admin) == (
        "bob",
        ("data",),
        ("platform-admin",),
        True,
    )
    with pytest.raises(AuthenticationFailed, match="user id"):
        await verifier.verify(issuer.token("uuid-123"))


async def test_jwks_from_a_local_http_server(issuer: Issuer) -> None:
    server = JsonServer().start()
    server.routes[("GET", "/jwks")] = (200, {"keys": [issuer.jwk()]})
    verifier = verifier_for(JwksKeySource(f"{server.url}/jwks", cache_s=300, min_refetch_s=0))
    rotated_private, rotated_public = rsa_pair()
    rotated = Issuer(rotated_private, rotated_public, issuer.public_key_file, kid="k2")
    try:
        assert (await verifier.verify(issuer.token("alice"))).id == "alice"
        assert (await verifier.verify(issuer.token("bob"))).id == "bob"
        assert server.count("GET", "/jwks") == 1, "keys are cached"

        # A kid the issuer does not publish: one refetch, then 401.
        with pytest.raises(AuthenticationFailed, match="no key with kid 'k2'"):
            await verifier.verify(rotated.token("mallory"))
        assert server.count("GET", "/jwks") == 2

        # The issuer rotates keys: the new kid is fetched on first sight.
        server.routes[("GET", "/jwks")] = (200, {"keys": [issuer.jwk(), rotated.jwk()]})
        assert (await verifier.verify(rotated.token("carol"))).id == "carol"
        assert (await verifier.verify(issuer.token("dave"))).id == "dave"
        assert server.count("GET", "/jwks") == 3
    finally:
        await verifier.close()
        server.stop()


async def test_jwks_unreachable_is_not_a_401(issuer: Issuer) -> None:
    server = JsonServer().start()
    url = f"{server.url}/jwks"
    server.stop()
    verifier = verifier_for(JwksKeySource(url, timeout_s=1))
    try:
        with pytest.raises(IdentityProviderDown, match="cannot fetch JWKS"):
            await verifier.verify(issuer.token("alice"))
    finally:
        await verifier.close()


async def test_dev_key_trusted_only_without_issuer_in_local_profiles(tmp_path: Path) -> None:
    settings = Settings(profile=Profile.LOCAL, jwt_dev_key_dir=tmp_path / "dev-jwt")
    token = devkeys.mint(settings, user="dev", teams=("platform",), roles=("platform-admin",))
    assert (tmp_path / "dev-jwt" / "private.pem").stat().st_mode & 0o077 == 0
    verifier = build_verifier(settings)
    user = await verifier.verify(token)
    assert (user.id, user.teams, user.is_admin) == ("dev", ("platform",), True)

    again = devkeys.DevKey.load_or_create(tmp_path / "dev-jwt")
    assert again.public_pem == devkeys.DevKey.load_or_create(tmp_path / "dev-jwt").public_pem

    with pytest.raises(ConfigurationError, match="no token issuer configured"):
        build_verifier(settings.model_copy(update={"profile": Profile.PRODUCTION}))

    _, other_public = rsa_pair()
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(other_public)
    configured = build_verifier(settings.model_copy(update={"jwt_public_key_file": key_file}))
    with pytest.raises(AuthenticationFailed, match="signature"):
        await configured.verify(token)
