"""``pao token``: a bearer token from the local development key, for ``pao dev``.

export PAO_TOKEN=$(pao token --user alice --team payments --role developer)
"""

from __future__ import annotations

import re

import click
from pao_common.devkeys import mint
from pao_common.settings import Settings

_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match or int(match["n"]) == 0:
        raise click.BadParameter(f"{text!r} is not a duration like 3600, 30m, 8h or 7d")
    return int(match["n"]) * _SECONDS[match["unit"]]


@click.command(
    "token",
    help="Mint a JWT signed by the local development key (trusted by the gateway in the "
    "local and test profiles when no identity provider is configured).",
)
@click.option("--user", "user_id", required=True, help="User id (the `sub` claim)")
@click.option("--team", "teams", multiple=True, help="A team of the user; repeat for several")
@click.option("--role", "roles", multiple=True, help="A role (e.g. platform-admin); repeatable")
@click.option("--email", default=None, help="E-mail address claim")
@click.option("--name", default=None, help="Display name claim")
@click.option("--manager", default=None, help="User id of the user's manager (manager claim)")
@click.option("--ttl", default="8h", show_default=True, help="Lifetime: seconds, or 30m/8h/7d")
def token(
    user_id: str,
    teams: tuple[str, ...],
    roles: tuple[str, ...],
    email: str | None,
    name: str | None,
    manager: str | None,
    ttl: str,
) -> None:
    settings = Settings()
    click.echo(
        mint(
            settings,
            user=user_id,
            teams=teams,
            roles=roles,
            email=email,
            name=name,
            manager=manager,
            ttl_s=parse_ttl(ttl),
        )
    )
