"""Development signing keys, and the user tokens ``pao token`` mints with one.

Two keys, each generated on first use and never trusted in production:

- the development *identity provider* key (RSA, ``Settings.jwt_dev_key_dir``,
  ``.pao/dev-jwt/``): ``pao token`` and the portal's sign-in mint user tokens with it;
  the gateway and the orchestrator trust it when no real issuer is configured;
- the development *service* key (Ed25519, ``Settings.service_dev_key_dir``,
  ``.pao/dev-service/``): the gateway signs the commands it publishes with it and the
  orchestrator trusts it as ``pao-gateway`` when no service keys are configured
  (``pao_common.service_tokens``).

Both live under ``.pao/`` (ignored by git); a private key file is created with mode
0600 and atomically (racing processes end up with one key).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from pao_common.settings import Settings

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
KeyKind = Literal["rsa", "ed25519"]


@dataclass(frozen=True)
class DevKey:
    private_pem: bytes
    public_pem: bytes

    @property
    def kid(self) -> str:
        digest = hashlib.sha256(self.public_pem).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")

    @classmethod
    def load_or_create(
        cls, directory: Path, *, kind: KeyKind = "rsa", private_name: str = PRIVATE_KEY_FILE
    ) -> DevKey:
        """The key under ``directory``, generated (of ``kind``) if there is none yet."""
        private_path = directory / private_name
        if not private_path.exists():
            _create(directory, kind, private_name)
        private_pem = private_path.read_bytes()
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private_pem=private_pem, public_pem=public_pem)


def _create(directory: Path, kind: KeyKind, private_name: str = PRIVATE_KEY_FILE) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tmp = directory / f".{private_name}.{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    try:
        os.link(tmp, directory / private_name)  # fails if another process won the race
    except FileExistsError:
        pass
    else:
        if private_name == PRIVATE_KEY_FILE:
            (directory / PUBLIC_KEY_FILE).write_bytes(public_pem)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def mint(
    settings: Settings,
    *,
    user: str,
    teams: tuple[str, ...] = (),
    roles: tuple[str, ...] = (),
    email: str | None = None,
    name: str | None = None,
    manager: str | None = None,
    ttl_s: int = 8 * 3600,
    now: float | None = None,
) -> str:
    """A token for ``user`` signed by the development key, with the configured claim names."""
    key = DevKey.load_or_create(settings.jwt_dev_key_dir)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    _put(claims, settings.jwt_claim_id, user)
    _put(claims, settings.jwt_claim_teams, list(teams))
    _put(claims, settings.jwt_claim_roles, list(roles))
    if email:
        _put(claims, settings.jwt_claim_email, email)
    if name:
        _put(claims, settings.jwt_claim_name, name)
    if manager:
        _put(claims, settings.jwt_claim_manager, manager)
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


def _put(claims: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = claims
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value
