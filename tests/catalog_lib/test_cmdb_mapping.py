"""``resource.cmdb``: what a mapping may declare, refused at load with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.catalog_lib.support import load, messages, minimal, write


def _mapping(**cmdb: Any) -> dict[str, Any]:
    doc = minimal()
    doc["resource"] = {"cmdb": cmdb}
    return doc


def test_a_mapping_with_its_own_correlation_field_loads(tmp_path: Path) -> None:
    doc = _mapping(
        ci_class="cmdb_ci_appl",
        correlation_field="u_pao_resource",
        fields={"name": "{{ resource.name }}", "u_size": "{{ resource.inputs.size }}"},
    )
    result = load(tmp_path, doc)
    assert result.errors == []
    assert result.item is not None and result.item.resource.cmdb is not None
    assert result.item.resource.cmdb.correlation_field == "u_pao_resource"
    default = load(tmp_path, _mapping(ci_class="cmdb_ci_appl")).item
    assert default is not None and default.resource.cmdb is not None
    assert default.resource.cmdb.correlation_field == "correlation_id"


def test_fields_the_sync_writes_itself_are_refused(tmp_path: Path) -> None:
    doc = _mapping(
        ci_class="cmdb_ci_appl",
        fields={
            "name": "{{ resource.name }}",
            "sys_id": "{{ resource.id }}",
            "correlation_id": "{{ resource.id }}",
            "install_status": "1",
        },
    )
    assert messages(load(tmp_path, doc)) == [
        "resource.cmdb.fields.sys_id: 'sys_id' is a ServiceNow system field; it cannot be mapped",
        "resource.cmdb.fields.correlation_id: 'correlation_id' is the correlation field: the "
        "CMDB sync writes the resource id there to find the CI again",
        "resource.cmdb.fields.install_status: 'install_status' is written by the CMDB sync "
        "(1 installed, 7 retired on decommission); it cannot be mapped",
    ]
    system = _mapping(ci_class="cmdb_ci_appl", correlation_field="sys_id")
    assert messages(load(tmp_path, system)) == [
        "resource.cmdb.correlation_field: 'sys_id' is a ServiceNow system field; name a CI "
        "field the sync may write (default: correlation_id)"
    ]


def test_errors_point_at_the_line_of_the_mapping(tmp_path: Path) -> None:
    doc = _mapping(ci_class="cmdb_ci_appl", fields={"install_status": "7"})
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if "install_status" in text
    )
    result = load(tmp_path, doc)
    assert [(e.line, e.path) for e in result.errors] == [
        (line, "resource.cmdb.fields.install_status")
    ]
    assert str(result.errors[0]).startswith(f"{path}:{line} ")


def test_the_schema_refuses_bad_names(tmp_path: Path) -> None:
    bad_class = messages(load(tmp_path, _mapping(ci_class="CMDB CI")))
    assert len(bad_class) == 1 and bad_class[0].startswith("resource.cmdb.ci_class:")
    bad_field = messages(load(tmp_path, _mapping(ci_class="x", fields={"Bad Name": "y"})))
    assert len(bad_field) == 1 and bad_field[0].startswith("resource.cmdb.fields")
    missing = messages(load(tmp_path, _mapping(fields={"name": "x"})))
    assert len(missing) == 1 and "ci_class" in missing[0]
