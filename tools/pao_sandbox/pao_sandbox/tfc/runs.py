"""Terraform Cloud sandbox runs: created, moved through their phases as time passes
(plan, confirmation, apply), finished by writing a state version, and their actions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pao_sandbox.common import (
    random_id,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.tfc.config import (
    FINAL,
    jsonapi_data,
    tf_type,
    tfc_time,
)
from pao_sandbox.tfc.modules import module_outputs, variable_value

if TYPE_CHECKING:
    pass
from pao_sandbox.tfc.state import TfcState


class TfcRuns(TfcState):
    """Runs and their phases."""

    def create_run(self, body: Any) -> dict[str, Any]:
        data = jsonapi_data(body)
        if data.get("type") != "runs":
            raise SandboxApiError(422, fields={"type": "must be 'runs'"})
        ws_ref = ((data.get("relationships") or {}).get("workspace") or {}).get("data") or {}
        ws = self.workspace(str(ws_ref.get("id", "")))
        attributes = data.get("attributes") or {}
        auto_apply = attributes.get("auto-apply")
        run_id = "run-" + random_id()
        run = {
            "id": run_id,
            "workspace": ws["id"],
            "status": "pending",
            "is-destroy": bool(attributes.get("is-destroy", False)),
            "auto-apply": ws["attributes"]["auto-apply"]
            if auto_apply is None
            else bool(auto_apply),
            "message": attributes.get("message")
            or "Queued manually via the Terraform Enterprise API",
            "plan-only": bool(attributes.get("plan-only", False)),
            "created-at": tfc_time(),
            "status-timestamps": {"pending-at": tfc_time()},
            "plan": "plan-" + random_id(),
            "apply": "apply-" + random_id(),
            "plan_status": "pending",
            "apply_status": "pending",
            "error": None,
            "_phase_at": time.monotonic(),
        }
        self.runs[run_id] = run
        ws["current_run"] = run_id
        return run

    def set_status(self, run: dict[str, Any], status: str, at: float | None = None) -> None:
        run["status"] = status
        run["status-timestamps"][f"{status.replace('_', '-')}-at"] = tfc_time()
        run["_phase_at"] = at if at is not None else time.monotonic()

    def advance(self, run: dict[str, Any]) -> None:
        """Walk the run through its phases as the clock allows."""
        step = self.config.phase_s
        while run["status"] not in FINAL:
            due = run["_phase_at"] + step
            if time.monotonic() < due and step > 0:
                return
            status = run["status"]
            if status == "pending":
                self.set_status(run, "planning", due)
                run["plan_status"] = "running"
            elif status == "planning":
                run["plan_status"] = "finished"
                if run["plan-only"]:
                    self.set_status(run, "planned_and_finished", due)
                elif run["auto-apply"]:
                    self.set_status(run, "planned", due)
                    self.set_status(run, "confirmed", due)
                else:
                    self.set_status(run, "planned", due)
            elif status == "confirmed":
                self.set_status(run, "applying", due)
                run["apply_status"] = "running"
            elif status == "applying":
                self.finish_apply(run, due)
            else:  # planned: waits for actions/apply
                return

    def finish_apply(self, run: dict[str, Any], at: float) -> None:
        ws = self.workspaces[run["workspace"]]
        name = ws["attributes"]["name"]
        fault = next((f for f in self.apply_errors if f["workspace"] in (None, name)), None)
        if fault is not None:
            fault["times"] -= 1
            if fault["times"] <= 0:
                self.apply_errors.remove(fault)
            run["apply_status"] = "errored"
            run["error"] = fault["message"]
            self.set_status(run, "errored", at)
            return
        run["apply_status"] = "finished"
        self.write_state(ws, run)
        self.set_status(run, "applied", at)

    def write_state(self, ws: dict[str, Any], run: dict[str, Any]) -> None:
        values: dict[str, tuple[Any, bool]] = {}
        if not run["is-destroy"]:
            config = self.ws_config(ws["organization"], ws["attributes"]["name"])
            if config is not None and config.outputs is not None:
                values = {k: (v, False) for k, v in config.outputs.items()}
            else:
                for var in self.vars.values():
                    a = var["attributes"]
                    if var["workspace"] == ws["id"] and a["category"] == "terraform":
                        values[a["key"]] = (a["value"], a["sensitive"])
                values["workspace"] = (ws["attributes"]["name"], False)
                values["run_id"] = (run["id"], False)
                decoded = {
                    var["attributes"]["key"]: variable_value(var["attributes"])
                    for var in self.vars.values()
                    if var["workspace"] == ws["id"] and var["attributes"]["category"] == "terraform"
                }
                derived = module_outputs(ws["organization"], ws["attributes"]["name"], decoded)
                values.update({k: (v, False) for k, v in derived.items()})
        sv_id = "sv-" + random_id()
        previous = self.state_versions.get(ws["current_state_version"] or "")
        output_ids = []
        for key, (value, sensitive) in values.items():
            out_id = "wsout-" + random_id()
            kind = tf_type(value)
            self.outputs[out_id] = {
                "id": out_id,
                "state_version": sv_id,
                "name": key,
                "sensitive": sensitive,
                "type": kind,
                "value": value,
            }
            output_ids.append(out_id)
        self.state_versions[sv_id] = {
            "id": sv_id,
            "workspace": ws["id"],
            "run": run["id"],
            "serial": (previous["serial"] + 1) if previous else 1,
            "created-at": tfc_time(),
            "outputs": output_ids,
        }
        ws["current_state_version"] = sv_id
        ws["attributes"]["resource-count"] = 0 if run["is-destroy"] else max(1, len(values) - 2)

    def run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise SandboxApiError(404)
        run = self.runs[run_id]
        self.advance(run)
        return run

    def take_action(self, run: dict[str, Any], action: str) -> None:
        """``POST /runs/{id}/actions/{action}``: apply or discard a planned run, cancel one."""
        status = run["status"]
        if action == "apply":
            if status != "planned":
                raise SandboxApiError(
                    409,
                    "transition not allowed: the run is not paused "
                    f"for confirmation (status {status})",
                )
            self.set_status(run, "confirmed")
        elif action == "discard":
            if status != "planned":
                raise SandboxApiError(409, f"transition not allowed (status {status})")
            self.set_status(run, "discarded")
        elif action in ("cancel", "force-cancel"):
            if status not in ("pending", "planning", "applying", "confirmed"):
                raise SandboxApiError(409, f"transition not allowed (status {status})")
            self.set_status(run, "canceled")
        else:
            raise SandboxApiError(404)
