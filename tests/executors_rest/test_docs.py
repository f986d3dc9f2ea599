"""The jira and rest examples of docs/executors.md are valid inputs of their actions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.action_inputs.jira import TicketInputs, UndoInputs
from pao_catalog_model.action_inputs.rest import RestInputs

DOC = Path(__file__).resolve().parents[2] / "docs" / "executors.md"


def section(title: str) -> list[Any]:
    text = DOC.read_text()
    start = text.index(f"### `{title}`")
    end = text.find("\n### ", start + 1)
    body = text[start : end if end != -1 else None]
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", body, re.S)]


def test_rest_examples_validate() -> None:
    [document] = section("rest")
    for step in document["steps"]:
        RestInputs.model_validate(step["with"])
        if "rollback" in step:
            RestInputs.model_validate(step["rollback"]["with"])


def test_jira_examples_validate() -> None:
    manual, steps = section("jira")
    TicketInputs.model_validate(manual["fulfillment"]["manual"]["jira"])
    [step] = steps["steps"]
    TicketInputs.model_validate(step["with"])
    UndoInputs.model_validate(step["rollback"]["with"])
