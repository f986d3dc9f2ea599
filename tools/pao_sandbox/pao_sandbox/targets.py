"""The REST APIs the shipped catalog items call, emulated behind the echo target.

``pao dev`` routes every REST target to ``/echo/<host>/<path>``. An echo answers 200 with
the request, which no real API does: a POST that creates answers 201 with the created
resource, a DELETE 204. So the echo target first asks these emulations, matched by the
shape of the path (host first, any host), and echoes only what none of them claims::

    /{host}/v2/zones/{zone}/records[/{id}]        DNS records API      (dns-record;
                                                  PATCH updates a record)
    /{host}/api/v1/grants[/{id}]                  PAM vault grants     (production-access)
    /{host}/v1/clusters/{c}/namespaces/{ns}/members   tenancy members  (kubernetes-namespace)
    /{host}/api/v1/..., /{host}/apis/{g}/{v}/...  Kubernetes API       (kubernetes-namespace,
                                                  see ``kubernetes``)

Each keeps its resources per host (two hosts are two servers), demands a bearer token
(401 without), validates what the real API would (422, 409 on a duplicate, 404 on an
unknown id) and answers with the created resource. Scripted answers and faults still
come first, so a test can make any of them fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pao_sandbox.common import iso_z, random_id, utcnow
from pao_sandbox.errors import SandboxApiError


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request to an emulated API, as the echo target received it."""

    method: str
    route: str  # below /echo, host first
    body: Any
    headers: dict[str, str]  # lower-case names
    base_url: str  # where /echo is mounted, for Location headers

    def require_bearer(self) -> None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SandboxApiError(401, "missing bearer token")

    def location(self, *parts: str) -> dict[str, str]:
        return {
            "Location": self.base_url + self.route.rstrip("/") + "".join(f"/{p}" for p in parts)
        }


class EmulatedApi:
    """One API: ``pattern`` claims routes; ``handle`` answers them."""

    name: str
    pattern: re.Pattern[str]

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}  # host -> {id -> resource}

    def store(self, host: str) -> dict[str, Any]:
        return self.resources.setdefault(host, {})

    def handle(self, call: Call, match: re.Match[str]) -> Answer:
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        return self.resources


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SandboxApiError(400, "the body must be a JSON object")
    return body


def _method_not_allowed(call: Call, allowed: str) -> SandboxApiError:
    return SandboxApiError(405, f"{call.method} not allowed here", headers={"Allow": allowed})


IPV4 = re.compile(r"^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?\.?$"
)
RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV")


class DnsRecordsApi(EmulatedApi):
    """An internal DNS API: records of a zone; ``fqdn`` is the name in the zone (``@``: apex)."""

    name = "dns-records"
    pattern = re.compile(
        r"^/(?P<host>[^/]+)/v2/zones/(?P<zone>[^/]+)/records(?:/(?P<id>[^/]+))?/?$"
    )

    def handle(self, call: Call, match: re.Match[str]) -> Answer:
        call.require_bearer()
        host, zone, record_id = match["host"], match["zone"], match["id"]
        records = self.store(host)
        if record_id is None:
            if call.method == "GET":
                return Answer(200, [r for r in records.values() if r["zone"] == zone])
            if call.method == "POST":
                return self.create(call, records, zone)
            raise _method_not_allowed(call, "GET, POST")
        record = records.get(record_id)
        if record is None or record["zone"] != zone:
            raise SandboxApiError(404, f"no record {record_id} in zone {zone}")
        if call.method == "GET":
            return Answer(200, record)
        if call.method == "PATCH":
            return self.update(call, records, record)
        if call.method == "DELETE":
            del records[record_id]
            return Answer(204)
        raise _method_not_allowed(call, "GET, PATCH, DELETE")

    UPDATABLE = ("content", "ttl", "priority", "comment")

    def update(self, call: Call, records: dict[str, Any], record: dict[str, Any]) -> Answer:
        """PATCH: change the content, TTL, MX priority or comment (name and type are the
        record's identity: 422 to change them); 200 with the record as it is now."""
        body = _object(call.body)
        fixed = {k: "cannot be changed; delete the record and create another" for k in body}
        for key in (*self.UPDATABLE, "id", "zone", "fqdn", "created_at", "updated_at"):
            fixed.pop(key, None)
        for key in ("name", "type"):
            if key in body and body[key] == record[key]:
                fixed.pop(key, None)
        changes = {k: v for k, v in body.items() if k in self.UPDATABLE}
        merged = {**record, **changes}
        errors = {**fixed, **self.invalid(merged)}
        if errors:
            raise SandboxApiError(422, "invalid record", fields=errors)
        fqdn = merged["fqdn"]
        for other in records.values():
            same = (other["type"], other["content"]) == (merged["type"], merged["content"])
            if other["id"] != record["id"] and other["fqdn"] == fqdn and same:
                raise SandboxApiError(
                    409, f"{merged['type']} record {fqdn} -> {merged['content']} already exists"
                )
        record.update(changes, updated_at=iso_z(utcnow()))
        return Answer(200, record)

    def create(self, call: Call, records: dict[str, Any], zone: str) -> Answer:
        body = _object(call.body)
        errors = self.invalid(body)
        if errors:
            raise SandboxApiError(422, "invalid record", fields=errors)
        name, kind, content = body["name"], body["type"], body["content"]
        fqdn = zone if name == "@" else f"{name}.{zone}"
        for other in records.values():
            if other["fqdn"] != fqdn:
                continue
            if (other["type"], other["content"]) == (kind, content):
                raise SandboxApiError(409, f"{kind} record {fqdn} -> {content} already exists")
            if "CNAME" in (kind, other["type"]):
                raise SandboxApiError(409, f"{fqdn} already has a {other['type']} record")
        record_id = "rec-" + random_id(12)
        record = {
            "id": record_id,
            "zone": zone,
            "name": name,
            "fqdn": fqdn,
            "type": kind,
            "content": content,
            "ttl": body.get("ttl") or 300,
            "priority": body.get("priority") if kind == "MX" else None,
            "comment": body.get("comment"),
            "created_at": iso_z(utcnow()),
        }
        records[record_id] = record
        return Answer(201, record, call.location(record_id))

    @staticmethod
    def invalid(body: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        name, kind, content = body.get("name"), body.get("type"), body.get("content")
        if not isinstance(name, str) or not name:
            errors["name"] = "required"
        if kind not in RECORD_TYPES:
            errors["type"] = f"one of {', '.join(RECORD_TYPES)}"
        if not isinstance(content, str) or not content:
            errors["content"] = "required"
        elif kind == "A" and not IPV4.match(content):
            errors["content"] = "an A record needs an IPv4 address"
        elif kind in ("CNAME", "MX", "NS") and not HOSTNAME.match(content):
            errors["content"] = f"a {kind} record needs a host name"
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or not 60 <= ttl <= 86400):
            errors["ttl"] = "an integer from 60 to 86400"
        priority = body.get("priority")
        if kind == "MX" and (not isinstance(priority, int) or not 0 <= priority <= 65535):
            errors["priority"] = "an MX record needs a priority from 0 to 65535"
        return errors


class PamGrantsApi(EmulatedApi):
    """A PAM vault's time-limited grants; ``Idempotency-Key`` replays the first answer."""

    name = "pam-grants"
    pattern = re.compile(r"^/(?P<host>[^/]+)/api/v1/grants(?:/(?P<id>[^/]+))?/?$")
    ROLES = ("read", "operate", "admin")

    def __init__(self) -> None:
        super().__init__()
        self.idempotency: dict[tuple[str, str], Answer] = {}

    def handle(self, call: Call, match: re.Match[str]) -> Answer:
        call.require_bearer()
        host, grant_id = match["host"], match["id"]
        grants = self.store(host)
        if grant_id is None:
            if call.method == "GET":
                return Answer(200, list(grants.values()))
            if call.method != "POST":
                raise _method_not_allowed(call, "GET, POST")
            key = call.headers.get("idempotency-key")
            if key and (host, key) in self.idempotency:
                return self.idempotency[(host, key)]
            answer = self.create(call, grants)
            if key:
                self.idempotency[(host, key)] = answer
            return answer
        grant = grants.get(grant_id)
        if grant is None:
            raise SandboxApiError(404, f"no grant {grant_id}")
        if call.method == "GET":
            return Answer(200, grant)
        if call.method == "DELETE":
            del grants[grant_id]  # revoked
            return Answer(204)
        raise _method_not_allowed(call, "GET, DELETE")

    def create(self, call: Call, grants: dict[str, Any]) -> Answer:
        body = _object(call.body)
        errors: dict[str, str] = {}
        for key in ("principal", "target", "justification"):
            if not isinstance(body.get(key), str) or not body[key]:
                errors[key] = "required"
        if body.get("role") not in self.ROLES:
            errors["role"] = f"one of {', '.join(self.ROLES)}"
        minutes = body.get("duration_minutes")
        if not isinstance(minutes, int) or not 1 <= minutes <= 72 * 60:
            errors["duration_minutes"] = "an integer from 1 to 4320"
        starts: datetime | None = None
        if body.get("starts_at") is not None:
            try:
                starts = datetime.fromisoformat(str(body["starts_at"]))
            except ValueError:
                errors["starts_at"] = "an ISO 8601 date-time"
            if starts is not None and starts.tzinfo is None:
                errors["starts_at"] = "needs a time zone"
        if body.get("role") == "admin" and not body.get("reference"):
            errors["reference"] = "admin grants need an incident or change reference"
        if errors:
            raise SandboxApiError(422, "invalid grant", fields=errors)
        now = utcnow()
        begins = starts or now
        assert isinstance(minutes, int)
        grant_id = "grt-" + random_id(12)
        grant = {
            "id": grant_id,
            "principal": body["principal"],
            "target": body["target"],
            "role": body["role"],
            "status": "scheduled" if begins > now else "active",
            "starts_at": iso_z(begins),
            "expires_at": iso_z(begins + timedelta(minutes=minutes)),
            "justification": body["justification"],
            "reference": body.get("reference"),
            "ticket_url": body.get("ticket_url"),
            "created_at": iso_z(now),
        }
        grants[grant_id] = grant
        return Answer(201, grant, call.location(grant_id))


CLUSTER_ROLES = {"admin": "admin", "edit": "edit", "view": "view"}


class TenancyMembersApi(EmulatedApi):
    """A tenancy API: who may use a namespace. PUT replaces the list (200), with its bindings."""

    name = "tenancy-members"
    pattern = re.compile(
        r"^/(?P<host>[^/]+)/v1/clusters/(?P<cluster>[^/]+)/namespaces/(?P<ns>[^/]+)/members/?$"
    )

    def handle(self, call: Call, match: re.Match[str]) -> Answer:
        call.require_bearer()
        cluster, namespace = match["cluster"], match["ns"]
        members = self.store(match["host"])
        key = f"{cluster}/{namespace}"
        if call.method == "GET":
            if key not in members:
                raise SandboxApiError(404, f"no members for {key}")
            return Answer(200, members[key])
        if call.method == "DELETE":
            if members.pop(key, None) is None:
                raise SandboxApiError(404, f"no members for {key}")
            return Answer(204)
        if call.method != "PUT":
            raise _method_not_allowed(call, "GET, PUT, DELETE")
        body = _object(call.body)
        listed = body.get("members")
        errors: dict[str, str] = {}
        if not isinstance(body.get("team"), str) or not body["team"]:
            errors["team"] = "required"
        if not isinstance(listed, list) or not listed:
            errors["members"] = "a non-empty list of {email, role}"
        else:
            for index, member in enumerate(listed):
                if not isinstance(member, dict) or not member.get("email"):
                    errors[f"members[{index}].email"] = "required"
                elif member.get("role", "admin") not in CLUSTER_ROLES:
                    errors[f"members[{index}].role"] = "one of admin, edit, view"
        if errors:
            raise SandboxApiError(422, "invalid member list", fields=errors)
        assert isinstance(listed, list)
        bindings = [
            {
                "name": f"pao-{m.get('role', 'admin')}-{_dns_label(m['email'])}",
                "namespace": namespace,
                "subject": {"kind": "User", "name": m["email"]},
                "cluster_role": CLUSTER_ROLES[m.get("role", "admin")],
            }
            for m in listed
        ]
        members[key] = {
            "cluster": cluster,
            "namespace": namespace,
            "team": body["team"],
            "members": listed,
            "bindings": bindings,
            "updated_at": iso_z(utcnow()),
        }
        return Answer(200, members[key])


def _dns_label(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50]


def dispatch(apis: list[EmulatedApi], call: Call) -> Answer | None:
    """The first emulation claiming the route answers; ``None``: nobody does (echo it)."""
    for api in apis:
        match = api.pattern.match(call.route)
        if match is not None:
            return api.handle(call, match)
    return None
