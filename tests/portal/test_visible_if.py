"""The portal and the server agree on every ``visible_if`` operator.

One table (``visible_if_cases.json``) is evaluated by the server's evaluator
(``pao_catalog_model.forms.condition_holds``) and by the portal's (``portal/conditions.js``,
run under Node.js on the ``if`` schema the generated form carries): both must give the
table's answer for every case, and the table must cover every operator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pao_catalog_model.forms import build_form, condition_holds, condition_schema
from pao_catalog_model.model import Condition

from tests.catalog_lib.support import field
from tests.catalog_lib.test_forms import item_with
from tests.portal.nodejs import HERE, PORTAL, run_node

TABLE: list[dict[str, Any]] = json.loads((HERE / "visible_if_cases.json").read_text())["cases"]
OPERATORS = ("equals", "not_equals", "in", "not_in", "contains", "all", "any")


def _operators(condition: dict[str, Any]) -> set[str]:
    found = {k for k in condition if k in OPERATORS}
    for child in (*condition.get("all", ()), *condition.get("any", ())):
        found |= _operators(child)
    return found


def test_the_table_covers_every_operator_both_ways() -> None:
    for operator in OPERATORS:
        answers = {c["visible"] for c in TABLE if operator in _operators(c["condition"])}
        assert answers == {True, False}, f"{operator}: cases for both answers"


@pytest.mark.parametrize("case", TABLE, ids=lambda c: json.dumps(c["condition"]))
def test_the_server_gives_the_tables_answers(case: dict[str, Any]) -> None:
    condition = Condition.model_validate(case["condition"])
    assert condition_holds(condition, case["values"]) is case["visible"], case


def test_the_portal_gives_the_tables_answers() -> None:
    given = [
        {"if": condition_schema(Condition.model_validate(c["condition"])), "values": c["values"]}
        for c in TABLE
    ]
    answers = run_node(HERE / "eval_conditions.cjs", PORTAL / "conditions.js", data=given)
    wrong = [
        (c["condition"], c["values"], f"portal says {answer}")
        for c, answer in zip(TABLE, answers, strict=True)
        if answer is not c["visible"]
    ]
    assert wrong == []


def test_the_portal_reads_the_conditions_from_the_generated_form() -> None:
    """The ``if`` the portal evaluates is the one in the form's ``allOf`` branch."""
    condition = {"field": "env", "not_in": ["prod"]}
    form = build_form(
        item_with(
            field(id="env", type="select", options=["dev", "prod"]),
            field(id="extra", visible_if=condition),
        )
    )
    (branch,) = form["schema"]["allOf"]
    assert "extra" in branch["then"]["properties"]
    assert branch["if"] == condition_schema(Condition.model_validate(condition))
