"""Who is calling: bearer JWTs verified against the issuer's keys, claims mapped to a ``User``.

Shared by the gateway (the caller of an HTTP request) and the orchestrator (the person a
Kafka command acts for): both trust exactly one issuer configuration, the
``PAO_JWT_*`` settings.

Keys come from one ``KeySource``: the issuer's JWKS endpoint (fetched with httpx,
cached, refetched when a token names an unknown ``kid``), or a static PEM public
key; with nothing configured, the local and test profiles trust the development
key that ``pao token`` signs with (``pao_common.devkeys``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from pao_common import devkeys, messages
from pao_common.errors import AuthenticationFailed, ConfigurationError, IdentityProviderDown
from pao_common.messages import Requester
from pao_common.settings import Profile, Settings

log = logging.getLogger(__name__)

PLATFORM_ADMIN = messages.PLATFORM_ADMIN

# The CloudEvents extension attribute carrying the credential of a command that acts for a
# person (Kafka header ``ce_authtoken``, binary mode): the person's bearer JWT from the
# identity provider, or a trusted service's signed command (``pao_common.service_tokens``).
CREDENTIAL_EXTENSION = "authtoken"
CREDENTIAL_HEADER = f"ce_{CREDENTIAL_EXTENSION}"


@dataclass(frozen=True)
class User:
    """The caller, as its verified token says."""

    id: str
    email: str | None = None
    name: str | None = None
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    manager: str | None = None

    @property
    def is_admin(self) -> bool:
        return PLATFORM_ADMIN in self.roles

    def as_requester(self) -> Requester:
        return Requester(
            id=self.id,
            email=self.email,
            name=self.name,
            teams=self.teams,
            roles=self.roles,
            manager=self.manager,
        )


@dataclass(frozen=True)
class ClaimMapping:
    """Which claim carries what; dotted paths reach into objects (``realm_access.roles``)."""

    id: str = "sub"
    email: str = "email"
    name: str = "name"
    teams: str = "teams"
    roles: str = "roles"
    manager: str = "manager"

    def user(self, claims: dict[str, Any]) -> User:
        user_id = _claim(claims, self.id)
        if not isinstance(user_id, str) or not user_id:
            raise AuthenticationFailed(f"token has no user id claim {self.id!r}")
        email = _claim(claims, self.email)
        name = _claim(claims, self.name)
        manager = _claim(claims, self.manager)
        return User(
            id=user_id,
            email=email if isinstance(email, str) else None,
            name=name if isinstance(name, str) else None,
            teams=_names(_claim(claims, self.teams)),
            roles=_names(_claim(claims, self.roles)),
            manager=manager if isinstance(manager, str) and manager else None,
        )


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if v not in (None, ""))
    return ()


class KeySource(Protocol):
    """Where the issuer's verification keys come from."""

    async def key_for(self, header: dict[str, Any]) -> Any:
        """The key that verifies a token with this (unverified) JOSE header.

        Raises ``AuthenticationFailed`` when no key matches and
        ``IdentityProviderDown`` when the keys cannot be fetched.
        """
        ...

    async def close(self) -> None:
        """Release what the source holds open (HTTP clients)."""
        ...


class StaticKeySource:
    """One PEM public key, read once (a configured key file or the development key)."""

    def __init__(self, pem: bytes) -> None:
        self._pem = pem

    @classmethod
    def from_file(cls, path: Path) -> StaticKeySource:
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise ConfigurationError(f"jwt_public_key_file {path}: {exc.strerror}") from exc

    async def key_for(self, header: dict[str, Any]) -> Any:
        return self._pem

    async def close(self) -> None:
        return None


class JwksKeySource:
    """Keys of a JWKS endpoint, cached for ``cache_s``; an unknown ``kid`` triggers a
    refetch at most every ``min_refetch_s`` (so random kids cannot hammer the issuer)."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = 300.0,
        min_refetch_s: float = 10.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._cache_s = cache_s
        self._min_refetch_s = min_refetch_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._fetches = 0
        self._lock = asyncio.Lock()

    async def key_for(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        now = time.monotonic()
        if now - self._fetched_at > self._cache_s or (
            kid not in self._keys and now - self._fetched_at > self._min_refetch_s
        ):
            await self._refresh()
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise AuthenticationFailed(f"no key with kid {kid!r} at the issuer's JWKS")
        return key.key

    async def _refresh(self) -> None:
        seen = self._fetches
        async with self._lock:
            if self._fetches != seen:
                return  # another caller refreshed while we waited for the lock
            try:
                response = await self._client.get(self._url)
                response.raise_for_status()
                document = response.json()
                keys = jwt.PyJWKSet.from_dict(document).keys
            except (httpx.HTTPError, json.JSONDecodeError, jwt.PyJWKSetError) as exc:
                if self._keys:  # keep verifying with what we had
                    log.warning("JWKS refresh from %s failed, keeping old keys: %r", self._url, exc)
                    self._fetched_at = time.monotonic()
                    self._fetches += 1
                    return
                raise IdentityProviderDown(f"cannot fetch JWKS from {self._url}: {exc}") from exc
            self._keys = {k.key_id: k for k in keys}
            self._fetched_at = time.monotonic()
            self._fetches += 1

    async def close(self) -> None:
        await self._client.aclose()


VERIFIED_TTL_S = 60.0
VERIFIED_CACHE_SIZE = 10_000


class TokenVerifier:
    """Verifies signature, expiry, issuer and audience; maps the claims to a ``User``."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str],
        claims: ClaimMapping,
        leeway_s: float = 30.0,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = algorithms
        self._claims = claims
        self._leeway_s = leeway_s
        # token -> (user, trusted until): a client sends the same token with every call,
        # and an RSA check plus PEM parsing per call is most of what a request costs.
        self._verified: OrderedDict[str, tuple[User, float]] = OrderedDict()

    async def verify(self, token: str) -> User:
        """The token's user; a token verified before is trusted again until it expires, for
        at most ``VERIFIED_TTL_S`` (so a key removed from the JWKS stops working soon)."""
        hit = self._verified.get(token)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        user, exp = await self._verify(token)
        self._verified[token] = (user, min(exp + self._leeway_s, time.time() + VERIFIED_TTL_S))
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return user

    async def _verify(self, token: str) -> tuple[User, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"malformed token: {exc}") from exc
        if header.get("alg") not in self._algorithms:
            raise AuthenticationFailed(
                f"token algorithm {header.get('alg')!r} not accepted ({self._algorithms})"
            )
        key = await self.keys.key_for(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationFailed(f"token audience is not {self._audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationFailed(f"token issuer is not {self._issuer!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationFailed("token signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}") from exc
        return self._claims.user(claims), float(claims["exp"])

    async def close(self) -> None:
        await self.keys.close()


def build_verifier(settings: Settings) -> TokenVerifier:
    """The verifier the settings ask for (see the module docstring for the order)."""
    keys: KeySource
    if settings.jwt_jwks_url:
        keys = JwksKeySource(settings.jwt_jwks_url, cache_s=settings.jwt_jwks_cache_s)
    elif settings.jwt_public_key_file is not None:
        keys = StaticKeySource.from_file(settings.jwt_public_key_file)
    elif settings.profile in (Profile.LOCAL, Profile.TEST):
        keys = StaticKeySource(devkeys.DevKey.load_or_create(settings.jwt_dev_key_dir).public_pem)
    else:
        raise ConfigurationError(
            "no token issuer configured: set PAO_JWT_JWKS_URL or PAO_JWT_PUBLIC_KEY_FILE "
            f"(the development key is trusted only in the local and test profiles, "
            f"not {settings.profile.value})"
        )
    return TokenVerifier(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=[a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()],
        claims=ClaimMapping(
            id=settings.jwt_claim_id,
            email=settings.jwt_claim_email,
            name=settings.jwt_claim_name,
            teams=settings.jwt_claim_teams,
            roles=settings.jwt_claim_roles,
            manager=settings.jwt_claim_manager,
        ),
        leeway_s=settings.jwt_leeway_s,
    )
