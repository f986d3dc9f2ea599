"""``${secret:name}`` is resolved in the executor and its value never leaves it unmasked."""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from pao_common.errors import ActionError, SecretNotFound
from pao_common.executor import ActionContext, Executor, Redactor, SecretResolver
from pao_common.executor.secrets import RedactingFilter, references, secret_env_var
from pao_common.executor.testing import ExecutorHarness
from pao_common.logs import JsonFormatter
from pao_common.messages import ActionFailed, ActionProgress, ActionSucceeded
from pydantic import BaseModel


def test_env_var_names() -> None:
    assert secret_env_var("db-password") == "PAO_SECRET_DB_PASSWORD"
    assert secret_env_var("team/api.token") == "PAO_SECRET_TEAM_API_TOKEN"


def test_resolves_from_env_then_files_anywhere_in_the_inputs(tmp_path: Path) -> None:
    (tmp_path / "ssh-key").write_text("-----KEY-----\n")
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "token").write_text("file-token")
    resolver = SecretResolver(
        environ={"PAO_SECRET_DB_PASSWORD": "pw-env", "PAO_SECRETS_DIR": str(tmp_path)},
        redactor=Redactor(),
    )
    inputs = {
        "dsn": "postgres://app:${secret:db-password}@db/app",
        "keys": ["${secret:ssh-key}", {"t": "Bearer ${secret:team/token}"}],
        "port": 5432,
    }
    assert references(inputs) == {"db-password", "ssh-key", "team/token"}
    assert resolver.resolve(inputs) == {
        "dsn": "postgres://app:pw-env@db/app",
        "keys": ["-----KEY-----", {"t": "Bearer file-token"}],
        "port": 5432,
    }


def test_env_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file")
    resolver = SecretResolver(
        environ={"PAO_SECRET_TOKEN": "from-env"}, secrets_dir=tmp_path, redactor=Redactor()
    )
    assert resolver.get("token") == "from-env"


def test_missing_secret_says_where_it_was_looked_for(tmp_path: Path) -> None:
    resolver = SecretResolver(environ={}, secrets_dir=tmp_path, redactor=Redactor())
    with pytest.raises(SecretNotFound) as caught:
        resolver.resolve({"x": "${secret:api-key}"})
    assert "PAO_SECRET_API_KEY" in str(caught.value)
    assert str(tmp_path / "api-key") in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../b"])
def test_path_traversal_is_refused(name: str, tmp_path: Path) -> None:
    resolver = SecretResolver(environ={}, secrets_dir=tmp_path, redactor=Redactor())
    with pytest.raises(SecretNotFound, match="invalid secret name"):
        resolver.get(name)


def test_redactor_masks_text_nested_data_and_json_escaped_forms() -> None:
    redactor = Redactor()
    redactor.add('pa"ss\nword-123456789')
    redactor.add("short")
    assert redactor.redact('x pa"ss\nword-123456789 y short') == "x *** y ***"
    assert redactor.redact(json.dumps({"v": 'pa"ss\nword-123456789'})) == '{"v": "***"}'
    assert redactor.scrub({"short": ["a short b", 1]}) == {"***": ["a *** b", 1]}
    assert redactor.redact("word-123456789") == "***", "a long line of a multi-line secret"


class CallInputs(BaseModel):
    url: str
    token: str


def leaky_executor(seen: list[str]) -> Executor:
    executor = Executor("leaky")
    log = logging.getLogger("pao.executor.leaky")

    @executor.action("leaky.call", inputs=CallInputs)
    async def call(inputs: CallInputs, ctx: ActionContext) -> dict[str, Any]:
        seen.append(inputs.token)
        await ctx.progress(f"calling {inputs.url} with {inputs.token}")
        log.info("calling with token %s", inputs.token)
        return {"echo": inputs.token, "nested": [{"header": f"Bearer {inputs.token}"}]}

    @executor.action("leaky.fail", inputs=CallInputs)
    async def fail(inputs: CallInputs, ctx: ActionContext) -> dict[str, Any]:
        raise ActionError(f"401 for token {inputs.token}", outputs={"sent": inputs.token})

    @executor.action("leaky.crash", inputs=CallInputs)
    async def crash(inputs: CallInputs, ctx: ActionContext) -> dict[str, Any]:
        raise ValueError(f"cannot parse {inputs.token}")

    @executor.action("leaky.config", inputs=CallInputs)
    async def config(inputs: CallInputs, ctx: ActionContext) -> dict[str, Any]:
        return {"admin": ctx.secret("admin-token")}

    return executor


@pytest.fixture
def secret_value() -> str:
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
def harness(secret_value: str) -> tuple[ExecutorHarness, list[str]]:
    seen: list[str] = []
    resolver = SecretResolver(
        environ={
            "PAO_SECRET_API_TOKEN": secret_value,
            "PAO_SECRET_ADMIN_TOKEN": "adm-" + secret_value,
        },
        redactor=Redactor(),
    )
    return ExecutorHarness(leaky_executor(seen), secrets=resolver), seen


INPUTS = {"url": "https://api.example.com", "token": "${secret:api-token}"}


async def test_handler_gets_the_value_results_and_progress_get_the_mask(
    harness: tuple[ExecutorHarness, list[str]], secret_value: str
) -> None:
    h, seen = harness
    result = await h.execute("leaky.call", INPUTS)
    assert seen == [secret_value], "the handler sees the real secret"
    assert isinstance(result, ActionSucceeded)
    assert result.outputs == {"echo": "***", "nested": [{"header": "Bearer ***"}]}
    progress = [m for m in h.messages if isinstance(m, ActionProgress)]
    assert progress and progress[0].message == "calling https://api.example.com with ***"
    assert all(secret_value not in e.value().decode() for e in h.events)


async def test_errors_and_partial_outputs_are_masked(
    harness: tuple[ExecutorHarness, list[str]], secret_value: str
) -> None:
    h, _ = harness
    failed = await h.execute("leaky.fail", INPUTS)
    assert isinstance(failed, ActionFailed)
    assert failed.error == "401 for token ***" and failed.outputs == {"sent": "***"}
    crashed = await h.execute("leaky.crash", INPUTS)
    assert isinstance(crashed, ActionFailed) and crashed.error == "ValueError: cannot parse ***"
    config = await h.execute("leaky.config", INPUTS)
    assert isinstance(config, ActionSucceeded) and config.outputs == {"admin": "***"}
    assert all(secret_value not in e.value().decode() for e in h.events)


async def test_missing_secret_fails_the_action_without_retry() -> None:
    h = ExecutorHarness(leaky_executor([]), secrets=SecretResolver(environ={}, redactor=Redactor()))
    result = await h.execute("leaky.call", INPUTS)
    assert isinstance(result, ActionFailed)
    assert result.error_type == "SecretNotFound" and not result.retryable
    assert "PAO_SECRET_API_TOKEN" in result.error


async def test_log_lines_are_masked_in_message_arguments_and_tracebacks(
    harness: tuple[ExecutorHarness, list[str]], secret_value: str
) -> None:
    h, _ = harness
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(RedactingFilter(h.runner.redactor))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        await h.execute("leaky.call", INPUTS)
        await h.execute("leaky.crash", INPUTS)  # logged with its traceback
        logging.getLogger("elsewhere").warning("dict %s", {"token": secret_value})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert secret_value not in stream.getvalue()
    messages = [line["msg"] for line in lines]
    assert "calling with token ***" in messages
    assert "dict {'token': '***'}" in messages
    crash = next(m for m in messages if "unexpected ValueError" in m)
    assert "Traceback" in crash and "ValueError: cannot parse ***" in crash
