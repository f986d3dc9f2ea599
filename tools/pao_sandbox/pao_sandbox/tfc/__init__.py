"""Terraform Cloud / Enterprise sandbox: the API v2 (JSON:API) an executor drives.

Mounted at ``/tfc``: the host root (what ``https://app.terraform.io`` is), so paths are
``http://HOST:PORT/tfc/api/v2/...``.  Answers are ``application/vnd.api+json``.

Real API (all under ``/api/v2``)::

    GET|POST  /organizations/{org}/workspaces          POST 201
    GET|PATCH /organizations/{org}/workspaces/{name}
    GET|PATCH /workspaces/{workspace_id}
    GET|POST  /workspaces/{workspace_id}/vars          POST 201; 422 on blank/duplicate key
    PATCH|DELETE /workspaces/{workspace_id}/vars/{var_id}
    POST /runs                                         201; attributes is-destroy, auto-apply,
                                                       message; relationships.workspace
    GET  /runs/{run_id}                                status, relationships plan / apply
    GET  /workspaces/{workspace_id}/runs
    POST /runs/{run_id}/actions/apply|discard|cancel   202; 409 when not allowed now
    GET  /plans/{id}, /applies/{id}                    status, log-read-url
    GET  /workspaces/{workspace_id}/current-state-version[?include=outputs]   404 before any
    GET  /workspaces/{workspace_id}/current-state-version-outputs   sensitive values null
    GET  /state-versions/{id}/outputs, /state-version-outputs/{id}

Auth: ``Authorization: Bearer <token>`` (one of ``tokens``), else 401.

A run moves pending -> planning -> planned (waits for ``actions/apply`` unless
auto-apply) -> applying -> applied | errored, each phase lasting ``phase_s`` seconds
(0: as fast as it is read). An applied run writes a state version whose outputs are
the workspace's ``outputs`` config, or else its Terraform variables (sensitive stay
sensitive) plus ``workspace`` and ``run_id``, plus what the workspace's module would
output when ``modules`` recognises it by its variables (a PostgreSQL database's
``endpoint``, ``secret_path``, ...); a destroy run leaves an empty state.
Sandbox side: ``POST /sandbox/faults/apply-error {"workspace": name|null, "times": n}``
makes the next applies error; ``GET /ui`` lists workspaces and runs.

Modules: ``config``, ``state``, ``runs``, ``rendering``, ``routes`` (the API), ``ui`` (the
sandbox's own side), ``modules`` (outputs of recognised Terraform modules) and ``sandbox``
(``TfcSandbox``, all of them together).
"""

from pao_sandbox.tfc.config import ApplyErrorBody, TfcConfig, TfcWorkspace
from pao_sandbox.tfc.sandbox import TfcSandbox

__all__ = ["ApplyErrorBody", "TfcConfig", "TfcSandbox", "TfcWorkspace"]
