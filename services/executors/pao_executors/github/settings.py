"""Settings of the ``github-workflow`` executor, from ``PAO_GITHUB_*`` environment variables.

Authentication, first match wins:

- a GitHub App installation: ``PAO_GITHUB_APP_ID`` and the App's private key (PEM) in
  the secret named by ``PAO_GITHUB_APP_PRIVATE_KEY_SECRET`` (default
  ``github-app-private-key``: ``PAO_SECRET_GITHUB_APP_PRIVATE_KEY`` or the file
  ``$PAO_SECRETS_DIR/github-app-private-key``); the installation is
  ``PAO_GITHUB_APP_INSTALLATION_ID`` or, unset, the one installed on the step's repository;
- a token: ``PAO_GITHUB_TOKEN`` (a fine-grained PAT with ``actions: write``).

``PAO_GITHUB_API_URL`` is the API root (``https://api.github.com``; GitHub Enterprise
Server: ``https://HOST/api/v3``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GithubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_GITHUB_", extra="ignore")

    api_url: str = "https://api.github.com"
    token: SecretStr | None = None
    app_id: str | None = Field(None, description="App id (or client id) for the JWT's iss")
    app_private_key_secret: str = "github-app-private-key"
    app_installation_id: int | None = None
    poll_initial_s: float = Field(2.0, gt=0)
    poll_max_s: float = Field(30.0, gt=0)
    find_run_timeout_s: float = Field(120.0, gt=0, description="How long a new run may hide")
    created_skew_s: float = Field(
        120.0, ge=0, description="Clock skew allowed when listing runs created since dispatch"
    )
    artifact_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    http_timeout_s: float = Field(30.0, gt=0)
    circuit_failures: int = Field(5, ge=1)
    circuit_reset_s: float = Field(30.0, gt=0)

    @property
    def auth_mode(self) -> str:
        return "app" if self.app_id else "token" if self.token is not None else "none"
