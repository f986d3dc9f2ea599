"""What a ``rest`` step takes (``with:``); its compensation is another call (a DELETE)::

    method, url, headers, query, json | body, auth, expected_status, outputs,
    poll: {url | url_from, interval_s, timeout_s, until, fail_when, error_from,
           expected_status, outputs},
    retry: {attempts, max_delay_s}, timeout_s

``outputs`` and ``poll``'s expressions are ``pao_catalog_model.action_inputs.rest_expressions``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pao_catalog_model.action_inputs.rest_expressions import ExpressionError, check_syntax

Scalar = str | int | float | bool


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token: str = Field(min_length=1, description="Use secret('name')")


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str
    password: str = Field(description="Use secret('name')")


class ApiKeyAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["api_key"]
    value: str = Field(min_length=1, description="Use secret('name')")
    in_: Literal["header", "query"] = Field("header", alias="in")
    name: str = Field("X-API-Key", description="Header or query parameter name")


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


def _statuses(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    return [value]


class PollSpec(BaseModel):
    """Polling a long-running operation until ``until`` holds (or ``fail_when``)."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, description="Status URL; default: url_from, else Location")
    url_from: str | None = Field(None, description="Expression on the first response")
    interval_s: float = Field(2.0, gt=0, le=600)
    timeout_s: float | None = Field(None, gt=0, description="Default: the action's timeout")
    until: str = Field(description="Condition of success, e.g. \"$.status == 'done'\"")
    fail_when: str | None = Field(None, description="Condition of failure")
    error_from: str | None = Field(None, description="Expression of the failure's message")
    expected_status: list[int] = Field(default_factory=lambda: [200])
    outputs: dict[str, str] = Field(default_factory=dict, description="From the last poll")

    _statuses = field_validator("expected_status", mode="before")(_statuses)

    @field_validator("until", "fail_when")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_syntax(value)
            except ExpressionError as exc:
                raise ValueError(exc.message) from None
        return value


class RetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(3, ge=1, le=10, description="Calls per action for 429/5xx answers")
    max_delay_s: float | None = Field(None, ge=0, description="Longest wait between them")


class RestInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    json_: Any = Field(None, alias="json")
    body: str | None = Field(None, description="A raw body (instead of json)")
    auth: Auth | None = None
    expected_status: list[int] | None = Field(None, description="Default: any 2xx")
    outputs: dict[str, str] = Field(default_factory=dict)
    poll: PollSpec | None = None
    retry: RetrySpec = Field(default_factory=RetrySpec)
    timeout_s: float | None = Field(None, gt=0, description="Timeout of one HTTP call")

    _statuses = field_validator("expected_status", mode="before")(_statuses)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_body(self) -> RestInputs:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give json or body, not both")
        return self
