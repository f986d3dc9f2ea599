"""The caller's identity, as the gateway uses it: ``pao_common.identity``.

The verification itself lives in ``pao_common`` because the orchestrator verifies the
same bearer tokens on Kafka commands; the gateway's modules import these names from here.
"""

from pao_common.identity import (
    PLATFORM_ADMIN,
    ClaimMapping,
    JwksKeySource,
    KeySource,
    StaticKeySource,
    TokenVerifier,
    User,
    build_verifier,
)

__all__ = [
    "PLATFORM_ADMIN",
    "ClaimMapping",
    "JwksKeySource",
    "KeySource",
    "StaticKeySource",
    "TokenVerifier",
    "User",
    "build_verifier",
]
