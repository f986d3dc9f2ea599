"""Credentials for the commands tests publish straight to the orchestrator.

A command acting for a person carries the person's bearer token in ``ce_authtoken``
(docs/kafka-api.md), here minted with the development identity provider key of the
test's ``Settings`` (``jwt_dev_key_dir``), which the processes started with the same
settings trust. One token per person and key, reused (as a real client reuses its
token): minting is an RSA signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pao_common import devkeys
from pao_common.identity import CREDENTIAL_HEADER
from pao_common.settings import Settings

_minted: dict[tuple[Any, ...], str] = {}


def user_token(
    settings: Settings,
    user: str = "alice",
    *,
    teams: Sequence[str] = (),
    roles: Sequence[str] = (),
    email: str | None = None,
    name: str | None = None,
    manager: str | None = None,
    ttl_s: int = 8 * 3600,
) -> str:
    """A bearer token of the development issuer for ``user`` (the same one again for the
    same person and settings)."""
    person = (user, tuple(teams), tuple(roles), email, name, manager, ttl_s)
    key = (settings.jwt_dev_key_dir.resolve(), settings.jwt_issuer, settings.jwt_audience, person)
    if key not in _minted:
        _minted[key] = devkeys.mint(
            settings,
            user=user,
            teams=tuple(teams),
            roles=tuple(roles),
            email=email,
            name=name,
            manager=manager,
            ttl_s=ttl_s,
        )
    return _minted[key]


def token_for(settings: Settings, person: Mapping[str, Any]) -> str:
    """The token of ``person``, a ``Requester`` as JSON (``{"id": ..., "teams": [...]}``)."""
    return user_token(
        settings,
        person["id"],
        teams=person.get("teams") or (),
        roles=person.get("roles") or (),
        email=person.get("email"),
        name=person.get("name"),
        manager=person.get("manager"),
    )


def credential(token: str) -> tuple[str, bytes]:
    """The Kafka header that carries ``token``."""
    return (CREDENTIAL_HEADER, token.encode())


def credential_for(settings: Settings, person: Mapping[str, Any]) -> tuple[str, bytes]:
    """The Kafka header of ``person``'s token."""
    return credential(token_for(settings, person))
