"""The local ``terraform`` / ``tofu`` command line as a ``TerraformBackend``.

For teams without Terraform Cloud. Each request gets a working directory,
``<PAO_TERRAFORM_WORK_DIR>/<request id>/<workspace>``: the step's module
(``<PAO_TERRAFORM_MODULES_DIR>/<module>``) is copied in, the variables are written to
``pao.auto.tfvars.json`` (mode 0600; local state holds them anyway), and
``init``, ``apply -auto-approve`` (or ``destroy -auto-approve``) and ``output -json`` run
there. The state file stays in that directory, so the rollback of the request (a
destroy) finds it; a destroy without ``variables`` reuses the apply's.

Secrets: the command's environment is the executor's minus every ``PAO_*`` variable
(secrets and tokens of the executor are not the module's business) plus the step's
``env_variables``; its output is logged through the redacting log filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pao_catalog_model.action_inputs.terraform import TerraformInputs
from pao_common.executor import ActionContext

from pao_executors.terraform.errors import TerraformCliError, TerraformNotConfigured
from pao_executors.terraform.outputs import step_outputs
from pao_executors.terraform.settings import TerraformSettings

log = logging.getLogger("pao.executor.terraform")

VARS_FILE = "pao.auto.tfvars.json"
SAFE = re.compile(r"[^A-Za-z0-9_.-]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
KEEP = {".terraform", ".terraform.lock.hcl", VARS_FILE}


class CliBackend:
    """Runs a step with the Terraform (or OpenTofu) binary on this host."""

    mode = "cli"

    def __init__(self, settings: TerraformSettings) -> None:
        self.settings = settings
        self._locks: dict[Path, asyncio.Lock] = {}

    async def aclose(self) -> None:
        return None

    def _binary(self) -> str:
        binary = self.settings.binary()
        if binary is None:
            wanted = self.settings.terraform_binary or "terraform or tofu"
            raise TerraformNotConfigured(f"CLI mode: {wanted} is not on PATH")
        return binary

    def _module(self, inputs: TerraformInputs) -> Path:
        if not inputs.module:
            raise TerraformNotConfigured(
                "CLI mode needs the step's 'module': a directory below PAO_TERRAFORM_MODULES_DIR"
            )
        root = self.settings.terraform_modules_dir.resolve()
        module = (root / inputs.module).resolve()
        if not module.is_relative_to(root):
            raise TerraformNotConfigured(f"module {inputs.module!r} is outside {root}")
        if not module.is_dir() or not any(module.glob("*.tf*")):
            raise TerraformNotConfigured(
                f"module {inputs.module!r}: no Terraform files in {module}"
            )
        return module

    def work_dir(self, request_id: str, workspace: str) -> Path:
        return self.settings.terraform_work_dir.resolve() / SAFE.sub("_", request_id) / workspace

    async def run(
        self, inputs: TerraformInputs, ctx: ActionContext, *, destroy: bool
    ) -> dict[str, Any]:
        binary = self._binary()
        work = self.work_dir(ctx.request_id, inputs.workspace)
        lock = self._locks.setdefault(work, asyncio.Lock())
        async with lock:
            if destroy and not (work / "terraform.tfstate").exists() and not inputs.module:
                await ctx.progress(f"nothing to destroy in {inputs.workspace}", 100)
                return step_outputs(self._meta(inputs, work, destroy, "nothing_to_destroy"), [])
            module = self._module(inputs)
            await asyncio.to_thread(_prepare, module, work, _variables(inputs, destroy))
            env = _environment(inputs)
            await ctx.progress(f"terraform init in {inputs.workspace}", 10)
            await self._terraform(ctx, binary, work, env, "init", "-input=false", "-no-color")
            verb = "destroy" if destroy else "apply"
            await ctx.progress(f"terraform {verb} in {inputs.workspace}", 40)
            try:
                await self._terraform(
                    ctx, binary, work, env, verb, "-auto-approve", "-input=false", "-no-color"
                )
            except TerraformCliError as failure:
                failure.outputs = {
                    **self._meta(inputs, work, destroy, "errored"),
                    **failure.outputs,
                }
                if destroy or not inputs.destroy_on_error:
                    raise
                await ctx.progress(f"apply failed: destroying what it created in {work}", 80)
                cleanup = "destroyed"
                try:
                    await self._terraform(
                        ctx,
                        binary,
                        work,
                        env,
                        "destroy",
                        "-auto-approve",
                        "-input=false",
                        "-no-color",
                    )
                except TerraformCliError as exc:
                    cleanup = f"failed: {exc.message}"
                raise TerraformCliError(
                    f"{failure.message}; cleanup destroy {cleanup}",
                    outputs={**self._meta(inputs, work, False, "errored"), "cleanup": cleanup},
                ) from failure
            raw = await self._terraform(ctx, binary, work, env, "output", "-json", "-no-color")
        try:
            outputs = json.loads(raw or "{}")
        except ValueError as exc:
            raise TerraformCliError(f"terraform output -json did not print JSON: {exc}") from exc
        items = [{"name": name, **value} for name, value in outputs.items()]
        await ctx.progress(f"terraform {verb} in {inputs.workspace}: done", 100)
        status = "destroyed" if destroy else "applied"
        return step_outputs(self._meta(inputs, work, destroy, status), items)

    def _meta(
        self, inputs: TerraformInputs, work: Path, destroy: bool, status: str
    ) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "workspace": inputs.workspace,
            "working_directory": str(work),
            "destroy": destroy,
            "status": status,
        }

    async def _terraform(
        self, ctx: ActionContext, binary: str, work: Path, env: dict[str, str], *args: str
    ) -> str:
        """Run one command; its stdout, or ``TerraformCliError`` with the tail of its output."""
        process = await asyncio.create_subprocess_exec(
            binary,
            *args,
            cwd=work,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await process.communicate()
        except asyncio.CancelledError:
            # The step's timeout (or a shutdown): let Terraform stop cleanly, then insist.
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            raise
        out = stdout.decode(errors="replace")
        err = stderr.decode(errors="replace")
        command = f"terraform {args[0]}"
        if args[0] != "output":
            for line in out.splitlines()[-20:]:
                log.info("%s (%s): %s", command, ctx.step_id, ANSI.sub("", line))
        if process.returncode != 0:
            lines = [ANSI.sub("", line).strip() for line in (err or out).splitlines()]
            tail = " | ".join(line for line in lines if line and line not in "│╷╵")[-800:]
            raise TerraformCliError(
                f"{command} in {ctx.step_id} exited {process.returncode}: {tail}"
            )
        return out


def _variables(inputs: TerraformInputs, destroy: bool) -> dict[str, Any] | None:
    """What to write to the vars file; None keeps the one there (a destroy after an apply)."""
    if destroy and not inputs.variables:
        return None
    return dict(inputs.variables)


def _prepare(module: Path, work: Path, variables: dict[str, Any] | None) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for entry in work.iterdir():  # a fresh copy of the module; state and plugins stay
        if entry.name in KEEP or entry.name.startswith("terraform.tfstate"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(
        module,
        work,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", VARS_FILE),
    )
    target = work / VARS_FILE
    if variables is None and target.exists():
        return
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(variables or {}, handle)


def _environment(inputs: TerraformInputs) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
    env.update(inputs.env_variables)
    return env
