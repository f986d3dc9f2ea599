"""The meaning checks of ``resource:`` and ``operations:`` (``validation`` runs them).

An operation is checked like the item itself, at its own path
(``operations[i].presentation``, ``.approval``, ``.fulfillment``):

- ids: operation ids are unique; its fields, sections, columns and steps have unique ids;
- its form: the same field rules as the item's; a field sharing an id with an item field
  (pre-filled from the resource's inputs, and written back to them by an update) has the
  item field's type;
- approval: required approval names an approver; ``when:`` reads no step outputs;
- fulfilment: binary (manual XOR automated; a ticket in an automated operation only as
  ``fallback_to_manual``), action types known and fed, rollbacks able to compensate;
- templates: ``inputs.x`` is a field of the operation, ``steps.y`` an earlier step of
  the operation, and ``resource.*`` one of id, name, owner_team, item_version,
  ``inputs.<item field>``, ``outputs.<output the item's provisioning declares>``;
- access: an operation's ``access`` with both lists empty would open it to everyone
  while the item is restricted; that is refused (omit ``access`` to use the item's).

``resource:``: ``name`` reads what provisioning templates read (no step outputs) and
``resource.id``; ``owner_input`` is a text or select field of the item; each
``cmdb.fields`` template reads only ``resource.*`` and sets no field the sync writes
itself (``sys_*``, the correlation field, ``install_status``).
"""

from __future__ import annotations

from collections.abc import Iterator

from pao_catalog_model.actions import ActionRegistry
from pao_catalog_model.model import CMDB_MANAGED_FIELDS, CatalogItem, CmdbMapping, Operation
from pao_catalog_model.validation import (
    RESOURCE_KEYS,
    Path_,
    Problem,
    ResourceScope,
    Scope,
    approval_problems,
    change_class_problems,
    duplicates,
    form_problems,
    fulfillment_problems,
    presentation_field_paths,
    step_id_problems,
    template_problems,
)

_OWNER_TYPES = ("string", "select")


def declared_outputs(item: CatalogItem) -> set[str]:
    """The outputs the item's provisioning declares: what ``resource.outputs`` holds."""
    automated = item.fulfillment.automated
    return set(automated.outputs) if automated else set()


def _item_fields(item: CatalogItem) -> set[str]:
    return {f.id for f in item.presentation.all_fields()}


def resource_problems(item: CatalogItem) -> Iterator[Problem]:
    spec = item.resource
    item_fields = _item_fields(item)
    if spec.name is not None:
        scope = Scope(
            item_fields,
            [],
            None,
            resource=ResourceScope(frozenset({"id"}), item_fields, set()),
        )
        yield from template_problems(spec.name, ("resource", "name"), scope)
    if spec.owner_input is not None:
        owner = item.presentation.field(spec.owner_input)
        if owner is None:
            yield (
                ("resource", "owner_input"),
                f"owner_input names no field of the item: {spec.owner_input!r}",
            )
        elif owner.type not in _OWNER_TYPES:
            yield (
                ("resource", "owner_input"),
                f"owner_input {owner.id!r} is a {owner.type} field; a team name needs "
                f"one of: {', '.join(_OWNER_TYPES)}",
            )
    if spec.cmdb is not None:
        scope = Scope(
            set(),
            [],
            None,
            resource=ResourceScope(RESOURCE_KEYS, item_fields, declared_outputs(item)),
            roots=frozenset({"resource"}),
        )
        yield from template_problems(dict(spec.cmdb.fields), ("resource", "cmdb", "fields"), scope)
        yield from _cmdb_field_problems(spec.cmdb)


def _cmdb_field_problems(cmdb: CmdbMapping) -> Iterator[Problem]:
    """The sync writes the correlation field (the resource id) and the install status
    (installed, retired) itself, and ServiceNow owns ``sys_*``: a mapping setting one of
    them would fight the sync, or be ignored."""
    for name in cmdb.fields:
        path = ("resource", "cmdb", "fields", name)
        if name.startswith("sys_"):
            yield path, f"{name!r} is a ServiceNow system field; it cannot be mapped"
        elif name == cmdb.correlation_field:
            yield (
                path,
                f"{name!r} is the correlation field: the CMDB sync writes the resource id "
                "there to find the CI again",
            )
        elif name in CMDB_MANAGED_FIELDS:
            yield (
                path,
                f"{name!r} is written by the CMDB sync (1 installed, 7 retired on "
                "decommission); it cannot be mapped",
            )
    if cmdb.correlation_field.startswith("sys_"):
        yield (
            ("resource", "cmdb", "correlation_field"),
            f"{cmdb.correlation_field!r} is a ServiceNow system field; name a CI field "
            "the sync may write (default: correlation_id)",
        )


def operation_problems(item: CatalogItem, registry: ActionRegistry) -> Iterator[Problem]:
    yield from duplicates(
        [(("operations", i, "id"), op.id) for i, op in enumerate(item.operations)],
        "operation id",
    )
    for index, operation in enumerate(item.operations):
        yield from _one_operation(item, operation, ("operations", index), registry)


def _one_operation(
    item: CatalogItem, operation: Operation, path: Path_, registry: ActionRegistry
) -> Iterator[Problem]:
    yield from form_problems(operation.presentation, (*path, "presentation"))
    for field_path, f in presentation_field_paths(operation.presentation, (*path, "presentation")):
        own = item.presentation.field(f.id)
        if own is not None and own.type != f.type:
            yield (
                (*field_path, "type"),
                f"field {f.id!r} shares its id with the item's field, so it must be a "
                f"{own.type} like it (it is pre-filled from the resource), not a {f.type}",
            )
    yield from step_id_problems(
        operation.fulfillment.automated, (*path, "fulfillment", "automated")
    )
    item_fields = _item_fields(item)
    scope = Scope(
        {f.id for f in operation.presentation.all_fields()},
        [],
        None,
        resource=ResourceScope(RESOURCE_KEYS, item_fields, declared_outputs(item)),
    )
    yield from approval_problems(operation.approval, (*path, "approval"), scope)
    yield from change_class_problems(operation.change_class, (*path, "change_class"), scope)
    yield from fulfillment_problems(operation.fulfillment, (*path, "fulfillment"), registry, scope)
    access = operation.access
    if (
        access is not None
        and not access.teams
        and not access.roles
        and (item.access.teams or item.access.roles)
    ):
        yield (
            (*path, "access"),
            "an empty access opens the operation to everyone while the item is restricted; "
            "name teams or roles, or omit access to use the item's",
        )
