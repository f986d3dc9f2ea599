"""``pao catalog import backstage``: five templates in the style of the public
software-templates, each converted into an item that validates, keeps every parameter as a
field of the same type and constraints, and reports exactly what was not converted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pao_catalog.importers.backstage import ImportedTemplate, import_file
from pao_catalog_model.loader import load_file
from pao_catalog_model.preview import preview

from tests.onboarding.support import pao

TEMPLATES = Path(__file__).parent / "backstage"
FIVE = sorted(TEMPLATES.glob("*.yaml"))

# What each template leaves, by source path; the line is found from the text after it.
LEFT: dict[str, dict[str, str]] = {
    "react-ssr-service.yaml": {
        "spec.parameters[0].properties.component_id.ui:field": "ui:field: EntityNamePicker",
        "spec.parameters[0].properties.owner.ui:field": "ui:field: OwnerPicker",
        "spec.parameters[0].properties.owner.ui:options": "ui:options:\n            allowedKinds",
        "spec.parameters[1].properties.repoUrl.ui:field": "ui:field: RepoUrlPicker",
        "spec.parameters[1].properties.repoUrl.ui:options": "ui:options:\n            allowedHosts",
        "spec.steps[0]": "- id: template",
        "spec.steps[1]": "- id: publish",
        "spec.steps[2]": "- id: register",
        "spec.steps": "steps:",
        "spec.output.links[0]": "- title: Repository",
        "spec.output.links[1]": "- title: Open in catalog",
    },
    "workflow-dispatch.yaml": {},
    "http-quota-request.yaml": {"spec.steps[0].input.path": "path: /proxy/capacity/quotas"},
    "jira-access-request.yaml": {},
    "database-with-debug.yaml": {
        "spec.steps[0].input.message": "message: ${{ parameters.engine }}"
    },
}


def _line(text: str, snippet: str) -> int:
    return text[: text.index(snippet)].count("\n") + 1


@pytest.fixture(scope="module")
def imported() -> dict[str, ImportedTemplate]:
    out = {}
    for path in FIVE:
        [result] = import_file(path)
        assert isinstance(result, ImportedTemplate), result
        out[path.name] = result
    return out


def test_five_templates_in_the_style_of_software_templates() -> None:
    assert {p.name for p in FIVE} == set(LEFT)


@pytest.mark.parametrize("name", sorted(LEFT))
def test_each_converted_item_validates_and_its_example_previews(
    imported: dict[str, ImportedTemplate], name: str, tmp_path: Path
) -> None:
    result = imported[name]
    assert not result.report.errors
    path = tmp_path / f"{result.item_id}.yaml"
    path.write_text(result.text)
    loaded = load_file(path)
    assert loaded.ok, [str(e) for e in loaded.errors]
    assert loaded.item is not None
    for example in loaded.item.examples:
        shown = preview(loaded.item, example.inputs, example.user)
        assert not shown.errors and shown.plan is not None


def _properties(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every parameter of a page, those in conditional branches too."""
    for name, prop in (schema.get("properties") or {}).items():
        yield name, prop
    for key in ("then", "else"):
        if isinstance(schema.get(key), Mapping):
            yield from _properties(schema[key], path)
    for rule in schema.get("allOf") or []:
        yield from _properties(rule, path)
    for dependency in (schema.get("dependencies") or {}).values():
        for branch in (
            dependency.get("oneOf", [dependency]) if isinstance(dependency, Mapping) else []
        ):
            for name, prop in _properties(branch, path):
                if "type" in prop:  # the controlling property's enum/const is no parameter
                    yield name, prop


def _expected_type(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "select"
    kind: str = prop.get("type", "")
    if kind == "array":
        return "multiselect" if "enum" in prop.get("items", {}) else "list"
    if kind == "string":
        if prop.get("format"):
            return {"date": "date", "email": "email", "uri": "url", "date-time": "datetime"}[
                prop["format"]
            ]
        widget: str = prop.get("ui:widget", "")
        return {"textarea": "text", "password": "secret"}.get(widget, "string")
    return {"integer": "integer", "number": "number", "boolean": "boolean", "object": "keyvalue"}[
        kind
    ]


RULES = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minimum": "minimum",
    "maximum": "maximum",
    "multipleOf": "multiple_of",
    "minItems": "min_items",
    "maxItems": "max_items",
}


@pytest.mark.parametrize("name", sorted(LEFT))
def test_every_parameter_is_a_field_with_its_type_and_constraints(
    imported: dict[str, ImportedTemplate], name: str
) -> None:
    template = yaml.safe_load((TEMPLATES / name).read_text())
    doc = imported[name].document
    fields = {f["id"]: f for s in doc["presentation"]["sections"] for f in s["fields"]}
    pages = template["spec"]["parameters"]
    assert [s["title"] for s in doc["presentation"]["sections"]] == [p["title"] for p in pages]
    seen = set()
    for page in pages:
        for param, prop in _properties(page, name):
            field_id = "repo_url" if param == "repoUrl" else param
            field = fields[field_id]
            seen.add(field_id)
            assert field["type"] == _expected_type(prop), param
            assert field["label"] == prop.get("title", param)
            rules = field.get("validation", {})
            for source, rule in RULES.items():
                if source in prop:
                    assert rules[rule] == prop[source], (param, rule)
            if "exclusiveMinimum" in prop:
                assert rules["minimum"] == prop["exclusiveMinimum"] + 1
            if "default" in prop:
                assert field["default"] == prop["default"]
            enum = prop.get("enum") or prop.get("items", {}).get("enum")
            if enum:
                values = [o["value"] if isinstance(o, dict) else o for o in field["options"]]
                assert values == enum
                labels = prop.get("enumNames")
                if labels:
                    assert [o["label"] for o in field["options"]] == labels
            if param in page.get("required", []):
                assert field.get("required") is True
            help_text = " ".join(str(prop[k]) for k in ("description", "ui:help") if k in prop)
            assert field.get("help", "") == help_text
    assert seen == set(fields)


@pytest.mark.parametrize("name", sorted(LEFT))
def test_the_report_lists_exactly_what_was_not_converted(
    imported: dict[str, ImportedTemplate], name: str
) -> None:
    text = (TEMPLATES / name).read_text()
    report = imported[name].report
    assert {f.source: f.line for f in report.left} == {
        source: _line(text, snippet) for source, snippet in LEFT[name].items()
    }
    assert len(report.left) == len(LEFT[name])
    for finding in report.left:
        marker = f"# NOT CONVERTED ({TEMPLATES / name} line {finding.line}) {finding.source}:"
        assert marker in imported[name].text
    assert report.converted and all(f.line for f in report.converted)


def test_conversions_of_steps_conditions_and_outputs(imported: dict[str, ImportedTemplate]) -> None:
    dispatch = imported["workflow-dispatch.yaml"].document["fulfillment"]["automated"]
    run, announce = dispatch["steps"]
    assert run["action"] == "github-workflow"
    assert run["with"] | {"inputs": None} == {
        "owner": "acme",
        "repo": "preview-environments",
        "workflow": "preview.yml",
        "ref": "main",
        "inputs": None,
    }
    assert run["with"]["inputs"]["features"] == "{{ (inputs.features | default([])) | join(',') }}"
    assert announce == {
        "id": "announce",
        "action": "debug.log",
        "name": "Log the request",
        "with": {"message": "Preview of {{ inputs.service }} in {{ inputs.region }} is on its way"},
        "when": "inputs.notify",
    }
    assert dispatch["outputs"]["preview_url"] == "https://{{ inputs.service }}.preview.example.com"

    quota = imported["http-quota-request.yaml"].document
    fields = {f["id"]: f for s in quota["presentation"]["sections"] for f in s["fields"]}
    assert fields["cluster"]["visible_if"] == {"field": "resource", "in": ["cpu", "memory"]}
    assert fields["cluster"]["required_if"] == {"field": "resource", "in": ["cpu", "memory"]}
    assert fields["storage_class"]["visible_if"] == {"field": "resource", "equals": "storage"}
    rest, log = quota["fulfillment"]["automated"]["steps"]
    assert rest["id"] == "request_quota" and rest["action"] == "rest"
    assert rest["with"]["url"] == "https://backstage.example.com/api/proxy/capacity/quotas"
    assert rest["with"]["json"]["cluster"] == "{{ (inputs.cluster | default(none)) }}"
    assert rest["with"]["outputs"] == {"body_id": "$.id"}
    assert log["with"]["message"] == "Quota request {{ steps.request_quota.outputs.body_id }} sent"

    access = imported["jira-access-request.yaml"].document
    assert access["fulfillment"]["mode"] == "manual"
    ticket = access["fulfillment"]["manual"]["jira"]
    assert (ticket["project"], ticket["issue_type"]) == ("SEC", "Access Request")
    fields = {f["id"]: f for s in access["presentation"]["sections"] for f in s["fields"]}
    assert fields["change_ticket"]["visible_if"] == {"field": "level", "equals": "write"}
    assert fields["change_ticket"]["required_if"] == {"field": "level", "equals": "write"}
    assert fields["read_scope"]["visible_if"] == {"field": "level", "not_equals": "write"}

    database = imported["database-with-debug.yaml"].document
    [section] = database["presentation"]["sections"]
    assert [f["id"] for f in section["fields"]] == [
        "engine",
        "name",
        "storage_gb",
        "users",
        "extensions",
    ]
    users = section["fields"][3]
    assert [(c["id"], c["type"], c.get("required", False)) for c in users["fields"]] == [
        ("login", "string", True),
        ("admin", "boolean", False),
    ]
    assert section["fields"][4]["visible_if"] == {"field": "engine", "equals": "postgres"}
    message = database["fulfillment"]["automated"]["steps"][0]["with"]["message"]
    assert "secret('DB_API_TOKEN')" in message
    assert "{{ '${{ user.entity.metadata.name }}' }}" in message  # left as literal text
    assert database["fulfillment"]["automated"]["outputs"]["next_steps"].startswith(
        "Connect to {{ inputs.name }}"
    )


def test_cli_writes_items_prints_the_report_and_strict_fails(tmp_path: Path) -> None:
    out = tmp_path / "items"
    result = pao("catalog", "import", "backstage", *map(str, FIVE), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "react-ssr-service.yaml",
            "deploy-preview-environment.yaml",
            "quota-increase.yaml",
            "production-access.yaml",
            "team-database.yaml",
        ]
    )
    assert "5 item(s) written, 13 part(s) not converted, 0 failed" in result.output
    assert "not converted (11):" in result.output and "OwnerPicker" in result.output
    assert pao("catalog", "validate", str(out)).exit_code == 0
    again = pao("catalog", "import", "backstage", str(FIVE[0]), "--out", str(out))
    assert again.exit_code == 1 and "exists (--force replaces it)" in again.output
    strict = pao(
        "catalog", "import", "backstage", *map(str, FIVE), "--out", str(out), "--force", "--strict"
    )
    assert strict.exit_code == 1
    complete = [
        str(TEMPLATES / "workflow-dispatch.yaml"),
        str(TEMPLATES / "jira-access-request.yaml"),
    ]
    clean = pao(
        "catalog", "import", "backstage", *complete, "--out", str(out), "--force", "--strict"
    )
    assert clean.exit_code == 0, clean.output
