"""From a resource event to the values of its CI: pure, no I/O.

The mapping is the item version's ``resource.cmdb`` as the catalog API serves it. Its
field templates read ``resource`` (id, name, owner_team, item_version, inputs, outputs),
the same context the catalog checked them against at load. A field whose template reads
something this resource does not have (an optional input nobody filled in) is left out
of the CI rather than written empty, and named in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pao_common import templating
from pao_common.errors import TemplateError
from pao_common.messages import (
    ResourceDecommissioned,
    ResourceEvent,
    ResourceOperationFailed,
    ResourceOperationStarted,
    ResourceProvisioned,
    ResourceProvisioningFailed,
    ResourceProvisioningStarted,
    ResourceUpdated,
)

log = logging.getLogger(__name__)

INSTALLED = "1"
RETIRED = "7"
INSTALL_STATUS_FIELD = "install_status"

# What changes a CI: the resource exists (again, after a failed operation) or is gone.
SYNCED: tuple[type[ResourceEvent], ...] = (
    ResourceProvisioned,
    ResourceUpdated,
    ResourceOperationFailed,
    ResourceDecommissioned,
)
# Nothing to mirror yet (no outputs) or nothing was made.
PASSED_OVER: tuple[type[ResourceEvent], ...] = (
    ResourceProvisioningStarted,
    ResourceOperationStarted,
    ResourceProvisioningFailed,
)


@dataclass(frozen=True)
class CiMapping:
    """An item version's ``resource.cmdb``: the CI class (table) and its field templates."""

    ci_class: str
    fields: dict[str, str] = field(default_factory=dict)
    correlation_field: str = "correlation_id"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> CiMapping:
        return cls(
            ci_class=str(body["ci_class"]),
            fields={str(k): str(v) for k, v in (body.get("fields") or {}).items()},
            correlation_field=str(body.get("correlation_field") or "correlation_id"),
        )


def resource_context(event: ResourceEvent) -> dict[str, Any]:
    return {
        "resource": {
            "id": event.resource_id,
            "name": event.name,
            "owner_team": event.owner_team,
            "item_version": event.item_version,
            "inputs": dict(event.inputs),
            "outputs": dict(event.outputs),
        }
    }


def ci_values(event: ResourceEvent, mapping: CiMapping) -> dict[str, Any]:
    """The CI's fields after ``event``: the mapped ones, the correlation id, the status."""
    context = resource_context(event)
    values: dict[str, Any] = {}
    left_out: list[str] = []
    for name, template in mapping.fields.items():
        try:
            values[name] = templating.render(template, context)
        except TemplateError as exc:
            left_out.append(f"{name} ({exc})")
    if left_out:
        log.info(
            "resource %s: CI fields left out, their templates read what it lacks: %s",
            event.resource_id,
            "; ".join(left_out),
        )
    values[mapping.correlation_field] = event.resource_id
    decommissioned = isinstance(event, ResourceDecommissioned)
    values[INSTALL_STATUS_FIELD] = RETIRED if decommissioned else INSTALLED
    return values
