"""What the Terraform modules behind the shipped items' workspaces output after an apply.

A real workspace runs its module (from VCS or an uploaded configuration) and the state
holds that module's outputs. The sandbox runs no Terraform, so it recognises the module
by the variables the workspace was given and derives the outputs the module would write
from them. A workspace no module here recognises outputs its variables (``tfc``).

PostgreSQL (an RDS instance): recognised by ``engine_version``, ``instance_class`` and
``allocated_storage`` (the ``aws_db_instance`` arguments the postgres-database item
passes). Outputs, besides the variables:

    endpoint     <workspace>.<12 hex of the organization>.<region>.rds.amazonaws.com
    port         5432
    database     the ``name`` variable
    secret_path  secret/data/postgres/<environment>/<name>  (the Vault KV path of the
                 generated credentials; the password itself is never an output)
    arn          arn:aws:rds:<region>:<account>:db:<workspace>
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"

Outputs = dict[str, Any]


@dataclass(frozen=True)
class ModuleEmulation:
    name: str
    variables: frozenset[str]  # a workspace with all of these runs this module
    outputs: Callable[[str, str, dict[str, Any]], Outputs]  # (org, workspace, variables)


def postgres_outputs(organization: str, workspace: str, variables: dict[str, Any]) -> Outputs:
    name = str(variables.get("name") or workspace)
    environment = str(variables.get("environment") or "default")
    cluster = hashlib.sha256(organization.encode()).hexdigest()[:12]
    return {
        "endpoint": f"{workspace}.{cluster}.{REGION}.rds.amazonaws.com",
        "port": 5432,
        "database": name,
        "secret_path": f"secret/data/postgres/{environment}/{name}",
        "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{workspace}",
    }


MODULES = (
    ModuleEmulation(
        "postgres (RDS)",
        frozenset({"engine_version", "instance_class", "allocated_storage"}),
        postgres_outputs,
    ),
)


def variable_value(attributes: dict[str, Any]) -> Any:
    """A workspace variable's value as Terraform reads it (HCL values decoded)."""
    value = attributes["value"]
    if attributes.get("hcl") and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def module_outputs(organization: str, workspace: str, variables: dict[str, Any]) -> Outputs:
    """The outputs of the module these variables belong to; empty when none is known."""
    for module in MODULES:
        if module.variables <= variables.keys():
            return module.outputs(organization, workspace, variables)
    return {}
