"""The Terraform Cloud sandbox over real sockets: workspace, vars, runs, state outputs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.sandbox import TFC_TOKEN, SandboxServer

JSONAPI = "application/vnd.api+json"


def api(sandbox: SandboxServer) -> httpx.Client:
    return httpx.Client(
        base_url=f"{sandbox.tfc_url}/api/v2",
        headers={"Authorization": f"Bearer {TFC_TOKEN}", "Content-Type": JSONAPI},
    )


def var(key: str, value: str, *, sensitive: bool = False) -> dict[str, Any]:
    return {
        "data": {
            "type": "vars",
            "attributes": {
                "key": key,
                "value": value,
                "category": "terraform",
                "hcl": False,
                "sensitive": sensitive,
            },
        }
    }


def run_body(ws_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        "data": {
            "type": "runs",
            "attributes": attributes,
            "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws_id}}},
        }
    }


def test_workspace_vars_run_confirm_apply_and_outputs(sandbox: SandboxServer) -> None:
    with api(sandbox) as tfc:
        ws = tfc.get("/organizations/pao/workspaces/orders-db")
        assert ws.status_code == 200
        assert ws.headers["content-type"].startswith(JSONAPI)
        ws_id = ws.json()["data"]["id"]
        assert ws_id.startswith("ws-")

        created = tfc.post(f"/workspaces/{ws_id}/vars", json=var("db_name", "orders"))
        secret = tfc.post(
            f"/workspaces/{ws_id}/vars", json=var("db_password", "hunter2", sensitive=True)
        )
        assert (created.status_code, secret.status_code) == (201, 201)
        assert secret.json()["data"]["attributes"]["value"] is None
        duplicate = tfc.post(f"/workspaces/{ws_id}/vars", json=var("db_name", "again"))
        assert duplicate.status_code == 422
        assert duplicate.json()["errors"][0]["detail"] == "Key has already been taken"
        var_id = created.json()["data"]["id"]
        patched = tfc.patch(
            f"/workspaces/{ws_id}/vars/{var_id}",
            json={"data": {"id": var_id, "type": "vars", "attributes": {"value": "orders_v2"}}},
        )
        assert patched.json()["data"]["attributes"]["value"] == "orders_v2"
        assert len(tfc.get(f"/workspaces/{ws_id}/vars").json()["data"]) == 2
        assert tfc.get(f"/workspaces/{ws_id}/current-state-version").status_code == 404

        run = tfc.post("/runs", json=run_body(ws_id, message="PAO req-1", **{"auto-apply": False}))
        assert run.status_code == 201
        run_id = run.json()["data"]["id"]
        assert run.json()["data"]["attributes"]["status"] == "pending"
        planned = tfc.get(f"/runs/{run_id}").json()["data"]
        assert planned["attributes"]["status"] == "planned"
        assert planned["attributes"]["actions"]["is-confirmable"] is True
        apply_id = planned["relationships"]["apply"]["data"]["id"]

        assert tfc.post(f"/runs/{run_id}/actions/apply", json={"comment": "PAO"}).status_code == 202
        applied = tfc.get(f"/runs/{run_id}").json()["data"]["attributes"]
        assert applied["status"] == "applied"
        assert tfc.get(f"/applies/{apply_id}").json()["data"]["attributes"]["status"] == "finished"
        again = tfc.post(f"/runs/{run_id}/actions/apply")
        assert again.status_code == 409

        sv = tfc.get(f"/workspaces/{ws_id}/current-state-version", params={"include": "outputs"})
        included = {o["attributes"]["name"]: o for o in sv.json()["included"]}
        assert included["db_name"]["attributes"]["value"] == "orders_v2"
        assert included["db_password"]["attributes"]["value"] is None
        outputs = tfc.get(f"/workspaces/{ws_id}/current-state-version-outputs").json()["data"]
        assert {o["attributes"]["name"] for o in outputs} == {
            "db_name",
            "db_password",
            "workspace",
            "run_id",
        }
        revealed = tfc.get(f"/state-version-outputs/{included['db_password']['id']}").json()
        assert revealed["data"]["attributes"]["value"] == "hunter2"


def test_auto_apply_and_configured_outputs(sandbox: SandboxServer) -> None:
    sandbox.configure(
        "tfc",
        workspaces=[
            {
                "organization": "pao",
                "name": "net",
                "auto_apply": True,
                "outputs": {"vpc_id": "vpc-123", "subnets": ["a"]},
            }
        ],
    )
    with api(sandbox) as tfc:
        ws_id = tfc.get("/organizations/pao/workspaces/net").json()["data"]["id"]
        run_id = tfc.post("/runs", json=run_body(ws_id)).json()["data"]["id"]
        assert tfc.get(f"/runs/{run_id}").json()["data"]["attributes"]["status"] == "applied"
        outputs = tfc.get(f"/workspaces/{ws_id}/current-state-version-outputs").json()["data"]

    assert {o["attributes"]["name"]: o["attributes"]["value"] for o in outputs} == {
        "vpc_id": "vpc-123",
        "subnets": ["a"],
    }


def test_an_injected_apply_error_then_a_destroy_run(sandbox: SandboxServer) -> None:
    injected = httpx.post(
        f"{sandbox.tfc_url}/sandbox/faults/apply-error", json={"workspace": "orders-db"}
    )
    assert injected.status_code == 201
    with api(sandbox) as tfc:
        ws_id = tfc.get("/organizations/pao/workspaces/orders-db").json()["data"]["id"]
        failing = tfc.post("/runs", json=run_body(ws_id, **{"auto-apply": True})).json()["data"]
        errored = tfc.get(f"/runs/{failing['id']}").json()["data"]
        assert errored["attributes"]["status"] == "errored"
        apply = tfc.get(f"/applies/{errored['relationships']['apply']['data']['id']}").json()
        assert apply["data"]["attributes"]["status"] == "errored"
        log = httpx.get(apply["data"]["attributes"]["log-read-url"])
        assert "sandbox injected apply failure" in log.text

        destroy = tfc.post(
            "/runs", json=run_body(ws_id, **{"is-destroy": True, "auto-apply": True})
        )
        done = tfc.get(f"/runs/{destroy.json()['data']['id']}").json()["data"]["attributes"]
        outputs = tfc.get(f"/workspaces/{ws_id}/current-state-version-outputs").json()["data"]

    assert (done["status"], done["is-destroy"]) == ("applied", True)
    assert outputs == []


def test_phases_take_time_when_configured(sandbox: SandboxServer) -> None:
    sandbox.configure("tfc", phase_s=600)
    with api(sandbox) as tfc:
        ws_id = tfc.get("/organizations/pao/workspaces/slow").json()["data"]["id"]
        run_id = tfc.post("/runs", json=run_body(ws_id)).json()["data"]["id"]
        status = tfc.get(f"/runs/{run_id}").json()["data"]["attributes"]["status"]
        early_apply = tfc.post(f"/runs/{run_id}/actions/apply")
        cancelled = tfc.post(f"/runs/{run_id}/actions/cancel")

    assert status == "pending"
    assert early_apply.status_code == 409
    assert early_apply.json()["errors"][0]["status"] == "409"
    assert cancelled.status_code == 202


def test_auth_and_unknown_workspaces(sandbox: SandboxServer) -> None:
    sandbox.configure("tfc", auto_workspaces=False)
    url = f"{sandbox.tfc_url}/api/v2/organizations/pao/workspaces/ghost"

    unauthorized = httpx.get(url, headers={"Authorization": "Bearer nope"})
    missing = httpx.get(url, headers={"Authorization": f"Bearer {TFC_TOKEN}"})

    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"errors": [{"status": "401", "title": "unauthorized"}]}
    assert missing.status_code == 404
    assert httpx.get(f"{sandbox.tfc_url}/ui").status_code == 200
