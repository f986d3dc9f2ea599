"""Who the executor is on GitHub: a token, or a GitHub App installation.

An App authenticates with a JWT (RS256, signed with the App's private key, ``iss`` = the
App id, valid 9 minutes, ``iat`` 60 s in the past against clock drift) that it exchanges
at ``POST /app/installations/{id}/access_tokens`` for an installation token, valid one
hour. The token is cached per installation until five minutes before it expires. Every
credential (the token, the key, each JWT, each installation token) is registered with
the redactor as soon as it exists, so no log line or result can show it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import jwt
from pao_common.executor import ActionContext

from pao_executors.github.errors import GithubApiError, GithubNotConfigured
from pao_executors.github.http import GithubHttp
from pao_executors.github.settings import GithubSettings

REFRESH_BEFORE_S = 300.0


class GithubAuth(Protocol):
    """Produces the ``Authorization`` header for calls about ``owner/repo``."""

    async def authorization(self, ctx: ActionContext, owner: str, repo: str) -> str:
        """The header value; raises ``GithubNotConfigured`` or ``GithubApiError``."""
        ...

    def invalidate(self, owner: str, repo: str) -> None:
        """Forget a cached credential GitHub rejected (401), so the next call makes a new one."""
        ...


class TokenAuth:
    """A personal access token (or any fixed token)."""

    mode = "token"

    def __init__(self, token: str) -> None:
        self._token = token

    async def authorization(self, ctx: ActionContext, owner: str, repo: str) -> str:
        ctx.secrets.redactor.add(self._token)
        return f"Bearer {self._token}"

    def invalidate(self, owner: str, repo: str) -> None:
        return None


@dataclass
class InstallationToken:
    token: str
    expires_at: float  # epoch seconds

    def fresh(self, now: float) -> bool:
        return self.expires_at - now > REFRESH_BEFORE_S


class AppInstallationAuth:
    """A GitHub App installation's tokens, made from the App's JWT and cached."""

    mode = "app"

    def __init__(self, settings: GithubSettings, http: GithubHttp) -> None:
        if not settings.app_id:
            raise GithubNotConfigured("GitHub App authentication needs PAO_GITHUB_APP_ID")
        self.app_id = settings.app_id
        self.key_secret = settings.app_private_key_secret
        self.installation_id = settings.app_installation_id
        self.http = http
        self.tokens: dict[int, InstallationToken] = {}
        self.installations: dict[str, int] = {}
        self.exchanges = 0  # how many tokens were made (tests and metrics read it)
        self._locks: dict[int, asyncio.Lock] = {}

    def app_jwt(self, ctx: ActionContext) -> str:
        """A fresh JWT signed with the App's private key (from the secret store)."""
        key = ctx.secret(self.key_secret)
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + 540, "iss": self.app_id}
        try:
            token = jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise GithubNotConfigured(
                f"the GitHub App private key in secret {self.key_secret!r} is not a usable "
                f"RSA PEM key ({type(exc).__name__})"
            ) from None
        ctx.secrets.redactor.add(token)
        return token

    async def _installation(self, ctx: ActionContext, owner: str, repo: str) -> int:
        if self.installation_id is not None:
            return self.installation_id
        key = f"{owner}/{repo}".lower()
        if key not in self.installations:
            response = await self.http.request(
                ctx,
                "GET",
                f"/repos/{owner}/{repo}/installation",
                authorization=f"Bearer {self.app_jwt(ctx)}",
            )
            self.installations[key] = int(response.json()["id"])
        return self.installations[key]

    async def authorization(self, ctx: ActionContext, owner: str, repo: str) -> str:
        installation = await self._installation(ctx, owner, repo)
        lock = self._locks.setdefault(installation, asyncio.Lock())
        async with lock:
            cached = self.tokens.get(installation)
            if cached is None or not cached.fresh(time.time()):
                cached = await self._exchange(ctx, installation)
                self.tokens[installation] = cached
        ctx.secrets.redactor.add(cached.token)
        return f"Bearer {cached.token}"

    async def _exchange(self, ctx: ActionContext, installation: int) -> InstallationToken:
        response = await self.http.request(
            ctx,
            "POST",
            f"/app/installations/{installation}/access_tokens",
            authorization=f"Bearer {self.app_jwt(ctx)}",
        )
        body = response.json()
        token = str(body.get("token") or "")
        if not token:
            raise GithubApiError("GitHub issued no installation token", retryable=True)
        ctx.secrets.redactor.add(token)
        self.exchanges += 1
        expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
        return InstallationToken(token, expires.timestamp())

    def invalidate(self, owner: str, repo: str) -> None:
        installation = self.installation_id or self.installations.get(f"{owner}/{repo}".lower())
        if installation is not None:
            self.tokens.pop(installation, None)


class NoAuth:
    """Nothing configured: every step fails with the settings to set."""

    mode = "none"

    async def authorization(self, ctx: ActionContext, owner: str, repo: str) -> str:
        raise GithubNotConfigured(
            "no GitHub credentials: set PAO_GITHUB_TOKEN, or PAO_GITHUB_APP_ID and the App's "
            "private key secret"
        )

    def invalidate(self, owner: str, repo: str) -> None:
        return None


def create_auth(settings: GithubSettings, http: GithubHttp) -> GithubAuth:
    if settings.app_id:
        return AppInstallationAuth(settings, http)
    if settings.token is not None:
        return TokenAuth(settings.token.get_secret_value())
    return NoAuth()
