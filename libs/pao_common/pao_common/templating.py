"""The variable system: Jinja2 templates in catalog documents, rendered in a sandbox.

Every string in a step's ``with:``, a ``rollback:``, the item ``outputs`` and the manual
JIRA ticket is a template. The context has six roots::

    inputs    the validated form values
    user      id, email, name, teams, roles, manager (the requester)
    item      the catalog metadata: id, name, version, owner, category, tags, lifecycle
    request   id, submitted_at, item_version, failure (why automation fell back to manual),
              url (the request's page in the portal, ``pao_common.portal_links``)
    system    environment, portal_url, now
    steps     steps.<id>.outputs of the steps that already ran

Rendering uses an immutable ``SandboxedEnvironment`` with ``StrictUndefined``: a missing
variable is an error (``UnknownVariable``), never an empty string, and reaching for
``__class__`` or other internals raises ``TemplateError``. ``secret('name')`` renders to the
reference ``${secret:name}``; only executors resolve it, so secrets never reach events.

A string that is exactly one expression (``"{{ inputs.replicas }}"``) renders to the
expression's native value (an int stays an int, a list a list); any other string renders
to a string. ``referenced_variables`` is the static half: the catalog validator uses it to
reject unknown variables when a document loads, not when a request runs.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid as _uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import Template, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from pao_common.errors import TemplateError, UnknownVariable, UnsupportedPattern
from pao_common.patterns import compile_pattern, substitute
from pao_common.portal_links import request_url

#: The roots a template may start from, and what build_context puts under each.
CONTEXT_ROOTS: Mapping[str, frozenset[str] | None] = {
    "inputs": None,  # any form field; checked against the item's fields
    "user": frozenset({"id", "email", "name", "teams", "roles", "manager"}),
    "item": frozenset(
        {"id", "name", "version", "owner", "category", "tags", "description", "lifecycle"}
    ),
    "request": frozenset({"id", "submitted_at", "item_version", "failure", "url"}),
    "system": frozenset({"environment", "portal_url", "now"}),
    "steps": None,  # steps.<id>.outputs; checked against the item's steps
}

SECRET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
_MAX_OUTPUT = 1_000_000  # characters; a template is not a way to build huge strings


def secret_reference(name: str) -> str:
    """The literal that ``secret(name)`` renders to; executors resolve it."""
    return "${secret:" + name + "}"


SECRET_REFERENCE = re.compile(r"\$\{secret:(?P<name>[A-Za-z0-9_][A-Za-z0-9_./-]{0,199})\}")


def _secret(name: object) -> str:
    if not isinstance(name, str) or not SECRET_NAME.match(name):
        raise TemplateError(f"secret(): invalid secret name {name!r}")
    return secret_reference(name)


def slugify(value: object, max_length: int = 63, separator: str = "-") -> str:
    """Lower-case ASCII words joined by ``separator``; a DNS label by default."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", separator, text).strip(separator).lower()
    return text[:max_length].rstrip(separator)


def _to_json(value: object, indent: int | None = None) -> str:
    try:
        return json.dumps(value, indent=indent, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"to_json: {exc}") from exc


def _from_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise TemplateError(f"from_json: {exc}") from exc


def _regex_replace(value: object, pattern: str, replacement: str) -> str:
    """``re.sub`` matched by RE2: the value is often a requester's input (linear time)."""
    try:
        return substitute(pattern, replacement, str(value))
    except UnsupportedPattern as exc:
        raise TemplateError(f"regex_replace: {exc}") from exc


@pass_context
def _now(context: Context, fmt: str | None = None) -> str:
    """``system.now`` when the caller fixed the time (the orchestrator does), else the clock."""
    system = context.get("system")
    fixed = system.get("now") if isinstance(system, Mapping) else None
    moment = _parse_time(fixed) if fixed else datetime.now(UTC)
    return moment.strftime(fmt) if fmt else moment.isoformat()


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise TemplateError(f"now(): system.now is not an ISO timestamp: {value!r}") from exc


def _uuid4() -> str:
    return str(_uuid.uuid4())


FILTERS: Mapping[str, Callable[..., Any]] = {
    "slugify": slugify,
    "to_json": _to_json,
    "from_json": _from_json,
    "regex_replace": _regex_replace,
}
FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "uuid": _uuid4,
    "now": _now,
    "secret": _secret,
    "slugify": slugify,
}
#: Names that are functions or Jinja's own variables, not context variables.
FUNCTION_NAMES = frozenset(FUNCTIONS) | {
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "loop",  # Jinja's loop variable inside a for
    "caller",
    "varargs",
    "kwargs",
}


class _Environment(ImmutableSandboxedEnvironment):
    """No mutation of context values, no internals, no huge strings or numbers."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > _MAX_OUTPUT:
                    raise SecurityError("repetition result too large")
        return super().call_binop(context, operator, left, right)


def _make_environment() -> _Environment:
    from jinja2 import StrictUndefined

    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.globals.update(FUNCTIONS)
    return env


_ENV = _make_environment()


def _fail(
    exc: Exception,
    source: str,
    context: Mapping[str, Any] | None = None,
    *,
    expression: bool = False,
) -> TemplateError:
    snippet = source if len(source) <= 80 else source[:77] + "..."
    if isinstance(exc, TemplateError):
        return exc
    if isinstance(exc, UndefinedError):
        return UnknownVariable(
            f"{_undefined_message(exc, source, context, expression)} in {snippet!r}"
        )
    if isinstance(exc, SecurityError):
        return TemplateError(f"forbidden by the template sandbox: {exc} in {snippet!r}")
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"template syntax error: {exc.message} in {snippet!r}")
    return TemplateError(f"template failed: {type(exc).__name__}: {exc} in {snippet!r}")


def _undefined_message(
    exc: UndefinedError, source: str, context: Mapping[str, Any] | None, expression: bool
) -> str:
    if context is not None:
        missing = _first_missing(source, context, expression)
        if missing:
            return f"unknown variable {missing}"
    message = str(exc)
    if message.startswith("'") and "' is undefined" in message:
        return f"unknown variable {message.split(chr(39))[1]}"
    return f"unknown variable: {message}"


def _first_missing(source: str, context: Mapping[str, Any], expression: bool) -> str | None:
    try:
        paths = referenced_variables(source, expression=expression)
    except TemplateError:
        return None
    for path in sorted(paths, key=str):
        value: Any = context
        for depth, part in enumerate(path):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif depth == 0 or isinstance(value, Mapping):
                return format_path(path[: depth + 1])
            else:
                break
    return None


def format_path(path: Iterable[str | int]) -> str:
    """``("steps", 0, "with")`` -> ``steps[0].with``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@lru_cache(maxsize=4096)
def _template(source: str) -> Template:
    """Compiled once: catalog templates repeat for every request of an item."""
    return _ENV.from_string(source)


@lru_cache(maxsize=4096)
def _expression(source: str) -> TemplateExpression:
    return _ENV.compile_expression(source, undefined_to_none=False)


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


def _lone_expression(source: str) -> str | None:
    single = _SINGLE_EXPRESSION.match(source)
    if single and "}}" not in single.group("expr") and "{{" not in single.group("expr"):
        return single.group("expr")
    return None


def keeps_type(source: str) -> bool:
    """Whether ``source`` is a lone ``{{ expression }}``: it renders to the expression's
    value, of any type; any other template renders to a string."""
    return _lone_expression(source) is not None


def render_string(source: str, context: Mapping[str, Any]) -> Any:
    """Render one template; a lone ``{{ expression }}`` keeps the value's type."""
    if not is_template(source):
        return source
    try:
        expression = _lone_expression(source)
        if expression is not None:
            value = _expression(expression)(**context)
            _check_defined(value)
            return value
        result = _template(source).render(**context)
    except Exception as exc:
        raise _fail(exc, source, context) from None
    if len(result) > _MAX_OUTPUT:
        raise TemplateError(f"template output is larger than {_MAX_OUTPUT} characters")
    return result


def _check_defined(value: Any) -> None:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (nested dicts and lists); keys stay as written."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def _strip_braces(expr: str) -> str:
    single = _SINGLE_EXPRESSION.match(expr)
    return single.group("expr") if single else expr


def evaluate(expr: str | bool, context: Mapping[str, Any]) -> bool:
    """Evaluate a ``when:`` condition, written bare or as ``{{ ... }}``."""
    if isinstance(expr, bool):
        return expr
    source = _strip_braces(expr)
    try:
        value = _expression(source)(**context)
        return bool(value)
    except Exception as exc:
        raise _fail(exc, expr, context, expression=True) from None


class Dumpable(Protocol):
    """A model the context takes as its JSON form (a pydantic model: ``model_dump``)."""

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


class DescribedItem(Protocol):
    """A catalog item as the context reads it: its ``metadata`` (pao_common cannot import
    ``pao_catalog_model.model.CatalogItem``: that library imports pao_common)."""

    @property
    def metadata(self) -> Dumpable: ...


def build_context(
    *,
    inputs: Mapping[str, Any] | None = None,
    user: Dumpable | Mapping[str, Any] | None = None,
    item: DescribedItem | Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    system: Mapping[str, Any] | None = None,
    steps: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context.

    ``user`` may be a dict or a model (``pao_common.messages.Requester``); ``item`` a dict of
    metadata or a ``CatalogItem`` (its ``metadata`` is used). ``steps`` maps a step id either
    to that step's outputs or to ``{"outputs": {...}}``. Without ``system.now`` the clock is
    read when ``now()`` is called. ``request.url``, unless given, is the request's page in
    the portal under ``system.portal_url``.
    """
    system_context = {"environment": "local", "portal_url": "", "now": None} | dict(system or {})
    request_context = {
        "id": None,
        "submitted_at": None,
        "item_version": None,
        "failure": None,
        "url": None,
    } | dict(request or {})
    if request_context["url"] is None and request_context["id"] is not None:
        request_context["url"] = request_url(
            str(system_context["portal_url"] or ""), str(request_context["id"])
        )
    return {
        "inputs": dict(inputs or {}),
        "user": _user(user),
        "item": _item(item),
        "request": request_context,
        "system": system_context,
        "steps": {step_id: _step(value) for step_id, value in (steps or {}).items()},
    }


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump(mode="json")
        if isinstance(dumped, dict):
            return dumped
    raise TemplateError(f"cannot use a {type(value).__name__} as template context")


def _user(user: Dumpable | Mapping[str, Any] | None) -> dict[str, Any]:
    data = _as_dict(user)
    base: dict[str, Any] = {
        "id": None,
        "email": None,
        "name": None,
        "teams": [],
        "roles": [],
        "manager": None,
    }
    return base | {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _item(item: DescribedItem | Mapping[str, Any] | None) -> dict[str, Any]:
    metadata = getattr(item, "metadata", None)
    data = _as_dict(metadata if metadata is not None else item)
    if isinstance(data.get("metadata"), Mapping):
        data = dict(data["metadata"])
    return data


_STEP_STATE_KEYS = {"outputs", "status", "attempts", "error"}


def _step(value: Any) -> dict[str, Any]:
    data = _as_dict(value)
    if "outputs" in data and set(data) <= _STEP_STATE_KEYS and isinstance(data["outputs"], Mapping):
        return data
    return {"outputs": data}


# --- static analysis ---------------------------------------------------------------------


def parse(source: str) -> nodes.Template:
    """Parse a template; raise ``TemplateError`` on a syntax error."""
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise _fail(exc, source) from None


def parse_expression(source: str) -> nodes.Expr:
    """Parse a ``when:`` condition (bare or in braces)."""
    try:
        parser = Parser(_ENV, _strip_braces(source), state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(f"unexpected {token.value!r}", token.lineno)
        return expr
    except TemplateSyntaxError as exc:
        raise _fail(exc, source) from None


def referenced_variables(source: str, *, expression: bool = False) -> set[tuple[str | int, ...]]:
    """Every variable path a template (or a bare expression) reads.

    ``"{{ steps.db.outputs.host }}:{{ inputs.port }}"`` gives
    ``{("steps", "db", "outputs", "host"), ("inputs", "port")}``. Paths stop at a dynamic
    subscript (``inputs[name]``); names a template binds itself (``for``, ``set``, macro
    arguments) and functions (``uuid``, ``now``, ``secret``...) are left out.
    """
    return set(_referenced(source, expression))


@lru_cache(maxsize=4096)
def _referenced(source: str, expression: bool) -> frozenset[tuple[str | int, ...]]:
    tree: nodes.Node = parse_expression(source) if expression else parse(source)
    bound = {
        n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")
    } | FUNCTION_NAMES
    found: set[tuple[str | int, ...]] = set()
    _collect(tree, found)
    return frozenset(path for path in found if path[0] not in bound)


def regex_problems(source: str, *, expression: bool = False) -> list[str]:
    """Why each literal ``regex_replace`` pattern in a template cannot run on RE2.

    Patterns are matched in linear time (pao_common.patterns), so one that needs
    backtracking is refused when the catalog loads instead of failing a request.
    """
    tree: nodes.Node = parse_expression(source) if expression else parse(source)
    problems = []
    for node in tree.find_all(nodes.Filter):
        if node.name != "regex_replace" or not node.args:
            continue
        pattern = node.args[0]
        if isinstance(pattern, nodes.Const) and isinstance(pattern.value, str):
            try:
                compile_pattern(pattern.value)
            except UnsupportedPattern as exc:
                problems.append(f"regex_replace: {exc}")
    return problems


def _chain(node: nodes.Node) -> tuple[str | int, ...] | None:
    parts: list[str | int] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str | int)
        ):
            parts.append(node.arg.value)
            node = node.node
        else:
            break
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return (node.name, *reversed(parts))
    return None


def _collect(node: nodes.Node, found: set[tuple[str | int, ...]]) -> None:
    chain = _chain(node)
    if chain is not None:
        found.add(chain)
        return
    for child in node.iter_child_nodes():
        _collect(child, found)


def template_strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every string inside a nested value, with its path (for validation messages)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_strings(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from template_strings(item, (*path, index))
