"""The executor services ``pao dev`` runs, in port order from ``PAO_EXECUTORS_BASE_PORT``.

Each entry names the module whose ``__main__`` runs that executor service.
"""

from __future__ import annotations

EXECUTOR_SERVICES: dict[str, str] = {
    "debug": "pao_executors.debug",
    "jira": "pao_executors.jira",
    "rest": "pao_executors.rest",
    "terraform": "pao_executors.terraform",
    "github-workflow": "pao_executors.github",
}
