"""Settings of the CMDB sync, from ``PAO_CMDB_*`` environment variables.

``PAO_CMDB_URL`` is the instance (``https://acme.service-now.com``; ``pao dev``: the
sandbox's ``/servicenow``), ``PAO_CMDB_USER`` the integration user. The password is a
secret, never a setting: ``PAO_SECRET_SERVICENOW_PASSWORD`` or the file
``<PAO_SECRETS_DIR>/servicenow_password`` (``PAO_CMDB_PASSWORD_SECRET`` names another),
read on every call so a rotated secret needs no restart.
"""

from __future__ import annotations

from pao_common.errors import ConfigurationError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CmdbSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_CMDB_", extra="ignore")

    url: str = Field("", description="The ServiceNow instance, e.g. https://acme.service-now.com")
    user: str = Field("", description="The integration user (Basic auth)")
    password_secret: str = Field(
        "servicenow_password", description="The secret holding the user's password"
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one Table API call")
    backoff_s: float = Field(1.0, gt=0, description="First wait before trying again")
    max_backoff_s: float = Field(60.0, gt=0, description="Longest wait between tries")
    circuit_failures: int = Field(5, ge=1, description="Consecutive failures that open the circuit")
    circuit_reset_s: float = Field(30.0, gt=0, description="Open circuit: wait before a probe")
    catalog_timeout_s: float = Field(5.0, gt=0, description="Timeout of one catalog call")
    mapping_cache_size: int = Field(1024, ge=1, description="Item versions whose mapping is kept")

    def check(self) -> None:
        """Fail at start on settings that cannot work."""
        if not self.url:
            raise ConfigurationError("PAO_CMDB_URL is not set (the ServiceNow instance URL)")
        if not self.user:
            raise ConfigurationError("PAO_CMDB_USER is not set (the ServiceNow integration user)")
