"""The built-in action types, declared once: the inputs each one takes.

Each built-in executor (``pao_executors``) validates a command's inputs with the model
named here, and the catalog knows what a step's ``with:`` (and a ``rollback: with:``)
may hold from the same models (``pao_catalog_model.actions`` reads ``ActionContract.rules``):
a step the executor would refuse is refused when its document loads.

A team's own executor keeps its models to itself; its action types are declared to the
catalog with ``PAO_EXTRA_ACTION_TYPES`` or ``PAO_ACTION_TYPES_FILE``.
"""

from __future__ import annotations

from pao_catalog_model.action_inputs import debug, github, jira, rest, servicenow, terraform
from pao_catalog_model.action_inputs.contract import (
    ActionContract,
    InputProblem,
    InputRules,
    input_rules,
)

BUILTIN_ACTIONS: tuple[ActionContract, ...] = (
    ActionContract(
        "jira",
        "Create a JIRA issue (rollback: comment on and close it)",
        jira.TicketInputs,
        {"project": "OPS", "issue_type": "Task", "summary": "Review the new database"},
        compensation=jira.UndoInputs,
    ),
    ActionContract(
        "rest",
        "Call an HTTP API (rollback: another call, e.g. DELETE)",
        rest.RestInputs,
        {"method": "GET", "url": "https://api.example.com/v1/status"},
    ),
    ActionContract(
        "terraform",
        "Run a Terraform plan and apply in a workspace (rollback: destroy)",
        terraform.TerraformInputs,
        {"workspace": "payments-db"},
    ),
    ActionContract(
        "github-workflow",
        "Dispatch a GitHub Actions workflow and wait for its run",
        github.WorkflowInputs,
        {"owner": "acme", "repo": "payments", "workflow": "deploy.yml"},
    ),
    ActionContract(
        "debug.log",
        "Log a message and return it as output {message, logged_at}",
        debug.LogInputs,
        {"message": "hello"},
        compensation=debug.UndoInputs,
    ),
    ActionContract(
        "debug.wait",
        "Sleep a number of seconds, reporting progress",
        debug.WaitInputs,
        {"seconds": 0.1},
        compensation=debug.UndoInputs,
    ),
    ActionContract(
        "debug.fail",
        "Fail (or succeed) per attempt, to exercise retries, rollback and fallback",
        debug.FailInputs,
        {},
        compensation=debug.UndoInputs,
    ),
    ActionContract(
        "servicenow.open_change",
        "Open the change request of a normal or major request (the orchestrator sends it)",
        servicenow.OpenChangeInputs,
        {"short_description": "Production access", "correlation_id": "req-1"},
        catalog=False,
    ),
    ActionContract(
        "servicenow.close_change",
        "Close the change request of a request that ended (the orchestrator sends it)",
        servicenow.CloseChangeInputs,
        {"correlation_id": "req-1", "state": "3"},
        catalog=False,
    ),
)


def builtin_action(action_type: str) -> ActionContract:
    """The contract of a built-in action type; ``KeyError`` for any other."""
    for contract in BUILTIN_ACTIONS:
        if contract.action_type == action_type:
            return contract
    raise KeyError(action_type)


__all__ = [
    "BUILTIN_ACTIONS",
    "ActionContract",
    "InputProblem",
    "InputRules",
    "builtin_action",
    "input_rules",
]
