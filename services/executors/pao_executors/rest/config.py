"""Settings of the ``rest`` executor, from ``PAO_REST_*`` environment variables."""

from __future__ import annotations

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

    def allowed(self) -> list[str]:
        return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
