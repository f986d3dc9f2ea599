"""docs/executors.md's terraform section: every input is documented, the example validates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.action_inputs.terraform import TerraformInputs
from pao_common import templating
from pao_executors.terraform.settings import TerraformSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "executors.md"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("### `terraform`", 1)[1].split("\n### ", 1)[0]


def test_every_input_and_setting_is_documented() -> None:
    text = section()
    for name in TerraformInputs.model_fields:
        assert f"`{name}`" in text, f"input {name} is not documented"
    for name in ("tfc_url", "tfc_token", "tfc_organization", "terraform_mode", "terraform_binary"):
        assert f"`PAO_{name.upper()}`" in text
        assert name in TerraformSettings.model_fields


def test_the_example_step_and_its_rollback_validate() -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", section(), re.S)
    document: dict[str, Any] = yaml.safe_load(block)
    [step] = document["steps"]
    context = templating.build_context(
        inputs={
            "environment": "development",
            "name": "orders",
            "storage_gb": 50,
            "owner_email": "orders@example.com",
        },
        request={"id": "req-1"},
    )
    run = TerraformInputs.model_validate(templating.render(step["with"], context))
    undo = TerraformInputs.model_validate(templating.render(step["rollback"]["with"], context))

    assert step["action"] == "terraform"
    assert run.workspace == undo.workspace == "pg-development-orders"
    assert run.variables["master_password"] == "${secret:pg/master-password}"
    assert undo.destroy is True
