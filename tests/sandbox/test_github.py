"""The GitHub sandbox over real sockets: dispatch, find the run, wait, artifact, App tokens."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.sandbox import GITHUB_TOKEN, SandboxServer

REPO = "acme/infra"


def api(sandbox: SandboxServer, token: str = GITHUB_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.github_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


def dispatch(gh: httpx.Client, inputs: dict[str, str], workflow: str = "provision.yml") -> None:
    response = gh.post(
        f"/repos/{REPO}/actions/workflows/{workflow}/dispatches",
        json={"ref": "main", "inputs": inputs},
    )
    assert response.status_code == 204, response.text
    assert response.content == b""


def find_run(gh: httpx.Client, correlation_id: str, since: str) -> dict[str, object]:
    runs: list[dict[str, Any]] = gh.get(
        f"/repos/{REPO}/actions/runs",
        params={"event": "workflow_dispatch", "created": f">={since}", "branch": "main"},
    ).json()["workflow_runs"]
    [run] = [r for r in runs if correlation_id in r["display_title"]]
    return run


def test_dispatch_find_by_run_name_complete_by_hand_and_read_the_artifact(
    sandbox: SandboxServer,
) -> None:
    sandbox.configure("github", queued_s=None, in_progress_s=None)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with api(sandbox) as gh:
        dispatch(gh, {"correlation_id": "pao-req-1", "size": "small"})
        dispatch(gh, {"correlation_id": "pao-req-2", "size": "large"})

        run = find_run(gh, "pao-req-2", since)
        assert run["display_title"] == "Provision pao-req-2"
        assert "inputs" not in run  # like GitHub: correlate through the title
        assert run["status"] == "queued" and run["conclusion"] is None
        assert run["event"] == "workflow_dispatch" and run["head_branch"] == "main"
        page = httpx.get(str(run["html_url"]))
        assert page.status_code == 200 and "pao-req-2" in page.text

        finished = httpx.post(
            f"{sandbox.github_url}/sandbox/runs/{run['id']}/complete",
            json={"conclusion": "success", "artifact": {"db_host": "orders.db.internal"}},
        )
        assert finished.status_code == 200
        polled = gh.get(f"/repos/{REPO}/actions/runs/{run['id']}").json()
        assert (polled["status"], polled["conclusion"]) == ("completed", "success")

        artifacts = gh.get(f"/repos/{REPO}/actions/runs/{run['id']}/artifacts").json()
        [artifact] = artifacts["artifacts"]
        assert artifact["name"] == "outputs"
        download = gh.get(artifact["archive_download_url"])
        assert download.status_code == 302
        blob = httpx.get(download.headers["location"])  # storage takes no Authorization
        with zipfile.ZipFile(io.BytesIO(blob.content)) as archive:
            assert json.loads(archive.read("outputs.json")) == {"db_host": "orders.db.internal"}
        followed = gh.get(artifact["archive_download_url"], follow_redirects=True)
        assert followed.content == blob.content

        other = find_run(gh, "pao-req-1", since)
        assert gh.get(f"/repos/{REPO}/actions/runs/{other['id']}").json()["status"] == "queued"


def test_runs_progress_by_themselves_and_conclude_as_configured(sandbox: SandboxServer) -> None:
    sandbox.configure(
        "github",
        workflows=[
            {
                "repo": REPO,
                "file": "deploy.yml",
                "name": "Deploy",
                "run_name": "Deploy ${{ inputs.env }} (${{ inputs.request_id }})",
                "inputs": {
                    "env": {"required": True},
                    "request_id": {"required": True},
                    "dry_run": {"default": "false"},
                },
                "conclusion": "failure",
            }
        ],
    )
    with api(sandbox) as gh:
        dispatch(gh, {"env": "prod", "request_id": "r-9"}, workflow="deploy.yml")
        [run] = gh.get(f"/repos/{REPO}/actions/workflows/deploy.yml/runs").json()["workflow_runs"]

    assert run["display_title"] == "Deploy prod (r-9)"
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    [stored] = sandbox.state("github")["runs"]
    assert stored["inputs"] == {"env": "prod", "request_id": "r-9", "dry_run": "false"}


def test_dispatch_is_validated_like_github(sandbox: SandboxServer) -> None:
    sandbox.configure(
        "github",
        auto_workflows=False,
        workflows=[{"repo": REPO, "file": "deploy.yml", "inputs": {"env": {"required": True}}}],
    )
    url = f"/repos/{REPO}/actions/workflows/deploy.yml/dispatches"
    with api(sandbox) as gh:
        no_ref = gh.post(url, json={"inputs": {"env": "dev"}})
        extra = gh.post(url, json={"ref": "main", "inputs": {"env": "dev", "x": "1"}})
        missing = gh.post(url, json={"ref": "main", "inputs": {}})
        unknown = gh.post(
            f"/repos/{REPO}/actions/workflows/nope.yml/dispatches", json={"ref": "main"}
        )
        details = gh.post(
            url, json={"ref": "main", "inputs": {"env": "dev"}, "return_run_details": True}
        )

    assert (no_ref.status_code, no_ref.json()["message"]) == (
        422,
        'Invalid request.\n\n"ref" wasn\'t supplied.',
    )
    assert (extra.status_code, extra.json()["message"]) == (
        422,
        'Unexpected inputs provided: ["x"]',
    )
    assert (missing.status_code, missing.json()["message"]) == (
        422,
        "Required input 'env' not provided",
    )
    assert unknown.status_code == 404
    assert details.status_code == 200
    body = details.json()
    assert set(body) == {"workflow_run_id", "run_url", "html_url"}
    assert body["run_url"].endswith(f"/repos/{REPO}/actions/runs/{body['workflow_run_id']}")


def test_created_filter_and_cancel(sandbox: SandboxServer) -> None:
    sandbox.configure("github", queued_s=None, in_progress_s=None)
    with api(sandbox) as gh:
        dispatch(gh, {"correlation_id": "c-1"})
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
        later = gh.get(f"/repos/{REPO}/actions/runs", params={"created": f">={tomorrow}"})
        assert later.json() == {"total_count": 0, "workflow_runs": []}
        [run] = gh.get(f"/repos/{REPO}/actions/runs", params={"status": "queued"}).json()[
            "workflow_runs"
        ]

        assert gh.post(f"/repos/{REPO}/actions/runs/{run['id']}/cancel").status_code == 202
        again = gh.post(f"/repos/{REPO}/actions/runs/{run['id']}/cancel")
        polled = gh.get(f"/repos/{REPO}/actions/runs/{run['id']}").json()

    assert again.status_code == 409
    assert polled["conclusion"] == "cancelled"


def test_tokens_are_checked(sandbox: SandboxServer) -> None:
    url = f"{sandbox.github_url}/repos/{REPO}/actions/runs"
    missing = httpx.get(url)
    wrong = httpx.get(url, headers={"Authorization": "token ghp_wrong"})
    right = httpx.get(url, headers={"Authorization": f"token {GITHUB_TOKEN}"})

    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
    assert right.status_code == 200


def app_jwt(private_pem: str, app_id: str, *, lifetime_s: int = 540) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iat": now - 60, "exp": now + lifetime_s, "iss": app_id}, private_pem, "RS256"
    )


def test_github_app_installation_token_exchange(sandbox: SandboxServer) -> None:
    app = httpx.get(f"{sandbox.github_url}/sandbox/app").json()
    [installation_id] = app["installation_ids"]
    token_url = f"{sandbox.github_url}/app/installations/{installation_id}/access_tokens"
    good = app_jwt(app["private_key_pem"], app["app_id"])

    installation = httpx.get(
        f"{sandbox.github_url}/repos/{REPO}/installation",
        headers={"Authorization": f"Bearer {good}"},
    )
    exchanged = httpx.post(token_url, headers={"Authorization": f"Bearer {good}"})

    assert installation.json()["id"] == installation_id
    assert exchanged.status_code == 201
    token = exchanged.json()["token"]
    assert token.startswith("ghs_")
    with api(sandbox, token) as gh:
        dispatch(gh, {"correlation_id": "as-app"})
        [run] = gh.get(f"/repos/{REPO}/actions/runs").json()["workflow_runs"]
    assert run["actor"]["login"] == "pao-sandbox[bot]"

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for bad, message in [
        (app_jwt(stranger_pem, app["app_id"]), "A JSON web token could not be decoded"),
        (app_jwt(app["private_key_pem"], app["app_id"], lifetime_s=3600), "too far in the future"),
        (app_jwt(app["private_key_pem"], "999"), "'Issuer' claim"),
        (GITHUB_TOKEN, "A JSON web token could not be decoded"),
    ]:
        refused = httpx.post(token_url, headers={"Authorization": f"Bearer {bad}"})
        assert refused.status_code == 401
        assert message in refused.json()["message"]


def test_configured_app_public_key_is_used(sandbox: SandboxServer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    sandbox.configure("github", app_public_key=public, app_id="777")

    response = httpx.post(
        f"{sandbox.github_url}/app/installations/4242/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt(private, '777')}"},
        json={"permissions": {"actions": "write"}},
    )

    assert response.status_code == 201
    assert response.json()["permissions"] == {"actions": "write"}
    assert httpx.get(f"{sandbox.github_url}/sandbox/app").json()["private_key_pem"] is None


@pytest.mark.parametrize("conclusion", ["failure", "cancelled"])
def test_the_ui_finishes_runs(sandbox: SandboxServer, conclusion: str) -> None:
    sandbox.configure("github", queued_s=None, in_progress_s=None)
    with api(sandbox) as gh:
        dispatch(gh, {"correlation_id": "ui"})
        [run] = gh.get(f"/repos/{REPO}/actions/runs").json()["workflow_runs"]
    listing = httpx.get(f"{sandbox.github_url}/ui")
    assert listing.status_code == 200 and "Provision ui" in listing.text

    clicked = httpx.post(
        f"{sandbox.github_url}/ui/runs/{run['id']}/complete",
        content=f"conclusion={conclusion}&artifact=",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=True,
    )

    assert clicked.status_code == 200
    assert str(clicked.url) == run["html_url"]
    [stored] = sandbox.state("github")["runs"]
    assert (stored["status"], stored["conclusion"]) == ("completed", conclusion)
