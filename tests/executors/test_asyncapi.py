"""The AsyncAPI document is generated from the contracts, and the committed copy is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from pao_cli.main import main
from pao_common.asyncapi import EXAMPLES, build_document, render_yaml
from pao_common.messages import MESSAGE_TYPES

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "asyncapi.yaml"


def test_committed_document_equals_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_yaml(), (
        "docs/asyncapi.yaml is out of date: run `pao asyncapi --output docs/asyncapi.yaml`"
    )


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_and_every_contract_is_on_one_channel() -> None:
    document = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    for ref in _refs(document):
        _resolve(document, ref)
    on_channels = [
        name for channel in document["channels"].values() for name in channel["messages"]
    ]
    contracts = sorted(m.__name__ for m in MESSAGE_TYPES.values())
    assert sorted(n for n in on_channels if n != "DeadLetter") == contracts
    assert len(on_channels) == len(set(on_channels))
    for model in MESSAGE_TYPES.values():
        message = document["components"]["messages"][model.__name__]
        assert message["name"] == model.ce_type
        assert message["headers"]["properties"]["ce_type"]["const"] == model.ce_type
        payload = _resolve(document, message["payload"]["$ref"])
        assert set(payload["properties"]) == set(model.model_fields)


def test_addresses_and_operations() -> None:
    document = build_document()
    addresses = {k: c["address"] for k, c in document["channels"].items()}
    assert addresses == {
        "requestCommands": "pao.requests.commands",
        "requestEvents": "pao.requests.events",
        "resourceEvents": "pao.resources.events",
        "actions": "pao.actions.{family}",
        "actionResults": "pao.actions.results",
        "catalogEvents": "pao.catalog.events",
        "deadLetters": "pao.dlq",
    }
    assert "family" in document["channels"]["actions"]["parameters"]
    actions = {op: o["action"] for op, o in document["operations"].items()}
    assert actions["receiveRequestCommands"] == "receive"
    assert actions["sendRequestEvents"] == "send"
    assert set(actions.values()) == {"send", "receive"}


def test_examples_are_valid_contracts() -> None:
    for model, payload in EXAMPLES.items():
        model.model_validate(payload)


def test_cli_prints_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["asyncapi"])
    assert printed.exit_code == 0 and printed.output == render_yaml()
    target = tmp_path / "out" / "asyncapi.yaml"
    written = runner.invoke(main, ["asyncapi", "--output", str(target)])
    assert written.exit_code == 0 and target.read_text() == render_yaml()
    assert runner.invoke(main, ["asyncapi", "-o", str(target), "--check"]).exit_code == 0
    target.write_text("stale")
    stale = runner.invoke(main, ["asyncapi", "-o", str(target), "--check"])
    assert stale.exit_code == 1 and "out of date" in stale.output
