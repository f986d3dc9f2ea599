"""A Kubernetes API server's object store, the part a provisioner drives.

Paths (below ``/echo/<host>``; every host is its own cluster)::

    /api/v1/namespaces[/{name}]                                   cluster-scoped
    /api/v1/namespaces/{ns}/{resource}[/{name}]                   core, namespaced
    /apis/{group}/{version}/namespaces/{ns}/{resource}[/{name}]   other groups

As the API server does: ``POST`` creates (201, the object with ``metadata.uid``,
``resourceVersion``, ``creationTimestamp``, ``namespace``), 409 ``AlreadyExists`` for a
taken name, 404 ``NotFound`` for an object in a namespace that does not exist, 400 when
``kind``/``apiVersion`` do not fit the path, 422 ``Invalid`` without ``metadata.name``
(or with a bad label value, or a quota whose ``spec.hard`` holds no quantity);
``GET`` reads an object or a ``...List``; ``PUT`` replaces an object (200, the same
``uid`` and ``creationTimestamp``, a new ``resourceVersion``; 400 when the body's name is
not the URL's, 409 ``Conflict`` when it carries a ``resourceVersion`` that is not the
current one, 404 for an object that does not exist: these kinds are not created by an
update); ``DELETE`` answers 200 with the object (a namespace in phase ``Terminating``;
its objects go with it). Errors are ``Status`` objects. A resource the emulation does
not know is answered 404 ("the server could not find the requested resource"), as a
server without that API would.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

from pao_sandbox.common import iso_z, utcnow
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.targets import Answer, Call, EmulatedApi

# (group/version, resource plural) -> kind; "v1" is the core group.
NAMESPACED = {
    ("v1", "configmaps"): "ConfigMap",
    ("v1", "secrets"): "Secret",
    ("v1", "serviceaccounts"): "ServiceAccount",
    ("v1", "services"): "Service",
    ("v1", "resourcequotas"): "ResourceQuota",
    ("v1", "limitranges"): "LimitRange",
    ("networking.k8s.io/v1", "networkpolicies"): "NetworkPolicy",
    ("rbac.authorization.k8s.io/v1", "roles"): "Role",
    ("rbac.authorization.k8s.io/v1", "rolebindings"): "RoleBinding",
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# resource.Quantity: a number (JSON number or string) with an optional SI/binary suffix.
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")


def status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> SandboxApiError:
    """A ``Status`` error body, as every Kubernetes API error is written."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return SandboxApiError(code, message, body=body)


class KubernetesApi(EmulatedApi):
    name = "kubernetes"
    pattern = re.compile(
        r"^/(?P<host>[^/]+)/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
        r"(?P<rest>(?:/[^/]+)*)/?$"
    )

    def __init__(self) -> None:
        super().__init__()
        self.versions = itertools.count(1000)

    def handle(self, call: Call, match: re.Match[str]) -> Answer:
        scheme, _, token = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise status(401, "Unauthorized", "Unauthorized")
        api_version = match["core"] or f"{match['group']}/{match['version']}"
        parts = [p for p in (match["rest"] or "").split("/") if p]
        objects = self.store(match["host"])
        if api_version == "v1" and parts[:1] == ["namespaces"] and len(parts) <= 2:
            return self.namespaces(call, objects, parts[1] if len(parts) == 2 else None)
        if len(parts) in (3, 4) and parts[0] == "namespaces":
            kind = NAMESPACED.get((api_version, parts[2]))
            if kind is not None:
                namespace, resource = parts[1], parts[2]
                name = parts[3] if len(parts) == 4 else None
                return self.namespaced(call, objects, api_version, kind, resource, namespace, name)
        raise status(404, "NotFound", "the server could not find the requested resource")

    # --- namespaces -----------------------------------------------------------------------

    def namespaces(self, call: Call, objects: dict[str, Any], name: str | None) -> Answer:
        key = f"v1/namespaces/{name}"
        if name is None:
            if call.method == "GET":
                return self.listing("v1", "NamespaceList", objects, "v1/namespaces/")
            if call.method != "POST":
                raise status(405, "MethodNotAllowed", f"{call.method} is not supported")
            created = self.validated(call, "v1", "Namespace", None)
            key = f"v1/namespaces/{created['metadata']['name']}"
            if key in objects:
                raise self.exists("namespaces", "", created["metadata"]["name"])
            created["spec"] = {"finalizers": ["kubernetes"]}
            created["status"] = {"phase": "Active"}
            objects[key] = created
            return Answer(201, created)
        if key not in objects:
            raise self.not_found("namespaces", "", name)
        if call.method == "GET":
            return Answer(200, objects[key])
        if call.method == "PUT":
            replaced = self.replaced(call, objects[key], "v1", "Namespace", "namespaces", None)
            replaced.setdefault("spec", objects[key].get("spec"))
            replaced["status"] = objects[key]["status"]  # the status is not the client's
            objects[key] = replaced
            return Answer(200, replaced)
        if call.method != "DELETE":
            raise status(405, "MethodNotAllowed", f"{call.method} is not supported")
        gone = objects.pop(key)
        for child in [k for k, o in objects.items() if o["metadata"].get("namespace") == name]:
            del objects[child]
        gone["metadata"]["deletionTimestamp"] = iso_z(utcnow())
        gone["status"] = {"phase": "Terminating"}
        return Answer(200, gone)

    # --- objects in a namespace ------------------------------------------------------------

    def namespaced(
        self,
        call: Call,
        objects: dict[str, Any],
        api_version: str,
        kind: str,
        resource: str,
        namespace: str,
        name: str | None,
    ) -> Answer:
        group = api_version.rpartition("/")[0]
        prefix = f"{api_version}/{namespace}/{resource}/"
        if f"v1/namespaces/{namespace}" not in objects and call.method != "GET":
            raise self.not_found("namespaces", "", namespace)
        if name is None:
            if call.method == "GET":
                return self.listing(api_version, f"{kind}List", objects, prefix)
            if call.method != "POST":
                raise status(405, "MethodNotAllowed", f"{call.method} is not supported")
            created = self.validated(call, api_version, kind, namespace)
            key = prefix + created["metadata"]["name"]
            if key in objects:
                raise self.exists(resource, group, created["metadata"]["name"])
            objects[key] = created
            return Answer(201, created)
        key = prefix + name
        if key not in objects:
            raise self.not_found(resource, group, name)
        if call.method == "GET":
            return Answer(200, objects[key])
        if call.method == "PUT":
            objects[key] = self.replaced(call, objects[key], api_version, kind, resource, namespace)
            return Answer(200, objects[key])
        if call.method != "DELETE":
            raise status(405, "MethodNotAllowed", f"{call.method} is not supported")
        return Answer(200, objects.pop(key))

    # --- shared ----------------------------------------------------------------------------

    def validated(
        self, call: Call, api_version: str, kind: str, namespace: str | None
    ) -> dict[str, Any]:
        body = call.body
        if not isinstance(body, dict):
            raise status(400, "BadRequest", "the body of the request was in an unknown format")
        if body.get("kind", kind) != kind or body.get("apiVersion", api_version) != api_version:
            raise status(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) does not match the"
                f" expected API version ({api_version}) or kind ({body.get('kind')}) does not"
                f" match {kind}",
            )
        metadata = dict(body.get("metadata") or {})
        name = metadata.get("name")
        causes = []
        if not isinstance(name, str) or not name:
            causes.append(("metadata.name", "name or generateName is required"))
        elif not NAME.match(name) or len(name) > (63 if kind == "Namespace" else 253):
            causes.append(("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 name"))
        labels = metadata.get("labels") or {}
        if not isinstance(labels, dict):
            causes.append(("metadata.labels", "must be a map of strings"))
        else:
            for label, value in labels.items():
                if not isinstance(value, str) or (value and not _label_value(value)):
                    causes.append((f"metadata.labels[{label}]", f"Invalid value: {value!r}"))
        if kind == "ResourceQuota":
            hard = (body.get("spec") or {}).get("hard") or {}
            for resource, quantity in hard.items() if isinstance(hard, dict) else ():
                if isinstance(quantity, bool) or not QUANTITY.match(str(quantity).strip()):
                    causes.append((f"spec.hard[{resource}]", f"Invalid value: {quantity!r}"))
        if causes:
            raise status(
                422,
                "Invalid",
                f"{kind} {name!r} is invalid: " + "; ".join(f"{f}: {m}" for f, m in causes),
                {
                    "name": name,
                    "kind": kind,
                    "causes": [{"field": f, "message": m} for f, m in causes],
                },
            )
        metadata.update(
            {
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(next(self.versions)),
                "creationTimestamp": iso_z(utcnow()),
            }
        )
        if namespace is not None:
            metadata["namespace"] = namespace
        return {**body, "apiVersion": api_version, "kind": kind, "metadata": metadata}

    def replaced(
        self,
        call: Call,
        current: dict[str, Any],
        api_version: str,
        kind: str,
        resource: str,
        namespace: str | None,
    ) -> dict[str, Any]:
        """The object ``current`` replaced by the PUT's body, as the API server's update:
        the body names the same object, and a ``resourceVersion`` in it must be current
        (optimistic concurrency); identity and creation time stay the server's."""
        meta = current["metadata"]
        body = call.body if isinstance(call.body, dict) else {}
        given = body.get("metadata") or {}
        name = given.get("name") if isinstance(given, dict) else None
        if isinstance(name, str) and name and name != meta["name"]:
            raise status(
                400,
                "BadRequest",
                f"the name of the object ({name}) does not match the name on the URL "
                f"({meta['name']})",
            )
        version = given.get("resourceVersion") if isinstance(given, dict) else None
        if version is not None and str(version) != meta["resourceVersion"]:
            group = api_version.rpartition("/")[0]
            what = f"{resource}.{group}" if group else resource
            raise status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {what} "{meta["name"]}": the object has '
                "been modified; please apply your changes to the latest version and try again",
                {"name": meta["name"], "kind": resource},
            )
        if isinstance(given, dict) and not name:
            # An update may leave the name out of the body: it is the URL's.
            call = Call(
                call.method,
                call.route,
                {**body, "metadata": {**given, "name": meta["name"]}},
                call.headers,
                call.base_url,
            )
        updated = self.validated(call, api_version, kind, namespace)
        updated["metadata"]["uid"] = meta["uid"]
        updated["metadata"]["creationTimestamp"] = meta["creationTimestamp"]
        return updated

    def listing(self, api_version: str, kind: str, objects: dict[str, Any], prefix: str) -> Answer:
        items = [o for k, o in objects.items() if k.startswith(prefix)]
        body = {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(next(self.versions))},
            "items": items,
        }
        return Answer(200, body)

    @staticmethod
    def exists(resource: str, group: str, name: str) -> SandboxApiError:
        what = f"{resource}.{group}" if group else resource
        return status(
            409,
            "AlreadyExists",
            f'{what} "{name}" already exists',
            {"name": name, "kind": resource, **({"group": group} if group else {})},
        )

    @staticmethod
    def not_found(resource: str, group: str, name: str) -> SandboxApiError:
        what = f"{resource}.{group}" if group else resource
        return status(
            404, "NotFound", f'{what} "{name}" not found', {"name": name, "kind": resource}
        )


def _label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.match(value))
