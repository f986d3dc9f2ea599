"""Commands a trusted service publishes for a person: a signature binding person and message.

The gateway authenticates people over HTTP, stores what they ask for and publishes the
command later (the submission relay may publish it after a broker outage). It signs
every command when it publishes it: a compact JWS (a JWT) in the command's credential
header (``ce_authtoken``, ``pao_common.identity.CREDENTIAL_HEADER``) whose claims are

- ``iss``: the service (``PAO_SERVICE_IDENTITY``); ``aud``: ``pao-orchestrator``;
- ``sub`` and ``user``: the person it acts for (id, email, name, teams, roles, manager);
- ``ce_id`` and ``ce_type``: the message it was signed for, and ``body_sha256``: the
  SHA-256 of the body's canonical JSON, so neither the body nor the signature can be
  reused for another message (an approval's signature does not sign a rejection);
- ``iat`` and ``exp``, ``PAO_SERVICE_TOKEN_TTL_S`` apart (a week): long enough to wait out
  an outage on the broker; replaying it within that is replaying the same message id,
  which the orchestrator deduplicates.

The orchestrator accepts such a token only from the services in
``PAO_SERVICE_TRUSTED_KEYS``, each verified with the public key its ``kid`` header names
(a service may have two while its key is rotated) and the one algorithm that key type
signs with (no ``alg`` confusion). Ed25519 keys are the
default (the development key): signing costs tens of microseconds, not the
milliseconds of an RSA-2048 signature, and the gateway signs every command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import ValidationError

from pao_common import devkeys
from pao_common.cloudevents import CloudEvent
from pao_common.errors import AuthenticationFailed, ConfigurationError
from pao_common.messages import Requester
from pao_common.settings import Profile, Settings

AUDIENCE = "pao-orchestrator"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "user", "ce_id", "ce_type", "body_sha256"]
DEV_PROFILES = (Profile.LOCAL, Profile.TEST)


def body_sha256(data: dict[str, Any]) -> str:
    """Hex SHA-256 of ``data`` as canonical JSON (sorted keys, no spaces): the same for
    the body the publisher serialised and the one the consumer parsed back."""
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _unverified(token: str, part: int) -> dict[str, Any]:
    """Part ``part`` (0: header, 1: claims) of a compact JWT, read without verifying
    anything: which key to verify it with. (PyJWT's own unverified decode checks every
    character in Python, slower than the signature check itself.)"""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationFailed("malformed credential: not a compact JWT (three parts)")
    try:
        value = json.loads(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthenticationFailed(f"malformed credential: {exc}") from exc
    if not isinstance(value, dict):
        raise AuthenticationFailed("malformed credential: not a JSON object")
    return value


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a compact JWT claims (unverified)."""
    issuer = _unverified(token, 1).get("iss")
    return issuer if isinstance(issuer, str) else None


def key_id(public_key: Any) -> str:
    """The ``kid`` of a public key: the start of the SHA-256 of its DER encoding, so a
    service can carry several keys (rotation) and each token names the one it used."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).decode().rstrip("=")


def algorithm_for(key: Any) -> str:
    """The one JWS algorithm PAO uses with this (private or public) key."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
    raise ConfigurationError(f"unsupported service key type {type(key).__name__}")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{what} {path}: {exc.strerror}") from exc


class ServiceSigner:
    """Signs commands as the service ``identity`` (the gateway)."""

    def __init__(self, identity: str, private_pem: bytes, *, ttl_s: int) -> None:
        try:
            self._key = serialization.load_pem_private_key(private_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"service signing key: not a PEM private key ({exc})") from exc
        self._algorithm = algorithm_for(self._key)
        self._kid = key_id(self._key.public_key())
        self.identity = identity
        self._ttl_s = ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceSigner:
        """The configured key, or (local and test profiles only) the development key."""
        if settings.service_signing_key_file is not None:
            pem = _read(settings.service_signing_key_file, "service_signing_key_file")
        elif settings.profile in DEV_PROFILES:
            dev = devkeys.DevKey.load_or_create(settings.service_dev_key_dir, kind="ed25519")
            pem = dev.private_pem
        else:
            raise ConfigurationError(
                "no service signing key: set PAO_SERVICE_SIGNING_KEY_FILE (the gateway signs"
                " the commands it publishes; the development key is used only in the local"
                f" and test profiles, not {settings.profile.value})"
            )
        return cls(settings.service_identity, pem, ttl_s=settings.service_token_ttl_s)

    def sign(self, event: CloudEvent, user: Requester, *, now: float | None = None) -> str:
        """The token for ``event`` (its id, type and body as it will be published)."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.identity,
            "aud": AUDIENCE,
            "sub": user.id,
            "iat": issued,
            "exp": issued + self._ttl_s,
            "user": user.model_dump(mode="json"),
            "ce_id": event.id,
            "ce_type": event.type,
            "body_sha256": body_sha256(event.data),
        }
        return jwt.encode(
            claims,
            self._key,  # type: ignore[arg-type]
            algorithm=self._algorithm,
            headers={"kid": self._kid},
        )


@dataclass(frozen=True)
class TrustedKey:
    service: str
    key: Any  # a cryptography public key
    algorithm: str


class TrustedServices:
    """The services allowed to act for people, and the check of their signed commands.

    A service may have several keys (``pao-gateway=old.pem,pao-gateway=new.pem`` while its
    key is rotated); a token names the one it was signed with (``kid``).
    """

    def __init__(self, services: list[tuple[str, bytes]], *, leeway_s: float = 30.0) -> None:
        self._keys: dict[str, dict[str, TrustedKey]] = {}
        for name, pem in services:
            try:
                key = serialization.load_pem_public_key(pem)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(
                    f"trusted service {name!r}: not a PEM public key ({exc})"
                ) from exc
            self._keys.setdefault(name, {})[key_id(key)] = TrustedKey(name, key, algorithm_for(key))
        self._leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedServices:
        """``PAO_SERVICE_TRUSTED_KEYS`` or, in the local and test profiles when it is empty,
        the development service key as ``PAO_SERVICE_IDENTITY``."""
        entries = [e.strip() for e in settings.service_trusted_keys.split(",") if e.strip()]
        services: list[tuple[str, bytes]] = []
        for entry in entries:
            name, sep, path = entry.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise ConfigurationError(
                    f"service_trusted_keys: {entry!r} is not `name=path-of-a-PEM-public-key`"
                )
            pem = _read(Path(path.strip()), f"trusted service {name.strip()}")
            services.append((name.strip(), pem))
        if not services:
            if settings.profile not in DEV_PROFILES:
                raise ConfigurationError(
                    "no trusted services: set PAO_SERVICE_TRUSTED_KEYS (e.g."
                    " pao-gateway=/etc/pao/gateway-public.pem) so the gateway's commands verify"
                    " (the development key is trusted only in the local and test profiles,"
                    f" not {settings.profile.value})"
                )
            dev = devkeys.DevKey.load_or_create(settings.service_dev_key_dir, kind="ed25519")
            services.append((settings.service_identity, dev.public_pem))
        if settings.jwt_issuer in {name for name, _ in services}:
            raise ConfigurationError(
                f"service identity {settings.jwt_issuer!r} is also the token issuer"
                " (PAO_JWT_ISSUER): a credential's issuer must say which kind it is"
            )
        return cls(services, leeway_s=settings.jwt_leeway_s)

    def names(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, token: str, event: CloudEvent) -> Requester:
        """The person ``token`` lets its service act for in ``event``; ``AuthenticationFailed``
        says what does not hold."""
        issuer = unverified_issuer(token)
        keys = self._keys.get(issuer) if issuer is not None else None
        if keys is None:
            raise AuthenticationFailed(f"{issuer!r} is not a trusted service")
        kid = _unverified(token, 0).get("kid")
        service = keys.get(kid) if isinstance(kid, str) else None
        if service is None:
            raise AuthenticationFailed(
                f"service credential signature does not verify with {issuer!r}'s keys"
                f" (none has kid {kid!r})"
            )
        try:
            claims = jwt.decode(
                token,
                service.key,
                algorithms=[service.algorithm],
                audience=AUDIENCE,
                issuer=service.service,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed(
                f"service credential of {service.service!r} expired"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationFailed(f"service credential audience is not {AUDIENCE!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationFailed(
                f"service credential signature does not verify with {service.service!r}'s key"
            ) from exc
        except jwt.InvalidAlgorithmError as exc:  # the key's one algorithm only
            raise AuthenticationFailed(
                f"service {service.service!r} signs with {service.algorithm}, not another algorithm"
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"invalid service credential: {exc}") from exc
        if claims["ce_id"] != event.id:
            raise AuthenticationFailed(
                f"service credential was signed for message {claims['ce_id']!r}, not {event.id!r}"
            )
        if claims["ce_type"] != event.type:
            raise AuthenticationFailed(
                f"service credential was signed for a {claims['ce_type']!r}, not {event.type!r}"
            )
        if claims["body_sha256"] != body_sha256(event.data):
            raise AuthenticationFailed("the body is not the one the service credential signed")
        try:
            user = Requester.model_validate(claims["user"])
        except ValidationError as exc:
            raise AuthenticationFailed(f"service credential's user is invalid: {exc}") from exc
        if user.id != claims["sub"]:
            raise AuthenticationFailed("service credential's user is not its subject")
        return user
