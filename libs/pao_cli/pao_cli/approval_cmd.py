"""``pao approval list|approve|reject``: the approver inbox through the gateway's HTTP API.

export PAO_TOKEN=$(pao token --user sam --team security)
pao approval list
pao approval approve 6f1c... --comment "change window agreed"
pao approval reject 6f1c... --comment "not during the freeze"
"""

from __future__ import annotations

import json

import click

from pao_cli.request_cmd import API, Client, gateway_client


@click.group(help="What awaits your approval, and deciding it (through the gateway).")
@gateway_client
def approval() -> None:
    """Commands of the group; the client is in the context."""


@approval.command("list", help="Requests whose current approval stage awaits you.")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's answer as JSON")
@click.pass_obj
def list_(client: Client, as_json: bool) -> None:
    answer = client.call("GET", f"{API}/approvals").json()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if not answer["items"]:
        click.echo("nothing awaits your approval")
        return
    for entry in answer["items"]:
        request = entry["request"]
        stage = entry.get("stage") or {}
        name = f" {stage['name']}" if stage.get("name") else ""
        expires = stage.get("expires_at") or "-"
        click.echo(
            f"{request['id']}  {request['item_id']}  by {request['requester']['id']}"
            f"  stage {entry['stage_number']}/{entry['stage_count']}{name}"
            f" ({stage.get('rule', 'any')})  expires {expires}"
        )


def _decide(client: Client, request_id: str, verb: str, comment: str | None) -> None:
    body = {"comment": comment} if comment else {}
    client.call("POST", f"{API}/requests/{request_id}/{verb}", json=body)
    click.echo(f"{verb} sent for {request_id}")


@approval.command(help="Approve request ID at its current stage.")
@click.argument("request_id")
@click.option("--comment", "-m", default=None, help="Recorded with your decision")
@click.pass_obj
def approve(client: Client, request_id: str, comment: str | None) -> None:
    _decide(client, request_id, "approve", comment)


@approval.command(help="Reject request ID (ends it).")
@click.argument("request_id")
@click.option("--comment", "-m", default=None, help="Recorded with your decision")
@click.pass_obj
def reject(client: Client, request_id: str, comment: str | None) -> None:
    _decide(client, request_id, "reject", comment)
