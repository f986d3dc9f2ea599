"""JQL search over the JIRA sandbox's issues (the parser is ``pao_sandbox.jql``): which
fields a query may name and the values an issue has for each."""

from __future__ import annotations

import re
from typing import Any

from pao_sandbox import jql
from pao_sandbox.jira.config import (
    JQL_FIELDS,
    STATUSES,
    adf_text,
)
from pao_sandbox.jira.state import JiraState


class JiraSearch(JiraState):
    """JQL over the issues: ``search`` and the field values it compares."""

    def search(self, query: str) -> list[dict[str, Any]]:
        parsed = jql.parse(query, self.jql_values, self.jql_knows)
        found = [issue for issue in self.issues.values() if parsed.predicate(issue)]
        for field, descending in reversed(parsed.order_by or [("created", True)]):

            def sort_key(issue: dict[str, Any], field: str = field) -> str:
                return (self.jql_values(issue, field) or [""])[0]

            found.sort(key=sort_key, reverse=descending)
        return found

    def jql_knows(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in JQL_FIELDS:
            return True
        if re.fullmatch(r"cf\[\d+\]", lowered) or re.fullmatch(r"customfield_\d+", lowered):
            return True
        return name in self.config.custom_fields.values()

    def jql_values(self, issue: dict[str, Any], name: str) -> list[str] | None:
        lowered = name.lower()
        project = issue["project"]
        simple = {
            "key": [issue["key"]],
            "issuekey": [issue["key"]],
            "id": [issue["id"]],
            "issue": [issue["key"], issue["id"]],
            "project": [project, self.project_id(project), self.projects()[project].name],
            "summary": [issue["summary"]],
            "description": [adf_text(issue["description"])] if issue["description"] else [],
            "labels": issue["labels"],
            "component": issue["components"],
            "status": [issue["status"], STATUSES[issue["status"]][0]],
            "statuscategory": [STATUSES[issue["status"]][1]["name"]],
            "resolution": [issue["resolution"]] if issue["resolution"] else [],
            "issuetype": [issue["issuetype"]],
            "type": [issue["issuetype"]],
            "priority": [issue["priority"]] if issue["priority"] else [],
            "assignee": [issue["assignee"]] if issue["assignee"] else [],
            "reporter": [issue["reporter"]],
            "created": [issue["created"]],
            "updated": [issue["updated"]],
            "resolutiondate": [issue["resolutiondate"]] if issue["resolutiondate"] else [],
            "resolved": [issue["resolutiondate"]] if issue["resolutiondate"] else [],
        }
        if lowered == "text":
            texts = [issue["summary"], adf_text(issue["description"])]
            texts += [adf_text(c["body"]) for c in issue["comments"]]
            return texts
        if lowered in simple:
            return list(simple[lowered])
        match = re.fullmatch(r"(?:cf\[(\d+)\]|customfield_(\d+))", lowered)
        field_id = f"customfield_{match.group(1) or match.group(2)}" if match else None
        if field_id is None:
            field_id = next((f for f, n in self.config.custom_fields.items() if n == name), None)
        if field_id is None:
            return None
        value = issue["custom"].get(field_id)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [
            str(v.get("value", v.get("name", v))) if isinstance(v, dict) else str(v) for v in values
        ]
