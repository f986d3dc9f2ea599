"""How the JIRA sandbox writes things: users, statuses, projects, components, issue types,
comments and issues as the REST API v2 / v3 answers them."""

from __future__ import annotations

import hashlib
from typing import Any

from pao_sandbox.jira.config import (
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    JiraProject,
    adf,
    adf_text,
)
from pao_sandbox.jira.state import JiraState


class JiraRendering(JiraState):
    """JSON of the REST API; ``base`` is the URL the sandbox is mounted at."""

    def user_json(self, base: str, who: str | None) -> dict[str, Any] | None:
        if who is None:
            return None
        display = who.split("@")[0].replace(".", " ").title()
        email = who if "@" in who else f"{who}@example.com"
        if self.cloud:
            # People sign in by email; fields name them by account id.
            account = hashlib.sha1(who.encode()).hexdigest()[:24] if "@" in who else who
            return {
                "self": f"{base}/rest/api/2/user?accountId={account}",
                "accountId": account,
                "accountType": "atlassian",
                "emailAddress": email,
                "displayName": display,
                "active": True,
                "timeZone": "UTC",
            }
        return {
            "self": f"{base}/rest/api/2/user?username={who}",
            "name": who,
            "key": who,
            "emailAddress": email,
            "displayName": display,
            "active": True,
            "timeZone": "UTC",
        }

    def status_json(self, base: str, name: str) -> dict[str, Any]:
        status_id, category = STATUSES[name]
        return {
            "self": f"{base}/rest/api/2/status/{status_id}",
            "description": "",
            "name": name,
            "id": status_id,
            "iconUrl": f"{base}/images/icons/status_generic.gif",
            "statusCategory": {
                "self": f"{base}/rest/api/2/statuscategory/{category['id']}",
                **category,
            },
        }

    def project_json(self, base: str, project: JiraProject) -> dict[str, Any]:
        pid = self.project_id(project.key)
        body: dict[str, Any] = {
            "expand": "description,lead,issueTypes,url,projectKeys",
            "self": f"{base}/rest/api/2/project/{pid}",
            "id": pid,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "components": [self.component_json(base, project, c) for c in project.components],
        }
        # JIRA lists issue types whether or not ``expand=issueTypes`` asks for them.
        body["issueTypes"] = [self.issuetype_json(base, name) for name in self.issue_types()]
        return body

    def component_json(self, base: str, project: JiraProject, name: str) -> dict[str, Any]:
        cid = str(10000 + (project.components.index(name) if name in project.components else 99))
        return {"self": f"{base}/rest/api/2/component/{cid}", "id": cid, "name": name}

    def issuetype_json(self, base: str, name: str) -> dict[str, Any]:
        tid = self.issue_types()[name]
        return {
            "self": f"{base}/rest/api/2/issuetype/{tid}",
            "id": tid,
            "name": name,
            "description": "",
            "subtask": False,
            "iconUrl": "",
        }

    def text_out(self, value: Any, version: str) -> Any:
        if value is None:
            return None
        return adf(adf_text(value)) if version == "3" else adf_text(value)

    def comment_json(
        self, base: str, issue: dict[str, Any], comment: dict[str, Any], version: str
    ) -> dict[str, Any]:
        author = self.user_json(base, comment["author"])
        return {
            "self": f"{base}/rest/api/{version}/issue/{issue['id']}/comment/{comment['id']}",
            "id": comment["id"],
            "author": author,
            "updateAuthor": author,
            "body": self.text_out(comment["body"], version),
            "created": comment["created"],
            "updated": comment["created"],
        }

    def issue_json(
        self, base: str, issue: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        project = self.projects()[issue["project"]]
        resolution = issue["resolution"]
        comments = [self.comment_json(base, issue, c, version) for c in issue["comments"]]
        all_fields: dict[str, Any] = {
            "summary": issue["summary"],
            "description": self.text_out(issue["description"], version),
            "labels": list(issue["labels"]),
            "components": [self.component_json(base, project, c) for c in issue["components"]],
            "priority": (
                {
                    "self": f"{base}/rest/api/2/priority/{PRIORITIES[issue['priority']]}",
                    "id": PRIORITIES[issue["priority"]],
                    "name": issue["priority"],
                }
                if issue["priority"]
                else None
            ),
            "assignee": self.user_json(base, issue["assignee"]),
            "reporter": self.user_json(base, issue["reporter"]),
            "creator": self.user_json(base, issue["reporter"]),
            "issuetype": self.issuetype_json(base, issue["issuetype"]),
            "project": {
                k: v
                for k, v in self.project_json(base, project).items()
                if k in ("self", "id", "key", "name", "projectTypeKey")
            },
            "status": self.status_json(base, issue["status"]),
            "resolution": (
                {
                    "self": f"{base}/rest/api/2/resolution/{RESOLUTIONS[resolution]}",
                    "id": RESOLUTIONS[resolution],
                    "name": resolution,
                    "description": "",
                }
                if resolution
                else None
            ),
            "resolutiondate": issue["resolutiondate"],
            "created": issue["created"],
            "updated": issue["updated"],
            "comment": {
                "comments": comments,
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            },
            **issue["custom"],
        }
        wanted = fields or ["*all"]
        if not any(f in ("*all", "*navigable") for f in wanted):
            all_fields = {k: v for k, v in all_fields.items() if k in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue["id"],
            "self": f"{base}/rest/api/{version}/issue/{issue['id']}",
            "key": issue["key"],
            "fields": all_fields,
        }
