"""Credential benchmark: ``python -m tests.bench.credentials``.

Every command acting for a person carries a credential (issue #10): the gateway signs each
one it publishes, the orchestrator verifies each one it handles. This prints what that
costs per command, through the real code paths, in microseconds of one core:

- the gateway signing a ``SubmitRequest`` (``ServiceSigner.sign``, Ed25519);
- the orchestrator authenticating it (``CommandAuthenticator.authenticate``: issuer peek,
  signature, claims, body digest);
- the orchestrator authenticating a command carrying a person's RS256 bearer token, the
  first time (signature check) and again (``TokenVerifier``'s cache: a client reuses its
  token).

No round trip is added: the keys are local (a JWKS is fetched once and cached).
Measures and prints; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pao_common import devkeys
from pao_common.identity import CREDENTIAL_EXTENSION, build_verifier
from pao_common.messages import Requester, SubmitRequest, to_cloudevent
from pao_common.service_tokens import ServiceSigner, TrustedServices
from pao_common.settings import Profile, Settings
from pao_orchestrator.authentication import CommandAuthenticator

ROUNDS = 5
PER_ROUND = 400


async def per_call_us(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Median and best of ``ROUNDS`` rounds, microseconds per call."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(PER_ROUND):
            await call()
        rounds.append((time.perf_counter() - started) / PER_ROUND * 1e6)
    return statistics.median(rounds), min(rounds)


async def run() -> None:
    keys = Path(tempfile.mkdtemp(prefix="pao-bench-keys-"))
    settings = Settings(
        profile=Profile.TEST, jwt_dev_key_dir=keys / "jwt", service_dev_key_dir=keys / "svc"
    )
    signer = ServiceSigner.from_settings(settings)
    users = build_verifier(settings)
    authenticator = CommandAuthenticator(
        users, TrustedServices.from_settings(settings), issuer=settings.jwt_issuer
    )
    alice = Requester(id="alice", email="alice@example.com", teams=("payments",))
    submit = SubmitRequest(
        request_id="3f0c1e0a-6d0b-4d8e-9a57-2b8c4f1e9d21",
        item_id="debug-echo",
        inputs={"message": "hello from PAO"},
        requester=alice,
        idempotency_key="ci-run-4711",
    )
    event = to_cloudevent(submit, source="bench", subject=submit.request_id)
    signed = event.model_copy(
        update={"extensions": {CREDENTIAL_EXTENSION: signer.sign(event, alice)}}
    )
    token = devkeys.mint(settings, user="alice", teams=("payments",))
    bearer = event.model_copy(update={"extensions": {CREDENTIAL_EXTENSION: token}})

    async def sign() -> object:
        return signer.sign(event, alice)

    async def verify_signed() -> object:
        return await authenticator.authenticate(submit, signed)

    async def verify_bearer_first() -> object:
        users._verified.clear()  # as if every command brought a token not seen before
        return await authenticator.authenticate(submit, bearer)

    async def verify_bearer_again() -> object:
        return await authenticator.authenticate(submit, bearer)

    print(f"{'per command':<58} {'median':>9} {'best':>9}")
    for name, call in (
        ("gateway signs (Ed25519 JWS)", sign),
        ("orchestrator verifies the gateway's signature", verify_signed),
        ("orchestrator verifies a bearer token (RS256), first time", verify_bearer_first),
        ("orchestrator verifies a bearer token again (cached)", verify_bearer_again),
    ):
        median, best = await per_call_us(call)
        print(f"{name:<58} {median:>7.1f}us {best:>7.1f}us")
    await users.close()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
