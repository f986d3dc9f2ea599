"""Who a command acts for: its verified credential, never the identity its body claims.

Every command that acts for a person (``SubmitRequest``, ``ApproveRequest``,
``RejectRequest``, ``CancelRequest``) carries a credential in the ``ce_authtoken`` header,
one of two kinds, told apart by the token's (unverified, then verified) issuer:

- the person's bearer JWT from the identity provider, checked exactly as the gateway
  checks it (``PAO_JWT_*``: issuer, audience, keys, algorithms, claim mapping);
- a command signed by a trusted service acting for the person (the gateway), checked
  with that service's public key and bound to this message (``pao_common.service_tokens``).

The body's ``requester`` / ``by`` is then *replaced* by the verified person (teams and
roles included), after checking that the body names the same person. What fails raises
``CommandNotAllowed``: ``unauthenticated`` (no credential, or one that does not verify)
or ``forbidden`` (a credential of someone else). Whether the verified person may approve,
cancel or request the item is the domain's decision, as before.

Commands that act for nobody (``TicketResolved`` from JIRA) pass unchanged.
"""

from __future__ import annotations

from pao_common.cloudevents import CloudEvent
from pao_common.errors import AuthenticationFailed
from pao_common.identity import CREDENTIAL_EXTENSION, CREDENTIAL_HEADER, TokenVerifier
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    Message,
    RejectRequest,
    Requester,
    SubmitRequest,
)
from pao_common.service_tokens import TrustedServices, unverified_issuer
from prometheus_client import Counter

from pao_orchestrator.errors import CommandNotAllowed, Refusal

ACTING_FOR_A_PERSON = (SubmitRequest, ApproveRequest, RejectRequest, CancelRequest)
PersonCommand = SubmitRequest | ApproveRequest | RejectRequest | CancelRequest

REFUSED = Counter(
    "pao_orchestrator_commands_refused_total",
    "Commands refused for their credential",
    ["type", "reason"],
)


class CommandAuthenticator:
    """Verifies the credential of each command and puts the verified person in its body."""

    def __init__(self, users: TokenVerifier, services: TrustedServices, *, issuer: str) -> None:
        self._users = users
        self._issuer = issuer
        self._services = services
        self._service_names = services.names()

    async def authenticate(self, message: Message, event: CloudEvent) -> Message:
        """``message`` acting for its verified person; raises ``CommandNotAllowed``."""
        if not isinstance(message, ACTING_FOR_A_PERSON):
            return message
        try:
            person = await self._verify(event)
        except AuthenticationFailed as exc:
            raise self._refused(message, "unauthenticated", str(exc)) from exc
        claimed = message.requester if isinstance(message, SubmitRequest) else message.by
        if claimed.id != person.id:
            raise self._refused(
                message,
                "forbidden",
                f"the body acts for {claimed.id!r} but the credential is {person.id!r}'s",
            )
        if isinstance(message, SubmitRequest):
            return message.model_copy(update={"requester": person})
        return message.model_copy(update={"by": person})

    async def _verify(self, event: CloudEvent) -> Requester:
        token = event.extensions.get(CREDENTIAL_EXTENSION)
        if not token:
            raise AuthenticationFailed(
                f"no credential: a command acting for a person carries {CREDENTIAL_HEADER}"
                " (the person's bearer token, or a trusted service's signature)"
            )
        issuer = unverified_issuer(token)
        if issuer in self._service_names:
            return self._services.verify(token, event)
        if issuer != self._issuer:
            services = ", ".join(sorted(self._service_names))
            raise AuthenticationFailed(
                f"credential issuer {issuer!r} is neither the identity provider"
                f" ({self._issuer!r}) nor a trusted service ({services})"
            )
        user = await self._users.verify(token)
        return user.as_requester()

    @staticmethod
    def _refused(message: PersonCommand, kind: Refusal, detail: str) -> CommandNotAllowed:
        REFUSED.labels(type(message).__name__, kind).inc()
        return CommandNotAllowed(message.request_id, kind, detail)
