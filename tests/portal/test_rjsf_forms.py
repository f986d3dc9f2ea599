"""Every shipped item's form works in stock react-jsonschema-form.

Stock means the documented set-up: ``import validator from "@rjsf/validator-ajv8"``
and ``<Form schema={schema} uiSchema={uiSchema} validator={validator} />``.
``rjsf/check_forms.mjs`` runs what ``<Form>`` does with a schema (its defaults, the
fields it draws for the data, validation on submit) with the real packages, pinned in
``rjsf/package-lock.json``. For each form it must agree with the server
(``pao_catalog_model.forms.validate_inputs``): every example valid in both, a hidden
conditional field drawn by neither and refused by both, an unknown field refused by both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pao_catalog_model.forms import apply_defaults, build_form, condition_holds, validate_inputs
from pao_catalog_model.loader import parse_yaml
from pao_catalog_model.model import CatalogItem, parse_item

from tests.portal.nodejs import RJSF, rjsf_installed, run_node

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
ITEMS = {p.name: parse_item(parse_yaml(p.read_bytes())[0]) for p in sorted(CATALOG.glob("*.yaml"))}


def _cases(item: CatalogItem) -> list[tuple[str, dict[str, Any]]]:
    """(what, inputs): every example, and each one with a conditional field it hides."""
    cases = [(f"example {e.name}", dict(e.inputs)) for e in item.examples]
    for example in item.examples:
        values = apply_defaults(item, example.inputs)
        for f in item.presentation.all_fields():
            hidden = f.visible_if is not None and not condition_holds(f.visible_if, values)
            if hidden and f.type in ("string", "text", "select", "integer", "boolean"):
                value: Any = (
                    f.options[0].value
                    if f.options
                    else {"integer": 1, "boolean": True}.get(f.type, "x")
                )
                cases.append(
                    (f"example {example.name} + hidden {f.id}", {**example.inputs, f.id: value})
                )
    cases.append(("an unknown field", {**item.examples[0].inputs, "no_such_field": "x"}))
    return cases


@pytest.fixture(scope="module")
def rjsf_answers() -> dict[str, dict[str, Any]]:
    rjsf_installed()
    forms = [
        {
            "name": name,
            "schema": build_form(item)["schema"],
            "cases": [{"formData": inputs} for _, inputs in _cases(item)],
        }
        for name, item in ITEMS.items()
    ]
    answers = run_node(RJSF / "check_forms.mjs", data=forms)
    return {form["name"]: form for form in answers}


def test_the_shipped_catalog_has_conditional_fields_to_check() -> None:
    hidden = [what for item in ITEMS.values() for what, _ in _cases(item) if "hidden" in what]
    assert len(hidden) >= 3, hidden


@pytest.mark.parametrize("name", ITEMS)
def test_stock_rjsf_agrees_with_the_server(
    name: str, rjsf_answers: dict[str, dict[str, Any]]
) -> None:
    item = ITEMS[name]
    assert rjsf_answers[name]["strict"] is None, "only draft-07 keywords"
    for (what, inputs), rjsf in zip(_cases(item), rjsf_answers[name]["cases"], strict=True):
        server = [e.as_dict() for e in validate_inputs(item, inputs)]
        assert (rjsf["errors"] == []) is (server == []), (what, rjsf["errors"], server)
        if what.startswith("example") and "hidden" not in what:
            assert rjsf["errors"] == [], (what, rjsf["errors"])
            assert rjsf["formData"] == apply_defaults(item, inputs), f"{what}: rjsf's defaults"
        values = apply_defaults(item, inputs)
        drawn = set(rjsf["fields"])
        for f in item.presentation.all_fields():
            shown = f.visible_if is None or condition_holds(f.visible_if, values)
            assert (f.id in drawn) is shown, f"{what}: rjsf draws {f.id}: {f.id in drawn}"
