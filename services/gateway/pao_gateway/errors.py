"""Exceptions of the gateway; each maps to one HTTP status (``status_code``).

PaoError
└── GatewayError
    ├── AuthenticationFailed      401  no token, bad signature, expired, wrong issuer/audience
    ├── IdentityProviderDown      503  the issuer's JWKS cannot be fetched
    │   (``pao_common.identity`` raises their ``pao_common.errors`` namesakes; ``http`` maps them)
    ├── AccessDenied              403  catalog ``access`` rules, not an approver, ...
    ├── NotFound                  404  no such request (or not visible to the caller)
    ├── Conflict                  409
    │   ├── IdempotencyConflict       same Idempotency-Key, different body
    │   ├── InvalidRequestState       e.g. approving a request that does not await approval
    │   ├── ResourceGone              an operation on a decommissioned resource
    │   └── ResourceBusy              an operation while another runs (``running_request``)
    ├── InvalidSubmission         422  per-field errors (``errors``)
    │   └── ChangeWindowClosed        a change window denies the change (its name and end)
    ├── TooManyRequests           429  with ``Retry-After`` (``retry_after_s``)
    │   ├── RateLimited               submissions faster than the user's rate
    │   └── TooManyStreams            more live streams than a user may hold
    └── CatalogUnavailable        502  the catalog service does not answer

(A body over the size limit is refused with 413 before any route runs:
``pao_gateway.body_limit``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from pao_common.errors import PaoError


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a submission: where (``location``/``field``) and why."""

    field: str
    message: str
    location: str = "inputs"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "in": self.location}


class GatewayError(PaoError):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AuthenticationFailed(GatewayError):
    status_code = 401


class IdentityProviderDown(GatewayError):
    status_code = 503


class AccessDenied(GatewayError):
    status_code = 403


class NotFound(GatewayError):
    status_code = 404


class Conflict(GatewayError):
    status_code = 409


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with a different body."""


class InvalidRequestState(Conflict):
    """The request is not in a state that allows the command."""


class ResourceGone(Conflict):
    """The resource is decommissioned: no operation may run on it."""


class ResourceBusy(Conflict):
    """Another request acts on the resource; ``running_request`` is its id."""

    def __init__(self, detail: str, *, running_request: str) -> None:
        super().__init__(detail)
        self.running_request = running_request


class InvalidSubmission(GatewayError):
    status_code = 422

    def __init__(self, detail: str, errors: list[FieldProblem]) -> None:
        super().__init__(detail)
        self.errors = errors


class ChangeWindowClosed(InvalidSubmission):
    """A change calendar window denies the change now; ``window`` and ``until`` say which
    and until when."""

    def __init__(self, detail: str, *, window: str, until: str, change_class: str) -> None:
        super().__init__(detail, [FieldProblem("item_id", detail, "body")])
        self.window = window
        self.until = until
        self.change_class = change_class


class TooManyRequests(GatewayError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class RateLimited(TooManyRequests):
    """The user submitted faster than ``PAO_GATEWAY_SUBMIT_RATE_PER_MIN`` allows."""


class TooManyStreams(TooManyRequests):
    """The user holds ``PAO_GATEWAY_SSE_STREAMS_PER_USER`` live streams already."""


class CatalogUnavailable(GatewayError):
    status_code = 502
