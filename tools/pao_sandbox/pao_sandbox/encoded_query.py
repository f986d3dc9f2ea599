"""ServiceNow encoded queries (``sysparm_query``): enough for the Table API's lookups.

Grammar, as ServiceNow writes it (field names are lower case, operators upper case)::

    query      := part {"^NQ" part}                       (NQ: OR of whole queries)
    part       := group {"^" group}  ["^ORDERBY" field | "^ORDERBYDESC" field ...]
    group      := condition {"^OR" condition}             (OR binds tighter than AND)
    condition  := field operator [value]
    operator   := = | != | > | >= | < | <= | LIKE | NOTLIKE | NOT LIKE | STARTSWITH |
                  ENDSWITH | IN | NOT IN | ISEMPTY | ISNOTEMPTY

``a=1^ORa=2^b=3`` is ``(a = 1 OR a = 2) AND b = 3``. ``IN`` takes a comma list. Values
compare as text, ``LIKE`` is "contains", both case-insensitive like a default instance.
A condition on a field the table does not have matches no record: what an instance with
``glide.invalid_query.returns_no_rows = true`` (the recommended setting) answers, rather
than silently dropping the condition and returning every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Record = Mapping[str, str]
Predicate = Callable[[Record], bool]

_CONDITION = re.compile(
    r"^(?P<field>[a-z0-9_.]+)"
    r"(?P<op>ISNOTEMPTY|ISEMPTY|NOT LIKE|NOTLIKE|LIKE|STARTSWITH|ENDSWITH|NOT IN|IN|!=|>=|<=|=|>|<)"
    r"(?P<value>.*)$",
    re.DOTALL,
)


@dataclass
class EncodedQuery:
    predicate: Predicate
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def matches(self, record: Record) -> bool:
        return self.predicate(record)


def _compare(actual: str | None, op: str, value: str) -> bool:
    if actual is None:  # no such column
        return False
    a, v = actual.lower(), value.lower()
    if op == "ISEMPTY":
        return a == ""
    if op == "ISNOTEMPTY":
        return a != ""
    if op == "=":
        return a == v
    if op == "!=":
        return a != v
    if op == "LIKE":
        return v in a
    if op in ("NOTLIKE", "NOT LIKE"):
        return v not in a
    if op == "STARTSWITH":
        return a.startswith(v)
    if op == "ENDSWITH":
        return a.endswith(v)
    if op in ("IN", "NOT IN"):
        hit = a in {w.strip() for w in v.split(",")}
        return hit if op == "IN" else not hit
    try:
        return _ordered(float(a), op, float(v))
    except ValueError:
        return _ordered(a, op, v)


def _ordered(left: Any, op: str, right: Any) -> bool:
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


def _condition(text: str) -> Predicate:
    match = _CONDITION.match(text)
    if match is None:
        # ServiceNow ignores what it cannot read; an instance that refuses invalid
        # queries returns no rows.
        return lambda _record: False
    name, op, value = match["field"], match["op"], match["value"]
    return lambda record: _compare(record.get(name), op, value)


def parse(query: str) -> EncodedQuery:
    """The records ``query`` selects, and the order it asks for."""
    order: list[tuple[str, bool]] = []
    alternatives: list[Predicate] = []
    for part in query.split("^NQ"):
        groups: list[Predicate] = []
        for chunk in part.split("^"):
            if not chunk or chunk == "EQ":
                continue
            if chunk.startswith("ORDERBYDESC"):
                order.append((chunk[len("ORDERBYDESC") :], True))
                continue
            if chunk.startswith("ORDERBY"):
                order.append((chunk[len("ORDERBY") :], False))
                continue
            if chunk.startswith("OR") and groups and _CONDITION.match(chunk[2:]):
                previous, extra = groups[-1], _condition(chunk[2:])
                groups[-1] = lambda r, p=previous, e=extra: p(r) or e(r)  # type: ignore[misc]
                continue
            groups.append(_condition(chunk))
        alternatives.append(lambda r, gs=tuple(groups): all(g(r) for g in gs))  # type: ignore[misc]
    return EncodedQuery(lambda r: any(a(r) for a in alternatives), order)
