"""How the JIRA sandbox reads an issue's fields (create and edit): every field error at
once, as JIRA answers them (``errors``)."""

from __future__ import annotations

import re
from typing import Any

from pao_sandbox.errors import SandboxApiError
from pao_sandbox.jira.config import PRIORITIES, JiraProject, known_name
from pao_sandbox.jira.state import JiraState


class JiraValidation(JiraState):
    """Reading fields: text (plain in v2, ADF in v3), users, an issue's fields."""

    def text_in(self, value: Any, version: str, field: str, errors: dict[str, str]) -> Any:
        if value is None:
            return None
        if version == "3":
            if not (isinstance(value, dict) and value.get("type") == "doc"):
                errors[field] = (
                    "Operation value must be an Atlassian Document (see the Atlassian "
                    "Document Format)"
                )
            return value
        if not isinstance(value, str):
            errors[field] = "Operation value must be a string"
        return value

    def user_in(self, value: Any, errors: dict[str, str], field: str) -> str | None:
        if value is None:
            return None
        ref = value.get("accountId" if self.cloud else "name") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref:
            wanted = "accountId" if self.cloud else "name"
            errors[field] = f"Specify a valid '{wanted}' for {field.title()}"
            return None
        return ref

    def validate_fields(self, fields: Any, version: str, *, creating: bool) -> dict[str, Any]:
        """JIRA's create-issue validation: all field errors at once, as ``errors``."""
        if not isinstance(fields, dict):
            raise SandboxApiError(400, "fields is required", fields={})
        errors: dict[str, str] = {}
        out: dict[str, Any] = {"custom": {}}
        project = self.project_in(fields, creating, out, errors)
        self.issuetype_in(fields, creating, out, errors)
        self.summary_in(fields, creating, out, errors)
        if "description" in fields:
            out["description"] = self.text_in(fields["description"], version, "description", errors)
        if "labels" in fields:
            labels_in(fields["labels"], out, errors)
        if "components" in fields:
            out["components"] = self.components_in(fields["components"], project, errors)
        if "priority" in fields:
            out["priority"] = priority_in(fields["priority"], errors)
        for field in ("assignee", "reporter"):
            if field in fields:
                out[field] = self.user_in(fields[field], errors, field)
        self.custom_fields_in(fields, out, errors)
        if errors:
            raise SandboxApiError(400, fields=errors)
        return out

    def project_in(
        self, fields: dict[str, Any], creating: bool, out: dict[str, Any], errors: dict[str, str]
    ) -> JiraProject | None:
        if not (creating or "project" in fields):
            return None
        if not fields.get("project"):
            errors["project"] = "project is required"
            return None
        project = self.find_project(fields["project"])
        if project is None:
            errors["project"] = "valid project is required"
        else:
            out["project"] = project.key
        return project

    def issuetype_in(
        self, fields: dict[str, Any], creating: bool, out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        if not (creating or "issuetype" in fields):
            return
        ref = fields.get("issuetype")
        if not ref:
            errors["issuetype"] = "issue type is required"
            return
        name = self.issue_type_named(ref)
        if name is None:
            errors["issuetype"] = "The issue type selected is invalid."
        else:
            out["issuetype"] = name

    def summary_in(
        self, fields: dict[str, Any], creating: bool, out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        if not (creating or "summary" in fields):
            return
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        else:
            out["summary"] = summary

    def components_in(
        self, refs: Any, project: JiraProject | None, errors: dict[str, str]
    ) -> list[str]:
        """Component names; an unknown one joins the project (``auto_projects``) or errs."""
        names = []
        for ref in refs or []:
            name = ref.get("name") if isinstance(ref, dict) else None
            if project is not None and name and name not in project.components:
                if self.config.auto_projects:
                    project.components.append(name)
                else:
                    errors["components"] = f"Component name '{name}' is not valid"
            names.append(name or str(ref))
        return names

    def custom_fields_in(
        self, fields: dict[str, Any], out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        """Every other field: a custom field this JIRA knows, or one it cannot set."""
        for field, value in fields.items():
            if field in out or field in SYSTEM_INPUTS:
                continue
            known = field in self.config.custom_fields or (
                self.config.auto_custom_fields and re.fullmatch(r"customfield_\d+", field)
            )
            if not known:
                errors[field] = (
                    f"Field '{field}' cannot be set. It is not on the appropriate screen, "
                    "or unknown."
                )
            else:
                out["custom"][field] = value


# The system fields validate_fields reads by name; any other is a custom field.
SYSTEM_INPUTS = (
    "project",
    "issuetype",
    "summary",
    "description",
    "labels",
    "components",
    "priority",
)


def labels_in(value: Any, out: dict[str, Any], errors: dict[str, str]) -> None:
    labels = value or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        errors["labels"] = "Field 'labels' must be an array of strings"
    elif any(" " in x for x in labels):
        errors["labels"] = "The label '{}' contains spaces which is invalid.".format(
            next(x for x in labels if " " in x)
        )
    else:
        out["labels"] = labels


def priority_in(value: Any, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    name = known_name(value, PRIORITIES)
    if name is None:
        errors["priority"] = "The priority selected is invalid."
    return name
