"""Settings of the ``servicenow`` executor, from ``PAO_SERVICENOW_*`` environment variables.

``PAO_SERVICENOW_URL`` is the instance (``https://acme.service-now.com``; ``pao dev``: the
sandbox's ``/servicenow``), ``PAO_SERVICENOW_USER`` the integration user (it needs the
``itil`` role, or write access to ``change_request``). The password is a secret, never a
setting: ``PAO_SECRET_SERVICENOW_PASSWORD`` or the file ``<PAO_SECRETS_DIR>/servicenow_password``
(``PAO_SERVICENOW_PASSWORD_SECRET`` names another), read on every call so a rotated
secret needs no restart.
"""

from __future__ import annotations

from pao_common.errors import ConfigurationError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceNowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_SERVICENOW_", extra="ignore")

    url: str = Field("", description="The ServiceNow instance, e.g. https://acme.service-now.com")
    user: str = Field("", description="The integration user (Basic auth)")
    password_secret: str = Field(
        "servicenow_password", description="The secret holding the user's password"
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one Table API call")
    poll_interval_s: float = Field(
        30.0, ge=0, description="Approval polling of open change requests; 0 turns it off"
    )
    poll_max_results: int = Field(100, ge=1, le=10_000)
    reannounce_after_s: float = Field(
        300.0, ge=0, description="A decision announced by polling is announced again after this"
    )
    circuit_failures: int = Field(5, ge=1, description="Consecutive failures that open the circuit")
    circuit_reset_s: float = Field(30.0, gt=0, description="Open circuit: wait before a probe")

    def check(self) -> None:
        """Fail at start on settings that cannot work."""
        if not self.url:
            raise ConfigurationError("PAO_SERVICENOW_URL is not set (the ServiceNow instance URL)")
        if not self.user:
            raise ConfigurationError(
                "PAO_SERVICENOW_USER is not set (the ServiceNow integration user)"
            )
