"""``pao service-key generate``: the key pair the gateway signs its commands with.

The gateway signs every command it publishes for a person (``pao_common.service_tokens``);
the orchestrator trusts the matching public key (``PAO_SERVICE_TRUSTED_KEYS``). Docker
Compose's init job runs this on every start (an existing key is kept); on Kubernetes an
operator runs it once and stores the two files as a Secret and a ConfigMap
(docs/deploy.md).
"""

from __future__ import annotations

from pathlib import Path

import click
from pao_common import devkeys


@click.group(name="service-key", help="The key pair the gateway signs commands with.")
def service_key() -> None:
    pass


@service_key.command(help="Create an Ed25519 key pair, or keep the one already there.")
@click.option(
    "--private-key",
    "private_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PEM private key file (mode 0600): the gateway's PAO_SERVICE_SIGNING_KEY_FILE",
)
@click.option(
    "--public-key",
    "public_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PEM public key file: the orchestrator's PAO_SERVICE_TRUSTED_KEYS entry",
)
def generate(private_path: Path, public_path: Path) -> None:
    existed = private_path.exists()
    key = devkeys.DevKey.load_or_create(
        private_path.parent, kind="ed25519", private_name=private_path.name
    )
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(key.public_pem)
    state = "kept the existing key" if existed else "created a new key"
    click.echo(f"{state} {private_path} (kid {key.kid}); public key in {public_path}")
