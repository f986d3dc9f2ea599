"""The built-in executor services, in port order from ``PAO_EXECUTORS_BASE_PORT``.

Each entry names the module whose ``__main__`` runs that executor service, as Kubernetes
and docker-compose deploy them and ``pao dev --separate-executors`` runs them. ``pao dev``
runs them all in one process instead (``BUILTIN_EXECUTORS_SERVICE``).
"""

from __future__ import annotations

EXECUTOR_SERVICES: dict[str, str] = {
    "debug": "pao_executors.debug",
    "jira": "pao_executors.jira",
    "rest": "pao_executors.rest",
    "terraform": "pao_executors.terraform",
    "github-workflow": "pao_executors.github",
    "servicenow": "pao_executors.servicenow",
}

# Every executor above in one service (one consumer over their topics): what ``pao dev``
# runs at PAO_EXECUTORS_BASE_PORT.
BUILTIN_EXECUTORS_SERVICE = "pao_executors.builtin"

# The CMDB sync follows pao.resources.events (no action type of its own): ``pao dev`` runs
# it at executors_base_port + this offset (8098 by default; the sandbox is at + 16).
CMDB_SYNC_SERVICE = "pao_executors.cmdb"
CMDB_SYNC_PORT_OFFSET = 15
