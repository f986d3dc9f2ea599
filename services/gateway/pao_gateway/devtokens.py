"""The local development signing key and the tokens ``pao token`` mints with it.

The RSA key is generated on first use under ``Settings.jwt_dev_key_dir``
(``.pao/dev-jwt/``, ignored by git); the private key file is created with mode
0600 and atomically (a racing gateway and ``pao token`` end up with one key).
The gateway trusts it only in the local and test profiles, and only when no
real issuer is configured.
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
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pao_common.settings import Settings

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"


@dataclass(frozen=True)
class DevKey:
    private_pem: bytes
    public_pem: bytes

    @property
    def kid(self) -> str:
        digest = hashlib.sha256(self.public_pem).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")

    @classmethod
    def load_or_create(cls, directory: Path) -> DevKey:
        private_path = directory / PRIVATE_KEY_FILE
        if not private_path.exists():
            _create(directory)
        private_pem = private_path.read_bytes()
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private_pem=private_pem, public_pem=public_pem)


def _create(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tmp = directory / f".{PRIVATE_KEY_FILE}.{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    try:
        os.link(tmp, directory / PRIVATE_KEY_FILE)  # fails if another process won the race
    except FileExistsError:
        pass
    else:
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
