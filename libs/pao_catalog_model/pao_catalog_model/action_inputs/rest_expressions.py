"""Reading values out of a response: the expressions of a ``rest`` step's ``outputs`` and
``poll`` (part of the ``rest`` contract: ``PollSpec`` checks its conditions' syntax).

Value expressions::

    $                      the JSON body
    $.id                   a member ($.a.b.c for nested ones)
    $.items[0].id          an array element (negative indexes count from the end)
    $["odd key"]           a member whose name is not an identifier
    status                 the HTTP status code
    headers.Location       a response header (case-insensitive)
    body                   the raw body as text

Conditions (``poll.until``, ``poll.fail_when``)::

    <value> == <literal>   also !=, <, <=, >, >=
    <value> in [<literal>, ...]     also "not in"
    <value>                true when the value is present and truthy

Literals are JSON or Python literals (``'done'``, ``"done"``, ``3``, ``true``,
``null``, ``["done", "ok"]``); a bare word is a string.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pao_common.errors import ActionError

_STEP = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[\s*(["'])(.*?)\3\s*\]""")
_CONDITION = re.compile(r"^(?P<left>.+?)\s+(?P<op>==|!=|<=|>=|<|>|not\s+in|in)\s+(?P<right>.+)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
MISSING = object()


class ExpressionError(ActionError):
    """An expression does not parse, or names nothing in the response; never retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class HttpAnswer(Protocol):
    """An HTTP response as a client gives it (``httpx.Response``)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Response:
    """What expressions see of one HTTP response (``headers`` case-insensitive, as an
    ``httpx.Headers``)."""

    status: int
    headers: Mapping[str, str]
    text: str
    json: Any = MISSING

    @classmethod
    def of(cls, response: HttpAnswer) -> Response:
        text = response.text
        try:
            body: Any = json.loads(text) if text.strip() else MISSING
        except ValueError:
            body = MISSING
        return cls(response.status_code, response.headers, text, body)


def _steps(path: str, expression: str) -> list[str | int]:
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise ExpressionError(f"cannot parse {expression!r} at {path[pos:]!r}")
        name, index, _, quoted = match.groups()
        key = name if name is not None else quoted
        steps.append(key if key is not None else int(index))
        pos = match.end()
    return steps


def _walk(root: Any, path: str, expression: str) -> Any:
    value = root
    for step in _steps(path, expression):
        if isinstance(step, str):
            value = value.get(step, MISSING) if isinstance(value, Mapping) else MISSING
        else:
            inside = isinstance(value, list) and -len(value) <= step < len(value)
            value = value[step] if inside else MISSING
        if value is MISSING:
            return MISSING
    return value


def value_of(expression: str, response: Response) -> Any:
    """The value ``expression`` names in ``response``, or ``MISSING``."""
    expr = expression.strip()
    if expr == "status":
        return response.status
    if expr == "body":
        return response.text
    if expr.startswith("headers."):
        header = response.headers.get(expr[len("headers.") :])
        return MISSING if header is None else header
    if expr.startswith("$"):
        if response.json is MISSING:
            return MISSING
        return _walk(response.json, expr[1:], expression)
    raise ExpressionError(
        f"cannot parse {expression!r}: start with $ (the JSON body), status, headers.<name> or body"
    )


def extract(outputs: Mapping[str, str], response: Response) -> dict[str, Any]:
    """``{name: value}`` for each output expression; a missing value is an error."""
    values: dict[str, Any] = {}
    for name, expression in outputs.items():
        value = value_of(expression, response)
        if value is MISSING:
            shown = sorted(response.json) if isinstance(response.json, Mapping) else None
            hint = f"; the body has {shown}" if shown is not None else ""
            raise ExpressionError(
                f"output {name}: {expression} is not in the response (HTTP {response.status}){hint}"
            )
        values[name] = value
    return values


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def check_syntax(condition: str) -> None:
    """Raise ``ExpressionError`` if ``condition`` cannot be evaluated on any response."""
    evaluate(condition, Response(200, {}, "", {}))


def evaluate(condition: str, response: Response) -> bool:
    """Whether ``condition`` holds for ``response``."""
    match = _CONDITION.match(condition.strip())
    if match is None:
        value = value_of(condition, response)
        return value is not MISSING and bool(value)
    left = value_of(match.group("left"), response)
    left = None if left is MISSING else left
    op = " ".join(match.group("op").split())
    right = _literal(match.group("right"))
    if op in ("in", "not in"):
        if not isinstance(right, list | tuple):
            raise ExpressionError(f"{condition!r}: 'in' needs a list, like ['done', 'ok']")
        return (left in right) == (op == "in")
    try:
        return _OPS[op](left, right)
    except TypeError:
        return False
