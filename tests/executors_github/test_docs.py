"""docs/executors.md's github-workflow section: every input is documented, the example
validates, and the documented run-name is what the executor correlates on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.action_inputs.github import WorkflowInputs
from pao_common import templating
from pao_executors.github.workflow import correlation_id, titled
from pao_sandbox.github import render_run_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "executors.md"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("### `github-workflow`", 1)[1].split("\n### ", 1)[0]


def test_every_input_is_documented() -> None:
    text = section()
    for name in WorkflowInputs.model_fields:
        assert f"`{name}`" in text, f"input {name} is not documented"


def test_the_example_step_rollback_and_workflow_fit_together() -> None:
    workflow_block, item_block = re.findall(r"```yaml\n(.*?)```", section(), re.S)
    item: dict[str, Any] = yaml.safe_load(item_block)
    [step] = item["steps"]
    context = templating.build_context(
        inputs={"repo_name": "payments-api", "template": "python-service"},
        request={"id": "req-1"},
    )
    run = WorkflowInputs.model_validate(templating.render(step["with"], context))
    undo = WorkflowInputs.model_validate(templating.render(step["rollback"]["with"], context))
    assert (run.workflow, undo.workflow) == ("create-repository.yml", "archive-repository.yml")

    workflow: dict[str, Any] = yaml.safe_load(workflow_block)
    triggers: Any = workflow.get(True)  # type: ignore[call-overload]  # YAML 1.1: `on` is True
    dispatch = triggers["workflow_dispatch"]
    assert run.correlation_input in dispatch["inputs"]
    assert set(run.inputs) <= set(dispatch["inputs"])
    cid = correlation_id("req-1", step["id"], "run")
    title = render_run_name(
        workflow["run-name"], {**run.inputs, "correlation_id": cid}, {"workflow": "Create"}
    )
    assert titled({"display_title": title}, cid)
    assert not titled({"display_title": title + "-2"}, cid)
