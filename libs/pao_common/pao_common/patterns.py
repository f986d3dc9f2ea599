"""Regular expressions from catalog documents, matched with RE2: time linear in the input.

A field's ``validation.pattern`` (and a template's ``regex_replace``) is written by a
platform team and applied to what a requester sends. Python's ``re`` backtracks: against
``^(a+)+$`` a 33-character input took over 20 s of CPU, so one request per item could
stall a worker. RE2 (PyPI ``google-re2``) never backtracks; the price is that it lacks the
features that need backtracking (lookaround, backreferences, possessive quantifiers,
atomic groups, conditionals), and the catalog refuses those at load.

The portal validates the same ``pattern`` in the browser (JSON Schema with ECMAScript
regular expressions, ``u`` flag, as react-jsonschema-form's ajv does), so a pattern the
two engines would read differently is refused at load too: ``\\A``/``\\z``/``\\Z``,
``(?P<name>``, inline flags, POSIX classes, ``\\x{..}``, ``\\pL``, scripts in ``\\p{..}``,
``{,n}``, literal braces, a ``]`` first in a class, and escapes the ``u`` flag rejects.
Left alone because they only differ on rare characters: ``\\s`` (RE2: ASCII whitespace;
browser: Unicode too) and ``.`` (RE2 stops at ``\\n``; the browser also at ``\\r``,
U+2028, U+2029).

- ``pattern_problem(p)``: why the catalog refuses ``p`` at load, or ``None``;
- ``compile_pattern(p)``: the compiled RE2 pattern (cached), or ``UnsupportedPattern``;
- ``search(p, text)``: the JSON Schema ``pattern`` test (unanchored, like ECMAScript's);
- ``substitute(p, replacement, text)``: ``re.sub`` semantics, RE2 matching;
- ``linear_time_validator(cls)``: a jsonschema validator class whose ``pattern`` and
  ``patternProperties`` keywords go through ``compile_pattern``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar, cast

import re2
from jsonschema import validators
from jsonschema.exceptions import ValidationError

from pao_common.errors import UnsupportedPattern

__all__ = [
    "CompiledPattern",
    "compile_pattern",
    "linear_time_validator",
    "pattern_problem",
    "search",
    "substitute",
]


class PatternMatch(Protocol):
    def group(self, group: int | str = 0) -> str | None: ...


class CompiledPattern(Protocol):
    """The part of an RE2 pattern PAO uses."""

    groups: int
    groupindex: Mapping[str, int]

    def search(self, text: str) -> PatternMatch | None: ...

    def sub(self, repl: Callable[[PatternMatch], str], text: str, count: int = 0) -> str: ...


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported by us, not on stderr
    return options


_OPTIONS = _options()


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> CompiledPattern:
    """``pattern`` compiled with RE2; ``UnsupportedPattern`` if RE2 cannot run it."""
    problem = _scan(pattern).engine
    if problem is not None:
        raise UnsupportedPattern(pattern, problem)
    try:
        return cast(CompiledPattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise UnsupportedPattern(
            pattern, f"the linear-time engine (RE2) cannot compile it: {detail}"
        ) from None


def pattern_problem(pattern: str) -> str | None:
    """Why a catalog may not declare ``pattern`` (RE2 cannot run it, or the portal's
    browser reads it differently), or ``None`` when it is fine."""
    try:
        compile_pattern(pattern)
    except UnsupportedPattern as exc:
        return exc.reason
    return _scan(pattern).portal


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (JSON Schema's ``pattern``)."""
    return compile_pattern(pattern).search(text) is not None


# --- what RE2 lacks and what the browser reads differently ---------------------------------


class _Findings:
    def __init__(self) -> None:
        self.engine: str | None = None
        self.portal: str | None = None

    def unsupported(self, reason: str) -> None:
        self.engine = self.engine or reason

    def differs(self, reason: str) -> None:
        self.portal = self.portal or reason


_LOOKAROUND = {
    "=": "a lookahead (?=...)",
    "!": "a negative lookahead (?!...)",
    "<=": "a lookbehind (?<=...)",
    "<!": "a negative lookbehind (?<!...)",
    ">": "an atomic group (?>...)",
    "(": "a conditional (?(...)...)",
    "P=": "a named backreference (?P=name)",
    "P>": "a recursive call (?P>name)",
    "#": "a comment group (?#...)",
}
#: Escapes that mean the same in RE2 and in ECMAScript with the ``u`` flag.
_SHARED_ESCAPES = frozenset("dDwWsSfnrtv") | frozenset("^$\\.*+?()[]{}|/")
#: ``\p{..}`` names both engines read as the same Unicode general category.
_GENERAL_CATEGORIES = frozenset(
    [
        "C",
        "Cc",
        "Cf",
        "Co",
        "Cs",
        "L",
        "Ll",
        "Lm",
        "Lo",
        "Lt",
        "Lu",
        "M",
        "Mc",
        "Me",
        "Mn",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Pe",
        "Pf",
        "Pi",
        "Po",
        "Ps",
        "S",
        "Sc",
        "Sk",
        "Sm",
        "So",
        "Z",
        "Zl",
        "Zp",
        "Zs",
    ]
)
_BRACES = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")  # fixed and linear: runs on the pattern only
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


@functools.lru_cache(maxsize=1024)
def _scan(pattern: str) -> _Findings:
    """One pass over ``pattern``: the first feature RE2 lacks, the first browser mismatch."""
    found = _Findings()
    i, n = 0, len(pattern)
    in_class = class_start = after_quantifier = False
    while i < n:
        c = pattern[i]
        quantifier = False
        if c == "\\" and i + 1 < n:
            i = _escape(pattern, i, in_class, found)
        elif in_class:
            if c == "]" and class_start:
                found.differs(
                    "']' first in a class is a literal for the server but ends an empty class "
                    r"in the portal's browser validation: write \]"
                )
            elif c == "]":
                in_class = False
            elif pattern.startswith("[:", i):
                found.differs(
                    "POSIX classes like [[:alpha:]] are not understood by the portal's "
                    "browser validation"
                )
            i += 1
        elif c == "[":
            in_class, class_start = True, True
            i += 2 if pattern.startswith("[^", i) else 1
            continue
        elif pattern.startswith("(?", i):
            _group(pattern[i + 2 : i + 4], found)
            i += 2
        elif c in "*+?":
            if after_quantifier and c == "+":
                found.unsupported(
                    "the pattern uses a possessive quantifier (*+, ++, ?+, {n}+), which the "
                    "linear-time engine (RE2) does not support"
                )
            elif after_quantifier and c == "*":
                found.differs("a quantifier follows a quantifier")
            quantifier = not after_quantifier  # a ? after a quantifier makes it lazy
            i += 1
        elif c == "{":
            braces = _BRACES.match(pattern, i)
            if braces is not None and braces.group(1):
                quantifier = True
                i = braces.end()
            else:
                found.differs(
                    "{,n} means {0,n} to Python but a literal to RE2; write {0,n}"
                    if braces is not None and braces.group(3)
                    else r"a literal '{' must be escaped as \{"
                )
                i += 1
        elif c == "}":
            found.differs(r"a literal '}' must be escaped as \}")
            i += 1
        else:
            i += 1
        class_start = False
        after_quantifier = quantifier
    return found


def _group(opener: str, found: _Findings) -> None:
    """``opener``: the two characters after ``(?``."""
    for prefix, feature in _LOOKAROUND.items():
        if opener.startswith(prefix):
            found.unsupported(
                f"the pattern uses {feature}, which the linear-time engine (RE2) does not support"
            )
            return
    if opener.startswith("P<"):
        found.differs(
            "the portal's browser validation does not understand (?P<name>...): write (?<name>...)"
        )
    elif not opener.startswith((":", "<")):
        found.differs(
            "inline flags such as (?i) are not understood by the portal's browser validation"
        )


def _escape(pattern: str, i: int, in_class: bool, found: _Findings) -> int:
    """Check the escape at ``pattern[i]`` (a backslash); the index after it."""
    e = pattern[i + 1]
    end = i + 2
    if e in "pP":
        return _category_escape(pattern, e, end, found)
    if e == "x":
        return _hex_escape(pattern, end, found)
    if e in "123456789" or e == "k":
        found.unsupported(
            "the pattern uses a backreference, which the linear-time engine (RE2) does not support"
        )
    elif e == "u":
        found.unsupported(r"\u escapes are not understood by RE2: write the character itself")
    elif e == "Z":
        found.unsupported(r"\Z is not understood by RE2 (nor the browser): use $")
    elif e in "Az":
        found.differs(
            rf"\{e} is not understood by the portal's browser validation: "
            f"use {'^' if e == 'A' else '$'}"
        )
    elif e in "QEC":
        found.differs(rf"\{e} is not understood by the portal's browser validation")
    elif e == "0":
        if pattern[end : end + 1].isdigit():
            found.differs(
                r"octal escapes are not understood by the portal's browser validation: use \xHH"
            )
    elif e in "bB":
        if in_class:
            found.unsupported(r"\b inside a class is not understood by RE2")
    elif not (e in _SHARED_ESCAPES or (e == "-" and in_class)):
        found.differs(
            rf"\{e} is an error in the portal's browser validation (u flag): "
            r"escape only ^$\.*+?()[]{}|/ (and - in a class)"
        )
    return end


def _category_escape(pattern: str, e: str, end: int, found: _Findings) -> int:
    """``\\p{..}`` / ``\\P{..}`` (``e``: p or P, ``end``: after it); the index after it."""
    close = pattern.find("}", end)
    if not pattern.startswith("{", end) or close < 0:
        found.differs(rf"write \{e}X as \{e}{{X}}")
        return end
    if pattern[end + 1 : close] not in _GENERAL_CATEGORIES:
        found.differs(
            rf"\{e}{{{pattern[end + 1 : close]}}}: only general categories such as "
            r"\p{L} or \p{Nd} read the same in the portal's browser validation"
        )
    return close + 1


def _hex_escape(pattern: str, end: int, found: _Findings) -> int:
    """``\\xHH`` (``end``: after the x); the index after it."""
    if _HEX2.match(pattern, end):
        return end + 2
    found.differs(r"write \x{..} as \xHH or as the character itself")
    return end


# --- substitution ---------------------------------------------------------------------------

_TEMPLATE_PIECE = re.compile(r"\\(?:g<([^>]*)>|([1-9][0-9]?)|(.))", re.DOTALL)
_TEMPLATE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "b": "\b",
    "\\": "\\",
}


def substitute(pattern: str, replacement: str, text: str, count: int = 0) -> str:
    """``re.sub(pattern, replacement, text, count)`` with RE2 matching.

    ``replacement`` reads as in ``re``: ``\\1``, ``\\g<1>``, ``\\g<name>``, ``\\n``...
    (google-re2's own expansion garbles non-ASCII replacements, so it is not used).
    """
    compiled = compile_pattern(pattern)
    pieces = _replacement_pieces(compiled, replacement)

    def expand(match: PatternMatch) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p.group) or "") for p in pieces)

    return compiled.sub(expand, text, count)


class _GroupRef:
    __slots__ = ("group",)

    def __init__(self, group: int | str) -> None:
        self.group = group


def _replacement_pieces(compiled: CompiledPattern, replacement: str) -> list[str | _GroupRef]:
    pieces: list[str | _GroupRef] = []
    last = 0
    for piece in _TEMPLATE_PIECE.finditer(replacement):
        pieces.append(replacement[last : piece.start()])
        last = piece.end()
        name, number, other = piece.groups()
        if other is not None:
            if other.isascii() and other.isalnum() and other not in _TEMPLATE_ESCAPES:
                raise UnsupportedPattern(replacement, f"bad escape \\{other} in the replacement")
            pieces.append(_TEMPLATE_ESCAPES.get(other, "\\" + other))
            continue
        group: int | str = int(number) if number is not None else name
        if isinstance(group, str) and group.isdigit():
            group = int(group)
        known = (
            0 <= group <= compiled.groups
            if isinstance(group, int)
            else group in compiled.groupindex
        )
        if not known:
            raise UnsupportedPattern(replacement, f"the pattern has no group {group}")
        pieces.append(_GroupRef(group))
    pieces.append(replacement[last:])
    return [p for p in pieces if p != ""]


# --- jsonschema -----------------------------------------------------------------------------

V = TypeVar("V")


def _pattern_keyword(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = search(pattern, instance)
    except UnsupportedPattern as exc:  # fail closed: a pattern that cannot run admits nothing
        yield ValidationError(f"the pattern {pattern!r} cannot be checked: {exc.reason}", cause=exc)
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties_keyword(
    validator: Any, pattern_properties: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        try:
            compiled = compile_pattern(pattern)
        except UnsupportedPattern as exc:
            yield ValidationError(
                f"the pattern {pattern!r} cannot be checked: {exc.reason}", cause=exc
            )
            continue
        for key, value in instance.items():
            if compiled.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def linear_time_validator(validator_class: type[V]) -> type[V]:
    """``validator_class`` with ``pattern`` and ``patternProperties`` matched by RE2.

    A new class per call: build it once (a module constant) and instantiate that.

    (jsonschema's ``additionalProperties``/``unevaluatedProperties`` still consult
    ``patternProperties`` with ``re``: schemas validated this way should not use it.)
    """
    extended = validators.extend(  # type: ignore[no-untyped-call]
        validator_class,
        {"pattern": _pattern_keyword, "patternProperties": _pattern_properties_keyword},
    )
    return cast(type[V], extended)
