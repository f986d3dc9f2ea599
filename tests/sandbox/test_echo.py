"""The generic REST target: echo, scripted answers, long-running operations, faults."""

from __future__ import annotations

import httpx

from tests.support.sandbox import SandboxServer


def test_requests_are_echoed(sandbox: SandboxServer) -> None:
    response = httpx.post(
        f"{sandbox.echo_url}/v1/dns/records",
        params={"zone": "example.com", "tag": ["a", "b"]},
        headers={"X-Api-Key": "k-1"},
        json={"name": "www", "type": "A"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "POST"
    assert body["path"] == "/v1/dns/records"
    assert body["query"] == {"zone": "example.com", "tag": ["a", "b"]}
    assert body["headers"]["x-api-key"] == "k-1"
    assert body["json"] == {"name": "www", "type": "A"}
    raw = httpx.put(f"{sandbox.echo_url}/raw", content=b"not json").json()
    assert (raw["json"], raw["body"]) == (None, "not json")


def test_scripted_429_with_retry_after_then_201(sandbox: SandboxServer) -> None:
    scripted = httpx.post(
        f"{sandbox.echo_url}/sandbox/responses",
        json={
            "method": "POST",
            "path": "/v1/things",
            "responses": [
                {"status": 429, "headers": {"Retry-After": "1"}, "json": {"error": "slow"}},
                {"status": 201, "json": {"id": "t-1"}},
            ],
        },
    )
    assert scripted.status_code == 201

    first = httpx.post(f"{sandbox.echo_url}/v1/things", json={})
    second = httpx.post(f"{sandbox.echo_url}/v1/things", json={})
    third = httpx.post(f"{sandbox.echo_url}/v1/things", json={"x": 1})

    assert (first.status_code, first.headers["retry-after"]) == (429, "1")
    assert (second.status_code, second.json()) == (201, {"id": "t-1"})
    assert (third.status_code, third.json()["json"]) == (200, {"x": 1})  # script used up
    log = sandbox.requests("echo", path="/v1/things")
    assert [r["status"] for r in log] == [429, 201, 200]
    assert log[0]["received_at"] <= log[1]["received_at"]


def test_long_running_operation_is_pending_then_done(sandbox: SandboxServer) -> None:
    started = httpx.post(
        f"{sandbox.echo_url}/operations", json={"polls": 2, "result": {"ip": "10.0.0.7"}}
    )
    assert started.status_code == 202
    status_url = started.headers["location"]
    assert status_url == started.json()["status_url"]

    seen = [httpx.get(status_url).json()["status"] for _ in range(3)]
    final = httpx.get(status_url).json()

    assert seen == ["pending", "running", "done"]
    assert final["result"] == {"ip": "10.0.0.7"}
    failing = httpx.post(f"{sandbox.echo_url}/operations", json={"polls": 0, "fail": True})
    assert httpx.get(failing.headers["location"]).json()["status"] == "failed"


def test_status_helper_required_headers_and_generic_faults(sandbox: SandboxServer) -> None:
    assert httpx.get(f"{sandbox.echo_url}/status/418").status_code == 418
    assert httpx.delete(f"{sandbox.echo_url}/status/204").status_code == 204

    sandbox.configure("echo", required_headers={"Authorization": "Bearer t0k"})
    assert httpx.get(f"{sandbox.echo_url}/x").status_code == 401
    assert httpx.get(f"{sandbox.echo_url}/x", headers={"Authorization": "Bearer t0k"}).is_success

    sandbox.configure("echo", required_headers={})
    sandbox.fault("echo", path="/flaky/*", status=503, times=2, headers={"Retry-After": "0"})
    answers = [httpx.get(f"{sandbox.echo_url}/flaky/1").status_code for _ in range(3)]
    assert answers == [503, 503, 200]
    assert httpx.get(f"{sandbox.echo_url}/sandbox/faults").json() == []
