"""An example executor a platform team could write: ``example.workspace``.

It creates a workspace directory for a team (standing in for "a namespace", "a
bucket", "a repository" in a team's own system) and removes it on rollback. It
shows the SDK's parts: a pydantic input model, progress, a secret input, an
idempotent handler, retryable and non-retryable errors, and a compensation.

Run it with ``python -m pao_executors.example --port 8099``; docs/executors.md walks
through it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from pao_common.errors import ActionError
from pao_common.executor import ActionContext, Executor, create_executor_app
from pao_common.settings import Settings
from pydantic import BaseModel, Field

ROOT_ENV = "PAO_EXAMPLE_WORKSPACES_DIR"

executor = Executor("example", description="Team workspaces (an SDK example)")


class WorkspaceInputs(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{2,39}$", description="Workspace name")
    owner: str = Field(min_length=1, description="Owning team")
    size: Literal["s", "m", "l"] = "s"
    api_token: str = Field(description="Token of the workspace API: use secret('...')")


def workspaces_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, ".pao/example-workspaces"))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((path / "workspace.json").read_text())
        return data
    except FileNotFoundError:
        return None


@executor.action("example.workspace", inputs=WorkspaceInputs)
async def create_workspace(inputs: WorkspaceInputs, ctx: ActionContext) -> dict[str, Any]:
    """Create the workspace ``name`` for ``owner``; outputs ``{path, name, created}``."""
    path = workspaces_root() / inputs.name
    existing = await asyncio.to_thread(_read, path)
    if existing is not None:
        if existing["request_id"] != ctx.request_id:
            # Someone else's workspace: retrying cannot help.
            raise ActionError(f"workspace {inputs.name!r} already belongs to {existing['owner']}")
        # An earlier attempt of this request created it: succeed again, do not duplicate.
        return {"path": str(path), "name": inputs.name, "created": False}
    await ctx.progress(f"creating workspace {inputs.name}", 10)
    record = {
        "name": inputs.name,
        "owner": inputs.owner,
        "size": inputs.size,
        "request_id": ctx.request_id,
        # Proof that the token arrived, without storing it.
        "token_sha256": hashlib.sha256(inputs.api_token.encode()).hexdigest()[:12],
    }
    try:
        await asyncio.to_thread(_write, path, record)
    except OSError as exc:  # a full disk or a flaky mount may pass: let the orchestrator retry
        message = f"cannot create workspace {inputs.name!r}: {exc}"
        raise ActionError(message, retryable=True) from exc
    await ctx.progress(f"workspace {inputs.name} ready", 100)
    return {"path": str(path), "name": inputs.name, "created": True}


def _write(path: Path, record: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=False)
    (path / "workspace.json").write_text(json.dumps(record, indent=2))


@executor.compensate("example.workspace")
async def remove_workspace(inputs: WorkspaceInputs, ctx: ActionContext) -> dict[str, Any]:
    """Remove the workspace again, if this request created it."""
    path = workspaces_root() / inputs.name
    existing = await asyncio.to_thread(_read, path)
    if existing is None or existing["request_id"] != ctx.request_id:
        return {"removed": False}
    await asyncio.to_thread(shutil.rmtree, path)
    return {"removed": True}


def create_app(settings: Settings | None = None) -> Any:
    return create_executor_app(executor, settings)
