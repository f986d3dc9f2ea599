"""docs/resources.md says what the gateway and the CLI do: its JSON bodies read as the
gateway's response models, its curl paths are routes of the gateway, and every
``pao resource`` command and option it names exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pao_cli.main import main as pao_main
from pao_gateway.schemas import Accepted, ErrorOut, ResourcePage

from tests.gateway.conftest import RunningGateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "resources.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_json_bodies_are_the_gateways_answers() -> None:
    page, accepted, busy = (json.loads(b) for b in blocks("json"))
    listed = ResourcePage.model_validate(page)
    assert listed.items[0].links.operations.endswith("/operations")
    answer = Accepted.model_validate(accepted)
    assert answer.links.self == f"/api/v1/requests/{answer.id}"
    error = ErrorOut.model_validate(busy)
    assert error.running_request is not None and error.running_request in error.detail


@pytest.mark.integration
async def test_the_curl_paths_are_routes(gateway: RunningGateway) -> None:
    routes = gateway.app.openapi()["paths"]
    used = re.findall(r"http://127\.0\.0\.1:8080(/api/v1/[^\s\"?]*)", "\n".join(blocks("bash")))
    assert len(used) == 3
    for path in used:
        template = re.sub(r"\$RESOURCE", "{resource_id}", path)
        template = re.sub(r"/operations/[a-z-]+$", "/operations/{operation}", template)
        assert template in routes, (path, sorted(routes))


def test_the_cli_commands_and_options_exist() -> None:
    group = pao_main.commands["resource"]
    assert hasattr(group, "commands")
    lines = [line for b in blocks("bash") for line in b.splitlines() if "pao resource" in line]
    assert len(lines) == 4
    for line in lines:
        words = line.split("#")[0].split()
        command = group.commands[words[2]]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        for word in words[3:]:
            if word.startswith("--"):
                assert word in options, (line, word)
