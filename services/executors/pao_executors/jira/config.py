"""Settings of the ``jira`` executor, from ``PAO_JIRA_*`` environment variables.

Server / Data Center: ``PAO_JIRA_URL`` + ``PAO_JIRA_TOKEN`` (a personal access token).
Cloud: ``PAO_JIRA_URL`` + ``PAO_JIRA_EMAIL`` + ``PAO_JIRA_API_TOKEN``.
``PAO_JIRA_FLAVOUR`` is ``auto`` (ask ``serverInfo``), ``server`` or ``cloud``.
"""

from __future__ import annotations

from typing import Literal

from pao_common.errors import ConfigurationError
from pao_common.jira_tickets import DEFAULT_LABEL, DEFAULT_SYNCED_LABEL, DONE_RESOLUTIONS
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class JiraSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_JIRA_", extra="ignore")

    url: str = Field("", description="Base URL, e.g. https://jira.example.com")
    token: SecretStr | None = Field(None, description="Personal access token (Server/DC)")
    email: str = Field("", description="Account e-mail (Cloud)")
    api_token: SecretStr | None = Field(None, description="API token (Cloud)")
    flavour: Literal["auto", "server", "cloud"] = "auto"
    timeout_s: float = Field(20.0, gt=0, description="Timeout of one HTTP call to JIRA")
    max_workers: int = Field(4, ge=1, le=64, description="Threads running the jira library")
    label: str = Field(DEFAULT_LABEL, description="Label on every ticket PAO creates")
    synced_label: str = Field(
        DEFAULT_SYNCED_LABEL, description="Added once a resolution was announced by polling"
    )
    done_resolutions: str = Field(
        ",".join(DONE_RESOLUTIONS), description="Resolutions that complete the request"
    )
    poll_interval_s: float = Field(60.0, ge=0, description="Resolution polling; 0 turns it off")
    poll_max_results: int = Field(50, ge=1, le=1000)
    circuit_failures: int = Field(5, ge=1, description="Consecutive failures that open the circuit")
    circuit_reset_s: float = Field(30.0, gt=0, description="Open circuit: wait before a probe")

    def check(self) -> None:
        """Fail at start on settings that cannot work."""
        if not self.url:
            raise ConfigurationError("PAO_JIRA_URL is not set (the JIRA base URL)")
        if self.token is None and not (self.email and self.api_token is not None):
            raise ConfigurationError(
                "JIRA credentials missing: set PAO_JIRA_TOKEN (Server/DC personal access "
                "token) or PAO_JIRA_EMAIL and PAO_JIRA_API_TOKEN (Cloud)"
            )
