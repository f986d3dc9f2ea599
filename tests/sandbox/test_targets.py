"""The shipped items' APIs behind the echo target answer as the real ones would.

DNS records, PAM grants, tenancy members and the Kubernetes API (``targets``,
``kubernetes``), and the Terraform module outputs of a PostgreSQL workspace
(``pao_sandbox.tfc.modules``), over real sockets.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.test_tfc import api, run_body
from tests.support.sandbox import SandboxServer

AUTH = {"Authorization": "Bearer t0ken"}


def test_dns_records_are_created_read_and_deleted(sandbox: SandboxServer) -> None:
    records = (
        f"{sandbox.echo_url}/dns-api.internal.example.com/v2/zones/internal.example.com/records"
    )
    a_record = {"name": "api", "type": "A", "content": "10.12.4.20", "ttl": 300, "priority": None}

    assert httpx.post(records, json=a_record).status_code == 401
    created = httpx.post(records, json=a_record, headers=AUTH)
    duplicate = httpx.post(records, json=a_record, headers=AUTH)
    invalid = httpx.post(records, json={**a_record, "content": "not-an-ip"}, headers=AUTH)

    assert created.status_code == 201, created.text
    record = created.json()
    assert record["fqdn"] == "api.internal.example.com"
    assert record["id"].startswith("rec-")
    assert created.headers["location"] == f"{records}/{record['id']}"
    assert duplicate.status_code == 409
    assert (invalid.status_code, invalid.json()["fields"]) == (
        422,
        {"content": "an A record needs an IPv4 address"},
    )
    assert httpx.get(created.headers["location"], headers=AUTH).json() == record
    assert httpx.delete(created.headers["location"], headers=AUTH).status_code == 204
    assert httpx.delete(created.headers["location"], headers=AUTH).status_code == 404

    apex = {"name": "@", "type": "MX", "content": "mx1.mail.example.com", "priority": 5}
    mx = httpx.post(
        records.replace("internal.example.com/records", "example.com/records"),
        json=apex,
        headers=AUTH,
    )
    assert (mx.status_code, mx.json()["fqdn"], mx.json()["priority"]) == (201, "example.com", 5)
    no_priority = {**apex, "content": "mx2.mail.example.com", "priority": None}
    refused = httpx.post(records, json=no_priority, headers=AUTH)
    assert refused.status_code == 422 and "priority" in refused.json()["fields"]


def test_a_dns_record_is_updated_in_place(sandbox: SandboxServer) -> None:
    """PATCH changes content and TTL of the record its id names (dns-record's update);
    its name and type are its identity, and the result must be a valid record."""
    records = f"{sandbox.echo_url}/dns-api.internal.example.com/v2/zones/svc.example.com/records"
    made = httpx.post(
        records, json={"name": "api", "type": "A", "content": "10.0.0.1"}, headers=AUTH
    ).json()
    other = httpx.post(
        records, json={"name": "api", "type": "A", "content": "10.0.0.2"}, headers=AUTH
    ).json()
    url = f"{records}/{made['id']}"

    assert httpx.patch(url, json={"ttl": 600}).status_code == 401
    changed = httpx.patch(url, json={"content": "10.0.0.9", "ttl": 600}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in ("id", "fqdn", "content", "ttl")} == {
        "id": made["id"],
        "fqdn": "api.svc.example.com",
        "content": "10.0.0.9",
        "ttl": 600,
    }
    assert httpx.get(url, headers=AUTH).json() == changed.json()
    bad = httpx.patch(url, json={"content": "db.internal", "ttl": 5}, headers=AUTH)
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {"content", "ttl"}
    renamed = httpx.patch(url, json={"name": "www", "type": "A"}, headers=AUTH)
    assert (renamed.status_code, list(renamed.json()["fields"])) == (422, ["name"])
    clash = httpx.patch(url, json={"content": other["content"]}, headers=AUTH)
    assert clash.status_code == 409
    assert httpx.get(url, headers=AUTH).json()["content"] == "10.0.0.9"  # refusals change nothing
    assert httpx.patch(f"{records}/rec-nope", json={"ttl": 600}, headers=AUTH).status_code == 404


def test_pam_grants_expire_after_their_duration_and_replay_an_idempotency_key(
    sandbox: SandboxServer,
) -> None:
    grants = f"{sandbox.echo_url}/pam.internal.example.com/api/v1/grants"
    body = {
        "principal": "nina@example.com",
        "target": "k8s-prod-eu",
        "role": "admin",
        "starts_at": "2030-01-01T10:00:00+00:00",
        "duration_minutes": 120,
        "justification": "node pool stuck",
        "reference": "INC-5121",
    }
    headers = {**AUTH, "Idempotency-Key": "req-1"}

    first = httpx.post(grants, json=body, headers=headers)
    replayed = httpx.post(grants, json=body, headers=headers)
    other = httpx.post(grants, json={**body, "starts_at": None}, headers=AUTH)
    no_reference = httpx.post(grants, json={**body, "reference": None}, headers=AUTH)

    assert first.status_code == 201, first.text
    grant = first.json()
    assert (grant["expires_at"], grant["status"]) == ("2030-01-01T12:00:00Z", "scheduled")
    assert (replayed.status_code, replayed.json()["id"]) == (201, grant["id"])
    assert other.status_code == 201 and other.json()["id"] != grant["id"]
    assert other.json()["status"] == "active"
    assert no_reference.status_code == 422 and "reference" in no_reference.json()["fields"]
    location = first.headers["location"]
    assert httpx.delete(location, headers=AUTH).status_code == 204
    assert httpx.get(location, headers=AUTH).status_code == 404


def test_tenancy_members_are_replaced_with_their_bindings(sandbox: SandboxServer) -> None:
    members = (
        f"{sandbox.echo_url}/tenancy.k8s.example.com/v1/clusters/eu-west-1-dev"
        "/namespaces/payments-staging/members"
    )
    body = {
        "team": "payments",
        "members": [{"email": "judy@example.com"}, {"email": "ken@example.com", "role": "edit"}],
    }

    assert httpx.get(members, headers=AUTH).status_code == 404
    put = httpx.put(members, json=body, headers=AUTH)

    assert put.status_code == 200, put.text
    assert [(b["subject"]["name"], b["cluster_role"]) for b in put.json()["bindings"]] == [
        ("judy@example.com", "admin"),
        ("ken@example.com", "edit"),
    ]
    bad = httpx.put(members, json={"team": "payments", "members": [{"role": "root"}]}, headers=AUTH)
    assert bad.status_code == 422
    assert httpx.delete(members, headers=AUTH).status_code == 204


def kube(sandbox: SandboxServer, method: str, path: str, body: Any = None) -> httpx.Response:
    url = f"{sandbox.echo_url}/eu-west-1-dev.k8s.example.com{path}"
    return httpx.request(method, url, json=body, headers=AUTH)


def test_kubernetes_objects_live_in_namespaces_like_on_an_api_server(
    sandbox: SandboxServer,
) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "pao-quota"},
        "spec": {
            "hard": {"pods": 50, "requests.cpu": 8, "limits.cpu": 0.5, "limits.memory": "64Gi"}
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }

    orphan = kube(sandbox, "POST", "/api/v1/namespaces/payments/resourcequotas", quota)
    created = kube(sandbox, "POST", "/api/v1/namespaces", namespace)
    again = kube(sandbox, "POST", "/api/v1/namespaces", namespace)
    quota_made = kube(sandbox, "POST", "/api/v1/namespaces/payments/resourcequotas", quota)
    policy_made = kube(
        sandbox, "POST", "/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies", policy
    )

    assert (orphan.status_code, orphan.json()["reason"]) == (404, "NotFound")
    assert orphan.json()["message"] == 'namespaces "payments" not found'
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["uid"] and created.json()["status"] == {"phase": "Active"}
    assert (again.status_code, again.json()["reason"]) == (409, "AlreadyExists")
    assert quota_made.status_code == 201
    assert quota_made.json()["metadata"]["namespace"] == "payments"
    assert policy_made.status_code == 201
    bad_quota = {**quota, "spec": {"hard": {"requests.memory": "32 GiB", "pods": 5}}}
    refused = kube(sandbox, "POST", "/api/v1/namespaces/payments/resourcequotas", bad_quota)
    assert (refused.status_code, refused.json()["details"]["causes"][0]["field"]) == (
        422,
        "spec.hard[requests.memory]",
    )
    wrong_kind = kube(sandbox, "POST", "/api/v1/namespaces/payments/resourcequotas", policy)
    assert wrong_kind.status_code == 400
    nameless = kube(sandbox, "POST", "/api/v1/namespaces", {"kind": "Namespace", "metadata": {}})
    assert (nameless.status_code, nameless.json()["reason"]) == (422, "Invalid")
    unknown = kube(sandbox, "GET", "/apis/example.com/v1/namespaces/payments/widgets")
    assert unknown.status_code == 404
    assert httpx.get(f"{sandbox.echo_url}/x.k8s.example.com/api/v1/namespaces").status_code == 401

    deleted = kube(sandbox, "DELETE", "/api/v1/namespaces/payments")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == {"phase": "Terminating"}
    listed = kube(sandbox, "GET", "/api/v1/namespaces/payments/resourcequotas").json()
    assert (listed["kind"], listed["items"]) == ("ResourceQuotaList", [])


def test_kubernetes_objects_are_replaced_by_put_like_on_an_api_server(
    sandbox: SandboxServer,
) -> None:
    """kubernetes-namespace's update: PUT replaces the quota, keeping its identity; a stale
    resourceVersion is a 409 Conflict, another name a 400, a missing object a 404."""
    kube(sandbox, "POST", "/api/v1/namespaces", {"kind": "Namespace", "metadata": {"name": "q"}})
    quota: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "pao-quota"},
        "spec": {"hard": {"pods": 50, "requests.cpu": 4}},
    }
    path = "/api/v1/namespaces/q/resourcequotas"
    made = kube(sandbox, "POST", path, quota).json()
    bigger: dict[str, Any] = {**quota, "spec": {"hard": {"pods": 80, "requests.cpu": 8}}}

    replaced = kube(sandbox, "PUT", f"{path}/pao-quota", bigger)
    assert replaced.status_code == 200, replaced.text
    meta = replaced.json()["metadata"]
    assert (meta["uid"], meta["creationTimestamp"], meta["namespace"]) == (
        made["metadata"]["uid"],
        made["metadata"]["creationTimestamp"],
        "q",
    )
    assert int(meta["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
    assert kube(sandbox, "GET", f"{path}/pao-quota").json()["spec"] == bigger["spec"]

    stale = {**bigger, "metadata": {**bigger["metadata"], **{"resourceVersion": "1"}}}
    conflict = kube(sandbox, "PUT", f"{path}/pao-quota", stale)
    assert (conflict.status_code, conflict.json()["reason"]) == (409, "Conflict")
    renamed = {**bigger, "metadata": {"name": "other"}}
    assert kube(sandbox, "PUT", f"{path}/pao-quota", renamed).status_code == 400
    missing = kube(sandbox, "PUT", f"{path}/nope", {**bigger, "metadata": {"name": "nope"}})
    assert (missing.status_code, missing.json()["reason"]) == (404, "NotFound")
    invalid = {**bigger, "spec": {"hard": {"pods": "many"}}}
    assert kube(sandbox, "PUT", f"{path}/pao-quota", invalid).status_code == 422
    assert kube(sandbox, "GET", f"{path}/pao-quota").json()["spec"] == bigger["spec"]

    labelled = {"kind": "Namespace", "metadata": {"name": "q", "labels": {"team": "x"}}}
    namespace = kube(sandbox, "PUT", "/api/v1/namespaces/q", labelled)
    assert namespace.status_code == 200, namespace.text
    assert namespace.json()["metadata"]["labels"] == {"team": "x"}
    assert namespace.json()["status"] == {"phase": "Active"}
    assert kube(sandbox, "GET", f"{path}/pao-quota").status_code == 200  # its objects stay


def test_scripts_come_first_and_emulation_can_be_turned_off(sandbox: SandboxServer) -> None:
    records = f"{sandbox.echo_url}/dns.example.com/v2/zones/example.com/records"
    httpx.post(
        f"{sandbox.echo_url}/sandbox/responses",
        json={"path": "/dns.example.com/v2/zones/*", "responses": [{"status": 503}]},
    ).raise_for_status()
    body = {"name": "www", "type": "CNAME", "content": "lb.example.com"}

    assert httpx.post(records, json=body, headers=AUTH).status_code == 503
    assert httpx.post(records, json=body, headers=AUTH).status_code == 201
    sandbox.configure("echo", emulate_apis=False)
    echoed = httpx.post(records, json=body, headers=AUTH)
    assert (echoed.status_code, echoed.json()["json"]) == (200, body)
    state = sandbox.state("echo")["apis"]["dns-records"]
    assert [r["fqdn"] for r in state["dns.example.com"].values()] == ["www.example.com"]


def test_a_postgres_workspace_outputs_what_its_module_would(sandbox: SandboxServer) -> None:
    variables = {
        "name": ("ledger", False),
        "environment": ("production", False),
        "engine_version": ("16", False),
        "instance_class": ("db.m6g.2xlarge", False),
        "allocated_storage": ("500", True),
    }
    with api(sandbox) as tfc:
        ws_id = tfc.get("/organizations/pao/workspaces/pg-production-ledger").json()["data"]["id"]
        for key, (value, hcl) in variables.items():
            attributes = {"key": key, "value": value, "category": "terraform", "hcl": hcl}
            created = tfc.post(
                f"/workspaces/{ws_id}/vars",
                json={"data": {"type": "vars", "attributes": attributes}},
            )
            assert created.status_code == 201, created.text
        run_id = tfc.post("/runs", json=run_body(ws_id, **{"auto-apply": True})).json()["data"][
            "id"
        ]
        assert tfc.get(f"/runs/{run_id}").json()["data"]["attributes"]["status"] == "applied"
        data = tfc.get(f"/workspaces/{ws_id}/current-state-version-outputs").json()["data"]

    outputs = {o["attributes"]["name"]: o["attributes"]["value"] for o in data}
    assert outputs["endpoint"].startswith("pg-production-ledger.")
    assert outputs["endpoint"].endswith(".eu-west-1.rds.amazonaws.com")
    assert (outputs["port"], outputs["database"]) == (5432, "ledger")
    assert outputs["secret_path"] == "secret/data/postgres/production/ledger"
    assert outputs["instance_class"] == "db.m6g.2xlarge"  # the variables are still there
