"""Settings of the ``rest`` executor, from ``PAO_REST_*`` environment variables."""

from __future__ import annotations

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_REST_", extra="ignore")

    allowed_hosts: str = Field(
        "",
        description="Comma-separated: host, host:port, *.domain or CIDR. Empty: any host "
        "(still refusing loopback, link-local, metadata). An exact host or CIDR listed here "
        "may resolve to such addresses.",
    )
    allow_private: bool = Field(
        False, description="Allow loopback, link-local and metadata addresses for every host"
    )
    timeout_s: float = Field(30.0, gt=0, description="Default timeout of one HTTP call")
    max_redirects: int = Field(5, ge=0, le=20)
    max_retry_delay_s: float = Field(30.0, ge=0, description="Longest Retry-After waited for")
    circuit_failures: int = Field(5, ge=1, description="Consecutive failures that open a circuit")
    circuit_reset_s: float = Field(30.0, gt=0, description="Open circuit: wait before a probe")
    max_concurrency: int = Field(64, ge=1)
    sandbox_url: str = Field(
        "",
        description="Sandbox mode (pao dev, tests; never production): send every call to "
        "this REST echo sandbox instead of its target, the target's host leading the path "
        "(https://host[:port]/p?q -> <sandbox_url>/host[:port]/p?q). Only the sandbox is "
        "called; the circuit breaker still counts per target host.",
    )

    def allowed(self) -> list[str]:
        return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]

    def route(self, url: httpx.URL) -> httpx.URL:
        """Where a call to ``url`` goes: ``url`` itself, or in sandbox mode the sandbox."""
        if not self.sandbox_url:
            return url
        base = self.sandbox_url.rstrip("/")
        if str(url).startswith(base + "/") or url.scheme not in ("http", "https"):
            return url  # already the sandbox (a poll's status URL), or refused by the guard
        host = url.host if url.port is None else f"{url.host}:{url.port}"
        return httpx.URL(f"{base}/{host}{url.raw_path.decode('ascii')}")

    def sandbox_host(self) -> str | None:
        """``host:port`` of the sandbox in sandbox mode (the only host then called)."""
        if not self.sandbox_url:
            return None
        url = httpx.URL(self.sandbox_url)
        return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
