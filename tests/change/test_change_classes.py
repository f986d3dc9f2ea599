"""Change classes in catalog items: declared by name or by a condition on inputs, checked at
load (file:line), shown in the form and the item, decided per request; and the ``pao
policy`` commands over the shipped calendar and hostile ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pao_catalog_model.forms import build_form
from pao_catalog_model.loader import load_file
from pao_catalog_model.preview import render_plan
from pao_cli.main import main

REPO = Path(__file__).resolve().parents[2]

ITEM = """\
schemaVersion: "2.0"
metadata: {{id: app-deploy, name: Deploy, version: 1.0.0, owner: platform, category: apps}}
presentation:
  fields:
    - {{id: environment, type: select, label: Env, options: [staging, production]}}
change_class:
{change_class}
fulfillment:
  mode: automated
  automated: {{steps: [{{id: a, action: debug.log, with: {{message: hi}}}}]}}
examples: [{{name: e, user: {{id: u}}, inputs: {{environment: staging}}}}]
"""


def _load(tmp_path: Path, change_class: str) -> list[str]:
    path = tmp_path / "app-deploy.yaml"
    path.write_text(ITEM.format(change_class=change_class))
    return [str(e).replace(str(tmp_path) + "/", "") for e in load_file(path).errors]


def test_a_class_by_a_condition_on_inputs(tmp_path: Path) -> None:
    path = tmp_path / "app-deploy.yaml"
    path.write_text(
        ITEM.format(
            change_class="  default: normal\n  rules:\n"
            "    - {when: \"inputs.environment == 'production'\", class: major}"
        )
    )
    result = load_file(path)
    assert result.ok, result.errors
    assert result.item is not None
    form = build_form(result.item)
    assert form["change_class"] == {
        "default": "normal",
        "rules": [{"when": "inputs.environment == 'production'", "class": "major"}],
        "possible": ["normal", "major"],
    }
    plan = render_plan(result.item, {"environment": "production"}, {"id": "u"})
    assert plan["change_class"] == "major"
    assert render_plan(result.item, {"environment": "staging"}, {"id": "u"})["change_class"] == (
        "normal"
    )


def test_an_unknown_class_is_a_load_error_with_its_line(tmp_path: Path) -> None:
    errors = _load(tmp_path, "  default: emergency")
    assert len(errors) == 1
    assert errors[0].startswith("app-deploy.yaml:7 change_class.default: 'emergency' is not one")
    errors = _load(tmp_path, "  rules:\n    - {when: 'true', class: huge}")
    assert errors[0].startswith("app-deploy.yaml:8 change_class.rules[0].class: 'huge'")


def test_a_rule_reading_an_unknown_input_or_giving_the_default_is_refused(
    tmp_path: Path,
) -> None:
    errors = _load(
        tmp_path,
        "  default: normal\n  rules:\n"
        "    - {when: \"inputs.enviroment == 'production'\", class: major}\n"
        "    - {when: \"inputs.environment == 'staging'\", class: normal}",
    )
    assert len(errors) == 2, errors
    assert errors[0].startswith("app-deploy.yaml:9 change_class.rules[0].when: ")
    assert "inputs.enviroment" in errors[0]
    assert errors[1] == (
        "app-deploy.yaml:10 change_class.rules[1].class: gives normal, the default:"
        " the rule changes nothing"
    )


def test_the_shipped_production_access_is_normal_and_major_for_planned_admin_access() -> None:
    result = load_file(REPO / "catalog" / "production-access.yaml")
    assert result.ok and result.item is not None
    item = result.item
    base = {"system": "aws-prod", "reason": "Rotate the account's root credentials."}
    user = {"id": "u", "roles": ["sre"]}
    planned = {**base, "access_level": "admin", "incident": "CHG-1234"}
    incident = {**base, "access_level": "admin", "incident": "INC-1234"}
    assert render_plan(item, planned, user)["change_class"] == "major"
    assert render_plan(item, incident, user)["change_class"] == "normal"
    assert render_plan(item, base, user)["change_class"] == "normal"


# --- pao policy ------------------------------------------------------------------------------


def test_pao_policy_validate_accepts_the_shipped_policies() -> None:
    result = CliRunner().invoke(
        main,
        [
            "policy",
            "validate",
            str(REPO / "policies" / "change-calendar.yaml"),
            str(REPO / "policies" / "notifications.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(ChangeCalendar)" in result.output and "(NotificationPolicy)" in result.output


def test_pao_policy_validate_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "calendar.yaml"
    bad.write_text(
        'schemaVersion: "1.0"\nkind: ChangeCalendar\nversion: "1"\ntimezone: Nowhere/Town\n'
    )
    result = CliRunner().invoke(main, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4 timezone: unknown time zone 'Nowhere/Town'" in result.output


@pytest.mark.parametrize(
    ("at", "inputs", "outcome"),
    [
        (
            "2026-09-15",
            ["access_level=admin", "incident=CHG-2001"],
            "held: waits in status scheduled, starts by itself at 2027-02-01T00:00:00+01:00",
        ),
        ("2027-02-15", ["access_level=admin", "incident=CHG-2001"], "runs after approval"),
        (
            "2026-09-15",
            ["access_level=read"],
            "escalated: an extra approval stage 'change advisory board' by"
            " change-advisory-board (expires after 48h)",
        ),
    ],
)
def test_pao_policy_preview_says_what_happens_at_a_date(
    at: str, inputs: list[str], outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    args = ["policy", "preview", "--at", at, "production-access"]
    args += ["--input", "system=aws-prod", "--input", "reason=Rotate the root credentials now."]
    for pair in inputs:
        args += ["--input", pair]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["outcome"] == outcome
    text = CliRunner().invoke(main, args)
    assert text.output.rstrip().endswith(f"=> {outcome}")


def test_pao_policy_preview_of_an_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    args = ["policy", "preview", "--at", "2026-12-01T10:00", "production-access"]
    args += ["--input", "system=aws-prod", "--input", "reason=Rotate the root credentials now."]
    args += ["--input", "access_level=admin", "--input", "incident=CHG-2001"]
    args += ["--emergency", "INC-1: breach", "--format", "json"]
    refused = json.loads(CliRunner().invoke(main, args).output)
    assert refused["emergency"] == {"reason": "INC-1: breach", "allowed": False}
    assert refused["outcome"].startswith("held")
    allowed = json.loads(CliRunner().invoke(main, [*args, "--role", "emergency-change"]).output)
    assert allowed["outcome"] == "overridden: runs at once"
