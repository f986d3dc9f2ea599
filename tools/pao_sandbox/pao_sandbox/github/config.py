"""The GitHub sandbox's vocabulary: its config and workflows, the sandbox's complete body,
and GitHub's expressions it evaluates (``run-name``, ``created`` filters)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from pao_sandbox.errors import SandboxApiError

DOCS = "https://docs.github.com/rest"
REPO_API = "/repos/{owner}/{repo}/actions"
Conclusion = Literal["success", "failure", "cancelled", "timed_out"]


class WorkflowInput(BaseModel):
    required: bool = False
    default: str | None = None
    type: str = "string"


class GithubWorkflow(BaseModel):
    repo: str = Field(description="owner/name")
    file: str = Field(description="File name under .github/workflows, e.g. provision.yml")
    name: str | None = None
    inputs: dict[str, WorkflowInput] | None = Field(
        None, description="Declared inputs; None accepts any"
    )
    run_name: str | None = Field(None, description="The workflow's run-name template")
    conclusion: Conclusion = "success"
    artifact_name: str = "outputs"
    artifact_file: str = "outputs.json"
    artifact: Any = Field(
        None, description="JSON put in the artifact; None: {inputs, run_id, conclusion}"
    )

    @property
    def title(self) -> str:
        return self.name or self.file.rsplit(".", 1)[0].replace("-", " ").replace("_", " ").title()


class GithubConfig(BaseModel):
    tokens: list[str] = Field(default_factory=lambda: ["sandbox-github-token"])
    token_user: str = "pao-bot"
    app_id: str = "1001"
    app_client_id: str = "Iv1.sandbox0000000001"
    app_slug: str = "pao-sandbox"
    app_public_key: str = Field("", description="PEM; empty: generated, see GET /sandbox/app")
    installation_ids: list[int] = Field(default_factory=lambda: [4242])
    workflows: list[GithubWorkflow] = Field(default_factory=list)
    auto_workflows: bool = Field(True, description="Any workflow file exists, inputs unchecked")
    default_run_name: str = "${{ github.workflow }} ${{ inputs.correlation_id }}"
    queued_s: float | None = Field(1.0, description="None: stays queued until started by hand")
    in_progress_s: float | None = Field(3.0, description="None: runs until completed by hand")

    @field_validator("queued_s", "in_progress_s", mode="before")
    @classmethod
    def _null_means_by_hand(cls, value: Any) -> Any:
        # Environment variables cannot say None; "null", "none" and "" do.
        if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
            return None
        return value


class CompleteBody(BaseModel):
    conclusion: Conclusion = "success"
    artifact: Any = Field(None, description="JSON for the workflow's artifact (default: its own)")
    artifact_name: str | None = None


_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def render_run_name(template: str, inputs: dict[str, Any], github: dict[str, str]) -> str:
    """The subset of Actions expressions a ``run-name`` typically uses."""

    def value(term: str) -> str:
        term = term.strip()
        if term[:1] in ("'", '"'):
            return term[1:-1]
        for prefix in ("inputs.", "github.event.inputs."):
            if term.startswith(prefix):
                found = inputs.get(term[len(prefix) :])
                return (
                    ""
                    if found is None
                    else str(found).lower()
                    if isinstance(found, bool)
                    else str(found)
                )
        if term.startswith("github."):
            return github.get(term[len("github.") :], "")
        return ""

    def evaluate(match: re.Match[str]) -> str:
        for option in match.group(1).split("||"):
            if result := value(option):
                return result
        return ""

    return " ".join(_EXPR.sub(evaluate, template).split())


def parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    text = text.strip().replace(" ", "+")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text + "T00:00:00+00:00")
        return day + timedelta(days=1, seconds=-1) if end_of_day else day
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def created_matches(expr: str, created: datetime) -> bool:
    """GitHub's date-range syntax: ``>=T``, ``<T``, ``A..B`` (``*`` open), or a day."""
    try:
        if ".." in expr:
            low, high = expr.split("..", 1)
            return (low == "*" or created >= parse_when(low)) and (
                high == "*" or created <= parse_when(high, end_of_day=True)
            )
        for op in (">=", "<=", ">", "<"):
            if expr.startswith(op):
                bound = parse_when(expr[len(op) :], end_of_day=op in ("<=", ">"))
                return {
                    ">=": created >= bound,
                    "<=": created <= bound,
                    ">": created > bound,
                    "<": created < bound,
                }[op]
        return parse_when(expr) <= created <= parse_when(expr, end_of_day=True)
    except ValueError as exc:
        raise SandboxApiError(422, f"Invalid created filter {expr!r}: {exc}") from exc
