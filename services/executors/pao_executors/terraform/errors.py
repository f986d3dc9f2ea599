"""Errors of the ``terraform`` executor (all ``ActionError``: they become ``ActionFailed``).

ActionError (pao_common.errors)
└── TerraformError            a Terraform step failed
    ├── TerraformApiError     Terraform Cloud answered an error (4xx: not retryable; 429/5xx,
    │                         a connection that failed: retryable)
    ├── TerraformRunFailed    the run ended errored, discarded or canceled (not retryable)
    ├── TerraformCliError     ``terraform``/``tofu`` exited non-zero (not retryable)
    └── TerraformNotConfigured  no organization, no binary, no module: fix the settings/item
"""

from __future__ import annotations

from pao_common.errors import ActionError


class TerraformError(ActionError):
    """A Terraform step failed."""


class TerraformApiError(TerraformError):
    """Terraform Cloud / Enterprise answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message, retryable=retryable)
        self.status = status


class TerraformRunFailed(TerraformError):
    """The run ended in ``errored``, ``discarded``, ``canceled`` or a failed policy check."""


class TerraformCliError(TerraformError):
    """The Terraform (or OpenTofu) command line exited with an error."""


class TerraformNotConfigured(TerraformError):
    """The executor or the step lacks what the chosen mode needs."""
