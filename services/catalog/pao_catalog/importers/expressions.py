"""Backstage ``${{ ... }}`` expressions rewritten as PAO templates, never evaluated.

Backstage templates use Nunjucks inside ``${{ }}``; PAO templates are Jinja2 inside
``{{ }}``. The two agree on most syntax, so an expression is rewritten token by token
(Jinja's own lexer): ``parameters.x`` -> ``inputs.x`` (the field's PAO id),
``steps.s.output.y`` -> ``steps.s.outputs.y``, ``secrets.t`` -> ``secret('t')``,
``===`` -> ``==``, the ``dump`` filter -> ``to_json``. An expression that reads what PAO
does not have (``user.entity``, a step that was not converted, a Backstage-only filter
such as ``parseRepoUrl``), calls a function, or names anything starting with ``_``
(``''.__class__``: Python internals) is not converted: it becomes the literal text it
was, so the item still validates and the gap shows wherever the value is used, and the
reason is returned for the report. Nothing from the template is ever executed here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from jinja2 import Environment, TemplateSyntaxError

MAX_EXPRESSION_CHARS = 2000
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_JINJA_OPENERS = re.compile(r"\{[{%#]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LEXER = Environment()

KEYWORDS = frozenset(
    {"and", "or", "not", "if", "else", "in", "is", "true", "false", "none", "True", "False", "None"}
)
#: Filters PAO's templating has under the same name and meaning.
FILTERS = frozenset(
    {
        "abs", "capitalize", "d", "default", "first", "float", "int", "join", "last", "length",
        "list", "lower", "max", "min", "replace", "reverse", "round", "slugify", "sort",
        "string", "title", "trim", "truncate", "unique", "upper", "wordcount", "to_json",
        "from_json", "regex_replace",
    }
)  # fmt: skip
RENAMED_FILTERS = {"dump": "to_json"}
BACKSTAGE_FILTERS = frozenset({"parseRepoUrl", "parseEntityRef", "pick", "projectSlug"})
TESTS = frozenset(
    {"defined", "undefined", "none", "string", "number", "integer", "float", "boolean",
     "true", "false", "mapping", "sequence", "eq", "ne", "in", "lower", "upper"}
)  # fmt: skip


@dataclass(frozen=True)
class FieldRef:
    """A converted parameter: its PAO field id and type."""

    id: str
    type: str
    always_set: bool = True  # required or defaulted: present in every request


@dataclass(frozen=True)
class StepRef:
    """A converted step: its PAO id and action type."""

    id: str
    action: str


@dataclass
class Scope:
    """What an expression may read, and how a REST step's response fields become outputs."""

    fields: dict[str, FieldRef] = field(default_factory=dict)
    steps: dict[str, StepRef] = field(default_factory=dict)
    rest_output: Callable[[str, str], str] | None = None


class _Unconvertible(Exception):
    pass


def literal(text: str) -> str:
    """A PAO template that renders ``text`` as it is."""
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "{{ " + quoted + " }}"


def convert_string(value: str, scope: Scope) -> tuple[str, list[str]]:
    """A Backstage string (``${{ }}`` expressions in text) as a PAO template string.

    Returns the template and the problems (empty: fully converted)."""
    problems: list[str] = []
    parts: list[str] = []
    position = 0
    for match in EXPRESSION.finditer(value):
        parts.append(_text(value[position : match.start()]))
        whole = match.start() == 0 and match.end() == len(value)
        converted, problem = convert_expression(match.group(1), scope, embedded=not whole)
        if converted is None:
            problems.append(f"{match.group(0).strip()}: {problem}")
            parts.append(literal(match.group(0)))
        else:
            parts.append("{{ " + converted + " }}")
        position = match.end()
    parts.append(_text(value[position:]))
    return "".join(parts), problems


def _text(text: str) -> str:
    # Plain text that Jinja would read as syntax ({{, {%, {#) is written as a literal.
    return literal(text) if _JINJA_OPENERS.search(text) else text


def convert_expression(
    expr: str, scope: Scope, *, embedded: bool = False
) -> tuple[str | None, str]:
    """The inside of one ``${{ }}`` as a PAO expression, or ``None`` and the reason.

    A parameter that may be absent from a request reads as Backstage reads it: nothing
    (``''`` inside text, ``none`` as a whole value, ``[]`` / ``{}`` for lists and maps),
    where PAO's templates would refuse an undefined variable."""
    try:
        return _rewrite(expr, scope, embedded), ""
    except _Unconvertible as exc:
        return None, str(exc)


def _rewrite(expr: str, scope: Scope, embedded: bool) -> str:
    inner = _tokens(expr)
    out: list[str] = []
    i = 0
    previous = ""
    while i < len(inner):
        kind, value = inner[i]
        if kind == "name":
            converted, i = _name(inner, i, previous, scope, embedded)
            out.append(converted)
            previous = value
            continue
        if kind == "operator" and value == "**":
            raise _Unconvertible("** (powers can build huge numbers)")
        if kind == "integer" and len(value.replace("_", "")) > 9:
            raise _Unconvertible(f"the number {value[:20]} is larger than an expression needs")
        out.append(value)
        if kind != "whitespace":
            previous = value
        i += 1
    return "".join(out).strip()


def _tokens(expr: str) -> list[tuple[str, str]]:
    """The tokens of ``expr``, refused unless it is one expression of names, operators and
    literals."""
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise _Unconvertible(f"longer than {MAX_EXPRESSION_CHARS} characters")
    source = expr.replace("!==", "!=").replace("===", "==").strip()
    if not source:
        raise _Unconvertible("empty expression")
    try:
        tokens = [(kind, value) for _, kind, value in _LEXER.lex("{{ " + source + " }}")]
    except TemplateSyntaxError as exc:
        raise _Unconvertible(f"not an expression PAO can read ({exc.message})") from None
    inner = tokens[1:-1]
    if (
        tokens[0][0] != "variable_begin"
        or tokens[-1][0] != "variable_end"
        or any(kind not in ("name", "operator", "string", "integer", "float", "whitespace")
               for kind, _ in inner)
    ):  # fmt: skip
        raise _Unconvertible("not a single expression")
    return inner


def _name(
    tokens: list[tuple[str, str]], i: int, previous: str, scope: Scope, embedded: bool
) -> tuple[str, int]:
    """The name at ``tokens[i]`` (``previous``: the token before it) converted: a filter,
    a test, a keyword, an attribute or a variable's chain; and the position after it."""
    value = tokens[i][1]
    if value.startswith("_"):
        raise _Unconvertible(f"{value}: reaches for Python internals")
    if previous == "|":
        return _filter(value), i + 1
    if previous == "is" or value in KEYWORDS:
        if previous == "is" and value not in TESTS:
            raise _Unconvertible(f"the test {value!r} is not one PAO has")
        return value, i + 1
    if previous == ".":
        return value, i + 1  # an attribute of a parenthesised value
    chain, i = _chain(tokens, i)
    if i < len(tokens) and tokens[i] == ("operator", "("):
        raise _Unconvertible(f"calls {'.'.join(map(str, chain))}(): PAO has no such function")
    return _variable(chain, scope, embedded), i


def _filter(name: str) -> str:
    if name in RENAMED_FILTERS:
        return RENAMED_FILTERS[name]
    if name in FILTERS:
        return name
    if name in BACKSTAGE_FILTERS:
        raise _Unconvertible(f"the Backstage filter {name!r} has no PAO counterpart")
    raise _Unconvertible(f"the filter {name!r} is not one PAO has")


def _chain(tokens: list[tuple[str, str]], i: int) -> tuple[list[str | int], int]:
    """``a.b['c'][0]`` from position ``i``: the names and where the chain ends."""
    chain: list[str | int] = [tokens[i][1]]
    i += 1
    while i < len(tokens):
        if tokens[i] == ("operator", ".") and i + 1 < len(tokens) and tokens[i + 1][0] == "name":
            chain.append(tokens[i + 1][1])
            i += 2
        elif (
            tokens[i] == ("operator", "[")
            and i + 2 < len(tokens)
            and tokens[i + 1][0] in ("string", "integer")
            and tokens[i + 2] == ("operator", "]")
        ):
            chain.append(ast.literal_eval(tokens[i + 1][1]))
            i += 3
        else:
            break
    for part in chain:
        if isinstance(part, str) and part.startswith("_"):
            raise _Unconvertible(f"{part}: reaches for Python internals")
    return chain, i


def _suffix(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += "[" + repr(part) + "]"
    return text


def _shown(chain: list[str | int]) -> str:
    return str(chain[0]) + _suffix(chain[1:])


def _variable(chain: list[str | int], scope: Scope, embedded: bool = False) -> str:
    root = chain[0]
    if root == "parameters":
        if len(chain) < 2 or str(chain[1]) not in scope.fields:
            raise _Unconvertible(f"{_shown(chain)}: no such parameter")
        ref = scope.fields[str(chain[1])]
        rest = chain[2:]
        if rest and ref.type not in ("keyvalue", "list", "multiselect"):
            raise _Unconvertible(f"{_shown(chain)}: {chain[1]} is a {ref.type}, it has no parts")
        if ref.always_set:
            return f"inputs.{ref.id}{_suffix(rest)}"
        empty = {"multiselect": "[]", "list": "[]", "keyvalue": "{}"}.get(
            ref.type, "''" if embedded else "none"
        )
        return f"(inputs.{ref.id} | default({empty})){_suffix(rest)}"
    if root == "steps":
        if len(chain) < 3 or chain[2] != "output":
            raise _Unconvertible(
                f"{_shown(chain)}: read a step's output as steps.<id>.output.<name>"
            )
        step = scope.steps.get(str(chain[1]))
        if step is None:
            raise _Unconvertible(f"{_shown(chain)}: the step {chain[1]} is not converted")
        rest = chain[3:]
        if step.action == "rest" and rest and rest[0] == "body" and scope.rest_output:
            path = "$" + _suffix(rest[1:])
            return f"steps.{step.id}.outputs.{scope.rest_output(step.id, path)}"
        return f"steps.{step.id}.outputs{_suffix(rest)}"
    if root == "secrets":
        if len(chain) != 2:
            raise _Unconvertible(f"{_shown(chain)}: a secret is secrets.<name>")
        return "secret(" + repr(str(chain[1])) + ")"
    if root == "user":
        raise _Unconvertible(
            f"{_shown(chain)}: Backstage's user entity is not in PAO; the requester is "
            "user.id, user.email, user.name, user.teams"
        )
    raise _Unconvertible(f"{_shown(chain)}: not a variable PAO has")
