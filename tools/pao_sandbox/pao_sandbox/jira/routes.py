"""The JIRA sandbox's REST API (v2, v3 on the Cloud flavour) as routes, one group per
resource: server metadata and lookup tables, issues, transitions, comments, search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from pao_sandbox.common import (
    json_body,
    system_base_url,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.jira.config import (
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    SYSTEM_FIELDS,
    TRANSITIONS,
    jira_time,
    requested_fields,
)

if TYPE_CHECKING:
    from pao_sandbox.jira.sandbox import JiraSandbox

API = "/rest/api/{version}"


def add_metadata_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """serverInfo, myself, projects and the lookup tables (issue types, priorities,
    resolutions, statuses, fields)."""

    @app.get(API + "/serverInfo")
    async def server_info(version: str, request: Request) -> dict[str, Any]:
        jira.check_version(version)
        numbers = [1001, 0, 0] if jira.cloud else [9, 12, 0]
        return {
            "baseUrl": system_base_url(request),
            "version": ".".join(map(str, numbers)),
            "versionNumbers": numbers,
            "deploymentType": jira.config.deployment,
            "buildNumber": 100000,
            "buildDate": "2024-01-01T00:00:00.000+0000",
            "serverTime": jira_time(),
            "scmInfo": "sandbox",
            "serverTitle": "PAO sandbox JIRA",
        }

    @app.get(API + "/myself")
    async def myself(version: str, request: Request) -> Any:
        jira.check_version(version)
        return jira.user_json(system_base_url(request), jira.authenticate(request))

    @app.get(API + "/project")
    async def projects(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        base = system_base_url(request)
        return [jira.project_json(base, p) for p in jira.projects().values()]

    @app.get(API + "/project/{ref}")
    async def project(version: str, ref: str, request: Request) -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        found = jira.find_project(ref)
        if found is None:
            raise SandboxApiError(404, f"No project could be found with key '{ref}'.")
        return jira.project_json(system_base_url(request), found)

    @app.get(API + "/issuetype")
    async def issuetypes(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        return [jira.issuetype_json(system_base_url(request), n) for n in jira.issue_types()]

    @app.get(API + "/priority")
    async def priorities(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        base = system_base_url(request)
        return [
            {"self": f"{base}/rest/api/2/priority/{i}", "id": i, "name": n}
            for n, i in PRIORITIES.items()
        ]

    @app.get(API + "/resolution")
    async def resolutions(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        base = system_base_url(request)
        return [
            {"self": f"{base}/rest/api/2/resolution/{i}", "id": i, "name": n, "description": ""}
            for n, i in RESOLUTIONS.items()
        ]

    @app.get(API + "/status")
    async def statuses(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        return [jira.status_json(system_base_url(request), n) for n in STATUSES]

    @app.get(API + "/field")
    async def field_list(version: str, request: Request) -> list[dict[str, Any]]:
        jira.check_version(version)
        jira.authenticate(request)
        system = [
            {
                "id": f,
                "key": f,
                "name": f.title(),
                "custom": False,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f],
            }
            for f in SYSTEM_FIELDS
        ]
        custom = [
            {
                "id": f,
                "key": f,
                "name": n,
                "custom": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{f.split('_')[1]}]", n],
            }
            for f, n in jira.config.custom_fields.items()
        ]
        return system + custom


def add_issue_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """Create, read and edit an issue."""

    @app.post(API + "/issue", status_code=201)
    async def create_issue(version: str, request: Request) -> Any:
        jira.check_version(version)
        user = jira.authenticate(request)
        body = await json_body(request, empty={})
        if not isinstance(body, dict):
            raise SandboxApiError(400, "Can not deserialize instance of the request body")
        values = jira.validate_fields(body.get("fields"), version, creating=True)
        issue = jira.create(values, user)
        for update in (body.get("update") or {}).get("comment", []):
            jira.add_comment(issue, update.get("add", {}).get("body"), user)
        base = system_base_url(request)
        await jira.notify(base, issue, None, user, event="jira:issue_created")
        return JSONResponse(
            {
                "id": issue["id"],
                "key": issue["key"],
                "self": f"{base}/rest/api/{version}/issue/{issue['id']}",
            },
            status_code=201,
        )

    @app.get(API + "/issue/{ref}")
    async def get_issue(version: str, ref: str, request: Request, fields: str = "") -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        wanted = [f for f in fields.split(",") if f] or None
        return jira.issue_json(system_base_url(request), jira.issue(ref), version, wanted)

    @app.put(API + "/issue/{ref}", status_code=204)
    async def edit_issue(version: str, ref: str, request: Request) -> Response:
        jira.check_version(version)
        user = jira.authenticate(request)
        issue = jira.issue(ref)
        body = await json_body(request, empty={})
        values = jira.validate_fields(body.get("fields", {}), version, creating=False)
        issue["custom"].update(values.pop("custom"))
        issue.update(values)
        for update in (body.get("update") or {}).get("labels", []):
            if "add" in update and update["add"] not in issue["labels"]:
                issue["labels"].append(update["add"])
            if "remove" in update and update["remove"] in issue["labels"]:
                issue["labels"].remove(update["remove"])
        for update in (body.get("update") or {}).get("comment", []):
            jira.add_comment(issue, update.get("add", {}).get("body"), user)
        issue["updated"] = jira_time()
        return Response(status_code=204)


def add_transition_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """The workflow's transitions of an issue, and taking one."""

    @app.get(API + "/issue/{ref}/transitions")
    async def get_transitions(version: str, ref: str, request: Request) -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        issue = jira.issue(ref)
        base = system_base_url(request)
        transitions = []
        for tid, target in TRANSITIONS.items():
            if target == issue["status"]:
                continue
            entry: dict[str, Any] = {
                "id": tid,
                "name": target,
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isConditional": False,
                "to": jira.status_json(base, target),
            }
            if target == "Done":
                entry["fields"] = {
                    "resolution": {
                        "required": False,
                        "name": "Resolution",
                        "allowedValues": [{"id": i, "name": n} for n, i in RESOLUTIONS.items()],
                    }
                }
            transitions.append(entry)
        return {"expand": "transitions", "transitions": transitions}

    @app.post(API + "/issue/{ref}/transitions", status_code=204)
    async def do_transition(version: str, ref: str, request: Request) -> Response:
        jira.check_version(version)
        user = jira.authenticate(request)
        issue = jira.issue(ref)
        body = await json_body(request, empty={})
        tid = str(((body or {}).get("transition") or {}).get("id", ""))
        if not tid:
            raise SandboxApiError(400, "Missing 'transition' identifier")
        comment = None
        for update in (body.get("update") or {}).get("comment", []):
            comment = jira.add_comment(issue, update.get("add", {}).get("body"), user)
        changelog = jira.transition(issue, tid, body.get("fields") or {})
        await jira.notify(system_base_url(request), issue, changelog, user, comment)
        return Response(status_code=204)


def add_comment_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """An issue's comments, and adding one."""

    @app.get(API + "/issue/{ref}/comment")
    async def comments(version: str, ref: str, request: Request) -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        issue = jira.issue(ref)
        base = system_base_url(request)
        items = [jira.comment_json(base, issue, c, version) for c in issue["comments"]]
        return {"startAt": 0, "maxResults": len(items), "total": len(items), "comments": items}

    @app.post(API + "/issue/{ref}/comment", status_code=201)
    async def add_comment(version: str, ref: str, request: Request) -> Any:
        jira.check_version(version)
        user = jira.authenticate(request)
        issue = jira.issue(ref)
        body = await json_body(request, empty={})
        errors: dict[str, str] = {}
        text = jira.text_in((body or {}).get("body"), version, "comment", errors)
        if not text:
            errors.setdefault("comment", "Comment body can not be empty!")
        if errors:
            raise SandboxApiError(400, fields=errors)
        comment = jira.add_comment(issue, text, user)
        return JSONResponse(
            jira.comment_json(system_base_url(request), issue, comment, version), 201
        )


async def search_args(request: Request) -> dict[str, Any]:
    """A search's arguments: the JSON body of a POST, the query of a GET."""
    if request.method == "POST":
        args = await json_body(request, empty={})
        return args if isinstance(args, dict) else {}
    query = request.query_params
    return {k: (query.getlist(k) if k == "fields" else query[k]) for k in query}


def add_search_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """JQL search: ``/search`` (Server; Cloud answers 410) and ``/search/jql`` (Cloud,
    ``nextPageToken`` paging)."""

    @app.api_route(API + "/search", methods=["GET", "POST"])
    async def search(version: str, request: Request) -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        if jira.cloud:
            raise SandboxApiError(
                410,
                "The requested API has been removed. Please migrate to the "
                "/rest/api/3/search/jql API.",
            )
        args = await search_args(request)
        found = jira.search(args.get("jql", ""))
        start = int(args.get("startAt") or 0)
        size = int(args.get("maxResults") or 50)
        fields = requested_fields(args.get("fields"), ["*navigable"])
        base = system_base_url(request)
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(found),
            "issues": [
                jira.issue_json(base, i, version, fields) for i in found[start : start + size]
            ],
        }

    @app.api_route(API + "/search/jql", methods=["GET", "POST"])
    async def search_jql(version: str, request: Request) -> Any:
        jira.check_version(version)
        jira.authenticate(request)
        if not jira.cloud:
            raise SandboxApiError(404, "null for uri: /rest/api/2/search/jql")
        args = await search_args(request)
        found = jira.search(args.get("jql", ""))
        start = int(args.get("nextPageToken") or 0)
        size = int(args.get("maxResults") or 50)
        fields = requested_fields(args.get("fields"), ["id"])
        base = system_base_url(request)
        page_items = found[start : start + size]
        body: dict[str, Any] = {
            "issues": [jira.issue_json(base, i, version, fields) for i in page_items],
            "isLast": start + size >= len(found),
        }
        if not body["isLast"]:
            body["nextPageToken"] = str(start + size)
        return body
