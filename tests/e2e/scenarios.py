"""What the sandbox must answer for a catalog item, derived from the item itself.

A platform team's item names its targets and the outputs it reads from them; the real
systems would answer accordingly. ``prepare_sandbox`` makes the sandbox answer the same
way, for any item, so a new item (or example) in ``catalog/`` is covered without touching
the tests:

- ``rest`` steps (and their rollbacks): the echo target answers the step's method and URL
  (its templates as ``*``, the host leading the path, as ``PAO_REST_SANDBOX_URL`` routes it)
  with the first expected status and a JSON body that holds every ``outputs`` expression;
- ``terraform`` steps: the workspace (its name rendered from the example) gets the outputs
  that the item reads from the step (``steps.<id>.outputs.<name>``);
- ``github-workflow`` steps: the workflow's ``outputs`` artifact carries the outputs the item
  reads from the step, beyond what the executor reports itself (run id, URL, conclusion).

It returns the values it planted, so a test can check they travelled through to the
request's outputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.forms import apply_defaults
from pao_catalog_model.model import CatalogItem, Example, parse_item
from pao_common import templating

from tests.e2e.platform import SandboxClient

TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
STEP_OUTPUT = re.compile(r"steps\.(\w+)\.outputs\.(\w+)")
SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z_][\w-]*)+)$")
# What the github-workflow executor reports without an artifact.
GITHUB_NATIVE = frozenset({"run_id", "run_url", "conclusion", "artifact", "html_url"})
# The terraform executor's own keys win over a Terraform output of the same name
# (pao_executors.terraform.outputs), so the sandbox's workspace does not plant them.
TERRAFORM_NATIVE = frozenset(
    {"mode", "workspace", "workspace_id", "organization", "run_id", "run_url", "destroy", "status"}
)


def load_item(path: Path) -> CatalogItem:
    return parse_item(yaml.safe_load(path.read_text()))


def url_glob(url: str) -> str:
    """``https://{{ x }}.k8s.example.com/api/{{ y }}`` -> ``/*.k8s.example.com/api/*``."""
    bare = TEMPLATE.sub("*", url).split("://", 1)[-1]
    return "/" + bare.split("?", 1)[0]


def body_for(outputs: Mapping[str, str], step_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JSON body holding every ``$.a.b`` expression, and the value each output gets."""
    body: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name, expression in outputs.items():
        match = SIMPLE_PATH.match(expression.strip())
        if match is None:
            continue
        parts = match.group(1).strip(".").split(".")
        value = f"{step_id}-{name}-from-sandbox"
        node = body
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        values[name] = value
    return body, values


def referenced_outputs(item: CatalogItem) -> dict[str, set[str]]:
    """``step id -> output names`` the item's templates read (``steps.<id>.outputs.<n>``)."""
    text = item.model_dump_json(by_alias=True)
    found: dict[str, set[str]] = {}
    for step_id, name in STEP_OUTPUT.findall(text):
        found.setdefault(step_id, set()).add(name)
    return found


def example_context(item: CatalogItem, example: Example) -> dict[str, Any]:
    return templating.build_context(
        inputs=apply_defaults(item, example.inputs),
        user=example.user.model_dump(),
        item=item,
        request={"id": "e2e-request"},
    )


async def prepare_sandbox(
    sandbox: SandboxClient, item: CatalogItem, example: Example
) -> dict[str, dict[str, Any]]:
    """Script the sandbox for ``item``; ``step id -> outputs planted for it``."""
    planted: dict[str, dict[str, Any]] = {}
    automated = item.fulfillment.automated
    if automated is None:
        return planted
    referenced = referenced_outputs(item)
    context = example_context(item, example)
    for step in automated.steps:
        wanted = referenced.get(step.id, set())
        if step.action == "rest":
            planted[step.id] = await _script_rest(sandbox, step.id, step.with_)
            if step.rollback is not None:
                rollback = {**step.with_, **step.rollback.with_}
                await _script_rest(sandbox, f"{step.id}-rollback", rollback)
        elif step.action == "terraform":
            workspace = templating.render(step.with_["workspace"], context)
            values = {
                name: f"{step.id}-{name}-from-sandbox" for name in sorted(wanted - TERRAFORM_NATIVE)
            }
            await _add_workspace(sandbox, workspace, values)
            planted[step.id] = values
        elif step.action == "github-workflow":
            extra = {n: f"{step.id}-{n}-from-sandbox" for n in sorted(wanted - GITHUB_NATIVE)}
            if extra:
                with_ = templating.render(dict(step.with_), context)
                await sandbox.call(
                    "POST",
                    "/github/sandbox/workflows",
                    {
                        "repo": f"{with_['owner']}/{with_['repo']}",
                        "file": with_["workflow"],
                        "run_name": "${{ github.workflow }} ${{ inputs.correlation_id }}",
                        "artifact": extra,
                    },
                )
            planted[step.id] = extra
    return planted


async def _script_rest(
    sandbox: SandboxClient, step_id: str, with_: Mapping[str, Any]
) -> dict[str, Any]:
    expected = with_.get("expected_status") or [200]
    status = expected[0] if isinstance(expected, list) else int(expected)
    body, values = body_for(with_.get("outputs") or {}, step_id)
    answer: dict[str, Any] = {"status": status}
    if status not in (204, 304):
        answer["json"] = body
    await sandbox.script(
        url_glob(str(with_["url"])), answer, method=str(with_["method"]).upper(), repeat_last=True
    )
    return values


async def _add_workspace(sandbox: SandboxClient, name: str, outputs: dict[str, Any]) -> None:
    config = await sandbox.call("GET", "/tfc/sandbox/config")
    workspaces = [w for w in config.get("workspaces", []) if w.get("name") != name]
    workspaces.append({"name": name, "outputs": outputs})
    await sandbox.configure("tfc", workspaces=workspaces)
