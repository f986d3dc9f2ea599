"""How the Terraform Cloud sandbox writes things: workspaces, variables, runs and their
phases, state versions and outputs, as JSON:API resources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from pao_sandbox.tfc.runs import TfcRuns


class TfcRendering(TfcRuns):
    """JSON:API resources; ``base`` is the URL the sandbox is mounted at."""

    def workspace_json(self, ws: dict[str, Any]) -> dict[str, Any]:
        current_run = ws["current_run"]
        sv = ws["current_state_version"]
        return {
            "id": ws["id"],
            "type": "workspaces",
            "attributes": {
                **ws["attributes"],
                "permissions": {
                    "can-queue-run": True,
                    "can-queue-apply": True,
                    "can-read-state-outputs": True,
                    "can-update-variable": True,
                },
            },
            "relationships": {
                "organization": {"data": {"id": ws["organization"], "type": "organizations"}},
                "current-run": {
                    "data": {"id": current_run, "type": "runs"} if current_run else None
                },
                "current-state-version": {
                    "data": {"id": sv, "type": "state-versions"} if sv else None
                },
            },
            "links": {
                "self": f"/api/v2/organizations/{ws['organization']}/workspaces/"
                f"{ws['attributes']['name']}"
            },
        }

    def var_json(self, var: dict[str, Any]) -> dict[str, Any]:
        attributes = {k: v for k, v in var["attributes"].items()}
        if attributes["sensitive"]:
            attributes["value"] = None
        return {
            "id": var["id"],
            "type": "vars",
            "attributes": attributes,
            "relationships": {
                "configurable": {"data": {"id": var["workspace"], "type": "workspaces"}}
            },
            "links": {"self": f"/api/v2/workspaces/{var['workspace']}/vars/{var['id']}"},
        }

    def run_json(self, base: str, run: dict[str, Any]) -> dict[str, Any]:
        self.advance(run)
        status = run["status"]
        return {
            "id": run["id"],
            "type": "runs",
            "attributes": {
                "status": status,
                "message": run["message"],
                "is-destroy": run["is-destroy"],
                "auto-apply": run["auto-apply"],
                "plan-only": run["plan-only"],
                "source": "tfe-api",
                "trigger-reason": "manual",
                "created-at": run["created-at"],
                "status-timestamps": run["status-timestamps"],
                "has-changes": run["plan_status"] == "finished" or None,
                "actions": {
                    "is-confirmable": status == "planned",
                    "is-discardable": status == "planned",
                    "is-cancelable": status in ("pending", "planning", "applying"),
                    "is-force-cancelable": False,
                },
                "permissions": {"can-apply": True, "can-cancel": True, "can-discard": True},
            },
            "relationships": {
                "workspace": {"data": {"id": run["workspace"], "type": "workspaces"}},
                "plan": {"data": {"id": run["plan"], "type": "plans"}},
                "apply": {"data": {"id": run["apply"], "type": "applies"}},
            },
            "links": {"self": f"/api/v2/runs/{run['id']}"},
        }

    def phase_json(self, base: str, run: dict[str, Any], kind: str) -> dict[str, Any]:
        self.advance(run)
        status = run[f"{kind}_status"]
        phase_id = run[kind]
        adds = 0 if run["is-destroy"] else 1
        return {
            "id": phase_id,
            "type": "plans" if kind == "plan" else "applies",
            "attributes": {
                "status": status,
                "resource-additions": adds,
                "resource-changes": 0,
                "resource-destructions": 1 - adds,
                "log-read-url": f"{base}/_archivist/{phase_id}",
            },
            "links": {"self": f"/api/v2/{'plans' if kind == 'plan' else 'applies'}/{phase_id}"},
        }

    def output_json(self, output: dict[str, Any], reveal: bool) -> dict[str, Any]:
        hidden = output["sensitive"] and not reveal
        return {
            "id": output["id"],
            "type": "state-version-outputs",
            "attributes": {
                "name": output["name"],
                "sensitive": output["sensitive"],
                "type": output["type"],
                "value": None if hidden else output["value"],
                "detailed-type": output["type"],
            },
            "links": {"self": f"/api/v2/state-version-outputs/{output['id']}"},
        }

    def state_version_json(self, base: str, sv: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": sv["id"],
            "type": "state-versions",
            "attributes": {
                "serial": sv["serial"],
                "created-at": sv["created-at"],
                "resources-processed": True,
                "status": "finalized",
                "hosted-state-download-url": f"{base}/_archivist/{sv['id']}",
            },
            "relationships": {
                "run": {"data": {"id": sv["run"], "type": "runs"}},
                "workspace": {"data": {"id": sv["workspace"], "type": "workspaces"}},
                "outputs": {
                    "data": [{"id": o, "type": "state-version-outputs"} for o in sv["outputs"]]
                },
            },
            "links": {"self": f"/api/v2/state-versions/{sv['id']}"},
        }
