"""Exceptions shared by every PAO package.

PaoError
├── InvalidMessage        a Kafka record that cannot be parsed (goes to the DLQ)
├── MessageRefused        a well-formed record its consumer will not act on (unauthenticated,
│                         forbidden): dead-lettered with the reason, no traceback
├── AuthenticationFailed  a credential that does not verify (malformed, bad signature, expired,
│                         wrong issuer or audience, not bound to its message, untrusted signer)
├── IdentityProviderDown  the issuer's keys cannot be fetched (a ConnectionError: retried)
├── KafkaTokenError       the OAuth token endpoint gave no Kafka access token (also an
│                         OSError: a transient outage, retried like the broker's)
├── CatalogUnavailable    the catalog service's API did not answer (a ConnectionError:
│                         retried by consumers; pao_common.catalog_api)
├── ConfigurationError    settings or files that make a process unable to start
│   ├── ActionRegistryError   an executor's action types are declared wrongly
│   │   ├── DuplicateActionType   the same action type (or its compensation) declared twice
│   │   └── UnknownActionType     an action type no executor declared
│   └── InvalidChangeCalendar  the change calendar policy is wrong (``problems``: file:line each)
├── TemplateError         a template that does not parse, render or escapes the sandbox
│   └── UnknownVariable   a template names a variable its context does not have
├── UnsupportedPattern    a regular expression the linear-time engine (RE2) cannot run, or
│                         that the portal's browser would read differently (``.reason``)
└── ActionError           an action failed; ``retryable`` says whether trying again may help
    ├── InvalidActionInputs   the inputs do not satisfy the action's model (never retryable)
    ├── ActionTimeout         the handler ran past the command's ``timeout_s`` (retryable)
    ├── SecretNotFound        ``${secret:name}`` that neither env nor PAO_SECRETS_DIR provides
    ├── CircuitOpen           the target's circuit breaker is open: failing fast (retryable)
    ├── ServiceNowUnavailable ServiceNow answered 5xx/429/408/401/403, timed out or could not
    │                         be reached (retryable: it is down, or its credentials are mended)
    └── ServiceNowRefused     any other 4xx: ServiceNow refused this call (``status``, its message)
"""

from __future__ import annotations

from typing import Any


class PaoError(Exception):
    """Base of every PAO exception."""


class InvalidMessage(PaoError):
    """A message whose headers or body cannot be parsed into its contract."""


class MessageRefused(PaoError):
    """A message that parses but that its consumer refuses to act on; ``subscribe`` sends
    it to the dead-letter topic with ``reason`` and ``error_type`` (and logs no traceback:
    a flood of forged messages is not a flood of bugs)."""

    def __init__(self, reason: str, *, error_type: str = "MessageRefused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


class AuthenticationFailed(PaoError):
    """A credential (a bearer JWT, a service's signed command) that does not verify."""


class IdentityProviderDown(PaoError, ConnectionError):
    """The issuer's keys (its JWKS) cannot be fetched. A ``ConnectionError``, so a Kafka
    consumer retries the message like any outage instead of refusing it."""


class KafkaTokenError(PaoError, ConnectionError):
    """No access token for SASL/OAUTHBEARER: the token endpoint was unreachable, refused the
    client credentials, or answered without an ``access_token``."""


class CatalogUnavailable(PaoError, ConnectionError):
    """The catalog service's API could not be reached, timed out or answered 5xx, and what
    was asked is not cached. A ``ConnectionError``, so a Kafka consumer retries the message
    (never dead-letters or refuses it for an outage) and the gateway answers 502."""


class ConfigurationError(PaoError):
    """A setting or file that makes the process unable to start."""


class TemplateError(PaoError):
    """A template that does not parse or render, or that tried to leave the sandbox."""


class UnknownVariable(TemplateError):
    """A template refers to a variable that its context does not define."""


class UnsupportedPattern(PaoError, ValueError):
    """A regular expression PAO refuses to match inputs with; ``reason`` says why.

    Input patterns run on RE2, whose matching time is linear in the input; a pattern that
    needs backtracking (lookaround, backreferences, possessive quantifiers) cannot run on
    it, and one the portal's ECMAScript engine would read differently would make the
    browser and the server disagree.
    """

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class InvalidChangeCalendar(ConfigurationError):
    """The change calendar document is wrong; ``problems`` lists each as ``file:line path: why``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ActionRegistryError(ConfigurationError):
    """An executor declares its action types wrongly, or a type nobody declared is asked for."""


class DuplicateActionType(ActionRegistryError):
    """An action type (or its compensation) is declared twice."""


class UnknownActionType(ActionRegistryError):
    """An action type that the executor does not declare."""


class ActionError(PaoError):
    """Raised by an action handler: the action failed with ``message``.

    ``retryable`` tells the orchestrator whether another attempt may succeed (a
    timeout, a 503) or not (a conflict, a rejected input); ``outputs`` carries what
    the action had achieved before failing, if anything.
    """

    def __init__(
        self, message: str, retryable: bool = False, *, outputs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.outputs = dict(outputs or {})


class InvalidActionInputs(ActionError):
    """The command's inputs do not satisfy the action's input model; never retryable."""

    def __init__(self, message: str, field_errors: list[dict[str, str]]) -> None:
        super().__init__(message, retryable=False)
        self.field_errors = field_errors


class ActionTimeout(ActionError):
    """The handler did not finish within the command's ``timeout_s``; retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class SecretNotFound(ActionError):
    """A ``${secret:name}`` reference that no environment variable or secret file provides."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class CircuitOpen(ActionError):
    """The circuit breaker of the target is open: fail fast instead of calling it; retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ServiceNowUnavailable(ActionError):
    """ServiceNow is down for this call (5xx, 429, 408, 401/403, timeout, no connection)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ServiceNowRefused(ActionError):
    """ServiceNow refused this call (a 4xx other than the ones that mean "down")."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, retryable=False)
        self.status = status
