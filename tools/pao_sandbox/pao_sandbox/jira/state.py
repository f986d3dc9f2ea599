"""The JIRA sandbox's state (issues, counters, webhook deliveries) and its lookups:
projects, issue types, issues by id or key, API versions, authentication."""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

from fastapi import Request
from pydantic import BaseModel

from pao_sandbox.common import (
    SandboxSystem,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.jira.config import (
    ISSUE_TYPES,
    JiraConfig,
    JiraProject,
    known_name,
)


class JiraState(SandboxSystem[JiraConfig]):
    """The issues and what they are looked up by; the API's and the UI's common ground."""

    name: ClassVar[str] = "jira"
    title: ClassVar[str] = "JIRA"
    config_model: ClassVar[type[BaseModel]] = JiraConfig

    def reset_state(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.next_issue_id = 10000
        self.next_comment_id = 10100
        self.next_changelog_id = 10200
        self.deliveries: list[dict[str, Any]] = []
        self.extra_projects: dict[str, JiraProject] = {}
        self.extra_issue_types: dict[str, str] = {}

    def issue_types(self) -> dict[str, str]:
        """Issue type name -> id: the standard ones and those created on first use."""
        return {**ISSUE_TYPES, **self.extra_issue_types}

    def issue_type_named(self, ref: Any) -> str | None:
        name = known_name(ref, self.issue_types())
        wanted = ref.get("name") if isinstance(ref, dict) else ref
        if name is None and self.config.auto_issue_types and isinstance(wanted, str) and wanted:
            self.extra_issue_types[wanted] = str(10100 + len(self.extra_issue_types))
            name = wanted
        return name

    def dump_state(self) -> dict[str, Any]:
        return {"issues": list(self.issues.values()), "webhook_deliveries": self.deliveries}

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        return {"errorMessages": [message] if message else [], "errors": fields}

    # --- lookups ------------------------------------------------------------------------

    @property
    def cloud(self) -> bool:
        return self.config.deployment == "Cloud"

    def projects(self) -> dict[str, JiraProject]:
        known = {p.key: p for p in self.config.projects}
        return {**known, **self.extra_projects}

    def project_id(self, key: str) -> str:
        keys = sorted(self.projects())
        return str(10000 + keys.index(key)) if key in keys else "0"

    def find_project(self, ref: Any) -> JiraProject | None:
        projects = self.projects()
        if isinstance(ref, dict):
            ref = ref.get("key") or ref.get("id")
        ref = str(ref or "")
        if ref in projects:
            return projects[ref]
        for key in projects:
            if self.project_id(key) == ref:
                return projects[key]
        if self.config.auto_projects and re.fullmatch(r"[A-Z][A-Z0-9_]{1,9}", ref):
            self.extra_projects[ref] = JiraProject(key=ref, name=ref.title())
            return self.extra_projects[ref]
        return None

    def issue(self, id_or_key: str) -> dict[str, Any]:
        key = self.ids.get(id_or_key, id_or_key)
        if key not in self.issues:
            raise SandboxApiError(
                404, "Issue does not exist or you do not have permission to see it."
            )
        return self.issues[key]

    def check_version(self, version: str) -> None:
        if version not in ("2", "latest") and not (version == "3" and self.cloud):
            raise SandboxApiError(404, "null for uri: /rest/api/" + version)

    def authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials in self.config.pat_tokens:
            return self.config.pat_user
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                email, token = "", ""
            if email and self.config.basic_users.get(email) == token:
                return email
        raise SandboxApiError(
            401,
            "You are not authenticated. Authentication required to perform this operation.",
            headers={
                "WWW-Authenticate": 'Basic realm="protected-area"',
                "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
            },
        )
