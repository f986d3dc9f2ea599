"""A small JQL: enough for executors that look tickets up by key, label or status.

Grammar (case-insensitive keywords)::

    query   := [expr] [ORDER BY field [ASC|DESC] {, field [ASC|DESC]}]
    expr    := term {OR term}
    term    := factor {AND factor}
    factor  := NOT factor | "(" expr ")" | clause
    clause  := field op value
    op      := = | != | ~ | !~ | > | >= | < | <= | IN | NOT IN | IS | IS NOT
    value   := "quoted" | 'quoted' | word | "(" value {, value} ")" | EMPTY | NULL | fn()

Fields are resolved by a ``FieldLookup`` (the JIRA sandbox's issue store), which
returns the values of one field of one issue as a list of strings (empty = EMPTY).
A query that does not parse, or names a field the lookup does not know, raises
``JqlError`` with JIRA's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pao_sandbox.errors import SandboxApiError


class JqlError(SandboxApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


FieldLookup = Callable[[Any, str], list[str] | None]
"""``lookup(issue, field)`` -> the field's values, or None if the field does not exist."""

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|>=|<=|=|~|>|<)
      | (?P<punct>[(),])
      | (?P<word>[^\s()=!~<>,"']+)
    )""",
    re.VERBOSE,
)


@dataclass
class _Tok:
    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _tokenize(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    query = query.rstrip()
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        pos = match.end()
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(_Tok(kind, text))
    return tokens


Predicate = Callable[[Any], bool]


@dataclass
class Query:
    predicate: Predicate
    order_by: list[tuple[str, bool]]  # (field, descending)
    fields: set[str]


class _Parser:
    def __init__(self, tokens: list[_Tok], lookup: FieldLookup, known: Callable[[str], bool]):
        self.tokens = tokens
        self.pos = 0
        self.lookup = lookup
        self.known = known
        self.fields: set[str] = set()

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise JqlError("Error in the JQL Query: the query ends unexpectedly.")
        self.pos += 1
        return tok

    def parse(self) -> Query:
        predicate: Predicate = lambda _issue: True  # noqa: E731
        first = self.peek()
        if first is not None and not (first.upper == "ORDER" and _is(self.peek(1), "BY")):
            predicate = self.expr()
        order: list[tuple[str, bool]] = []
        tok = self.peek()
        if tok is not None:
            if tok.upper != "ORDER" or not _is(self.peek(1), "BY"):
                raise JqlError(
                    f"Error in the JQL Query: expecting AND, OR or ORDER BY but got '{tok.text}'."
                )
            self.pos += 2
            while True:
                name = self.field_name()
                descending = False
                if (following := self.peek()) is not None and following.upper in ("ASC", "DESC"):
                    descending = self.next().upper == "DESC"
                order.append((name, descending))
                if (following := self.peek()) is not None and following.text == ",":
                    self.pos += 1
                    continue
                break
            if (rest := self.peek()) is not None:
                raise JqlError(f"Error in the JQL Query: unexpected '{rest.text}'.")
        return Query(predicate, order, self.fields)

    def expr(self) -> Predicate:
        parts = [self.term()]
        while _is(self.peek(), "OR"):
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else lambda issue: any(p(issue) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while _is(self.peek(), "AND"):
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else lambda issue: all(p(issue) for p in parts)

    def factor(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.upper == "NOT" and not _is(self.peek(1), "IN"):
            self.pos += 1
            inner = self.factor()
            return lambda issue: not inner(issue)
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.pos += 1
            inner = self.expr()
            self.expect(")")
            return inner
        return self.clause()

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise JqlError(f"Error in the JQL Query: expecting '{text}' but got '{tok.text}'.")

    def field_name(self) -> str:
        tok = self.next()
        if tok.kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: expecting a field name but got '{tok.text}'.")
        name = tok.text
        if not self.known(name):
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        self.fields.add(name)
        return name

    def clause(self) -> Predicate:
        name = self.field_name()
        tok = self.next()
        op = tok.text if tok.kind == "op" else tok.upper
        if op == "NOT" and _is(self.peek(), "IN"):
            self.pos += 1
            op = "NOT IN"
        elif op == "IS" and _is(self.peek(), "NOT"):
            self.pos += 1
            op = "IS NOT"
        if op not in ("=", "!=", "~", "!~", ">", ">=", "<", "<=", "IN", "NOT IN", "IS", "IS NOT"):
            raise JqlError(f"Error in the JQL Query: expecting an operator but got '{tok.text}'.")
        values = self.values() if op in ("IN", "NOT IN") else [self.value()]
        lookup = self.lookup
        return lambda issue: _compare(lookup(issue, name) or [], op, values)

    def value(self) -> str | None:
        tok = self.next()
        if tok.kind == "str":
            return tok.text
        if tok.kind != "word":
            raise JqlError(f"Error in the JQL Query: expecting a value but got '{tok.text}'.")
        if tok.upper in ("EMPTY", "NULL"):
            return None
        nxt = self.peek()
        if nxt is not None and nxt.text == "(":  # a function such as currentUser()
            self.pos += 1
            while self.next().text != ")":
                pass
            return f"{tok.text}()"
        return tok.text

    def values(self) -> list[str | None]:
        self.expect("(")
        values = [self.value()]
        while (following := self.peek()) is not None and following.text == ",":
            self.pos += 1
            values.append(self.value())
        self.expect(")")
        return values


def _is(tok: _Tok | None, word: str) -> bool:
    return tok is not None and tok.upper == word


def _compare(actual: Sequence[str], op: str, wanted: list[str | None]) -> bool:
    lowered = [a.lower() for a in actual]
    if op in ("IS", "IS NOT"):
        empty = not actual
        return empty if op == "IS" else not empty
    target = wanted[0]
    if op in ("IN", "NOT IN"):
        hit = any(
            (w is None and not actual) or (w is not None and w.lower() in lowered) for w in wanted
        )
        return hit if op == "IN" else not hit
    if target is None:
        return (not actual) if op == "=" else bool(actual)
    if op == "=":
        return target.lower() in lowered
    if op == "!=":
        return target.lower() not in lowered
    if op in ("~", "!~"):
        words = [w for w in re.split(r"\W+", target.lower().strip("*")) if w]
        text = " ".join(lowered)
        hit = all(w in text for w in words)
        return hit if op == "~" else not hit
    if not actual:
        return False
    value = actual[0]
    if op == ">":
        return value > target
    if op == ">=":
        return value >= target
    if op == "<":
        return value < target
    return value <= target


def parse(query: str, lookup: FieldLookup, known: Callable[[str], bool]) -> Query:
    """Parse ``query``; the returned predicate calls ``lookup`` on each issue tested."""
    return _Parser(_tokenize(query), lookup, known).parse()
