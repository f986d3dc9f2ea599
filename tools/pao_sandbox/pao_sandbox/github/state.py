"""The GitHub sandbox's state (runs, artifacts, blobs, installation tokens) and its
lookups: authentication (tokens, the App's JWT), workflows, runs and artifacts by id."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from pydantic import BaseModel

from pao_sandbox.common import (
    SandboxSystem,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.github.config import (
    DOCS,
    GithubConfig,
    GithubWorkflow,
)

if TYPE_CHECKING:
    pass


class GithubState(SandboxSystem[GithubConfig]):
    """What the API created, found again; who is asking."""

    name: ClassVar[str] = "github"
    title: ClassVar[str] = "GitHub Actions"
    config_model: ClassVar[type[BaseModel]] = GithubConfig

    def reset_state(self) -> None:
        self.runs: dict[int, dict[str, Any]] = {}
        self.artifacts: dict[int, dict[str, Any]] = {}
        self.blobs: dict[str, int] = {}
        self.installation_tokens: dict[str, dict[str, Any]] = {}
        self.invented: list[GithubWorkflow] = []
        self.workflow_ids: dict[tuple[str, str], int] = {}
        self.run_numbers: dict[int, int] = {}
        self.next_run_id = 10_000_000_001
        self.next_artifact_id = 2_000_000_001
        if not hasattr(self, "_private_pem"):
            self._private_pem: str | None = None
            self._generated_public: str | None = None

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        body: dict[str, Any] = {
            "message": message or "Error",
            "documentation_url": DOCS,
            "status": str(status),
        }
        if fields:
            body["errors"] = [{"field": k, "message": v} for k, v in fields.items()]
        return body

    def public_key(self) -> str:
        if self.config.app_public_key:
            return self.config.app_public_key
        if self._generated_public is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._private_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            self._generated_public = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        return self._generated_public

    def bearer(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise SandboxApiError(401, "Requires authentication")
        if scheme.lower() not in ("bearer", "token") or not token:
            raise SandboxApiError(401, "Bad credentials")
        return token.strip()

    def authenticate(self, request: Request) -> str:
        """The actor behind a PAT or an installation token."""
        token = self.bearer(request)
        if token in self.config.tokens:
            return self.config.token_user
        issued = self.installation_tokens.get(token)
        if issued and issued["expires"] > time.time():
            return f"{self.config.app_slug}[bot]"
        raise SandboxApiError(401, "Bad credentials")

    def authenticate_app(self, request: Request) -> dict[str, Any]:
        token = self.bearer(request)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key(),
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError as exc:
            raise SandboxApiError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise SandboxApiError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise SandboxApiError(401, "A JSON web token could not be decoded") from exc
        if int(claims["exp"]) - time.time() > 600 + 60:
            raise SandboxApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims["iss"]) not in (self.config.app_id, self.config.app_client_id):
            raise SandboxApiError(401, "'Issuer' claim ('iss') does not name this app")
        return claims

    def workflows(self, repo: str) -> list[GithubWorkflow]:
        all_ = [*self.config.workflows, *self.invented]
        return [w for w in all_ if w.repo.lower() == repo.lower()]

    def workflow_id(self, workflow: GithubWorkflow) -> int:
        key = (workflow.repo.lower(), workflow.file)
        if key not in self.workflow_ids:
            self.workflow_ids[key] = 100_000_001 + len(self.workflow_ids)
        return self.workflow_ids[key]

    def find_workflow(self, repo: str, ref: str) -> GithubWorkflow:
        for workflow in self.workflows(repo):
            if ref in (workflow.file, str(self.workflow_id(workflow))):
                return workflow
        if self.config.auto_workflows and re.fullmatch(r"[\w.-]+\.ya?ml", ref):
            invented = GithubWorkflow(repo=repo, file=ref, run_name=self.config.default_run_name)
            self.invented.append(invented)
            return invented
        raise SandboxApiError(404, "Not Found")

    def repo_run(self, owner: str, repo: str, run_id: int) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None or run["repository"].lower() != f"{owner}/{repo}".lower():
            raise SandboxApiError(404, "Not Found")
        return run

    def repo_artifact(self, owner: str, repo: str, artifact_id: int) -> dict[str, Any]:
        artifact = self.artifacts.get(artifact_id)
        if artifact is None or artifact["repository"].lower() != f"{owner}/{repo}".lower():
            raise SandboxApiError(404, "Not Found")
        return artifact
