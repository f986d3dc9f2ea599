"""The change calendar: freeze windows, and what a change of a class meets in one. Once.

``policies/change-calendar.yaml`` (``PAO_CHANGE_CALENDAR``) is a versioned document:
windows that recur every year (``yearly: {start: "09-01", end: "02-01"}``, wrapping the
new year) or happen once (``once: {start: 2026-12-23T18:00, end: 2027-01-04}``), each in
a time zone, for some change classes, optionally only for some items or the items of
some owner teams (``metadata.owner``), with an action:

- ``hold``: the request waits in status ``scheduled`` until the window ends, then starts;
- ``escalate``: an extra approval stage by a named team (a change advisory board);
- ``deny``: refused (the gateway answers 422 naming the window and its end).

A role named under ``emergency:`` may override a window with a reason. ``end`` is
exclusive: the window is over at that instant. Two windows that could both apply to one
request at one moment are an error, so at most one window applies (``verdict``).

The orchestrator's domain decides with ``verdict`` (the clock is its input), the gateway
pre-checks ``deny`` with the same function, and ``pao policy preview`` prints it. The
document is validated when it loads, like a catalog item: every problem is one
``file:line path: why`` (``InvalidChangeCalendar``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pao_common.errors import InvalidChangeCalendar

ChangeClassName = Literal["standard", "normal", "major"]
CHANGE_CLASSES: tuple[str, ...] = ("standard", "normal", "major")
Action = Literal["hold", "escalate", "deny"]

_YEARLY = re.compile(r"^(?P<m>[0-9]{2})-(?P<d>[0-9]{2})(?:[T ](?P<H>[0-9]{2}):(?P<M>[0-9]{2}))?$")
_ONCE = re.compile(
    r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?)?$"
)
_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Span(_Model):
    """``start`` and ``end`` (exclusive), local times in the window's zone."""

    start: str
    end: str


class Escalation(_Model):
    team: str = Field(min_length=1)
    stage_name: str = "change advisory board"
    expires_after: str = "72h"

    @property
    def expires_after_s(self) -> int:
        match = _DURATION.match(self.expires_after)
        if not match:
            raise ValueError(f"not a duration like 30m, 72h or 7d: {self.expires_after!r}")
        return int(match["n"]) * _SECONDS[match["unit"]]


class Window(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    description: str = ""
    yearly: Span | None = None
    once: Span | None = None
    timezone: str | None = None  # None: the calendar's
    classes: tuple[ChangeClassName, ...] = Field(min_length=1)
    items: tuple[str, ...] = ()  # empty: every item
    teams: tuple[str, ...] = ()  # owner teams (metadata.owner); empty: every team
    action: Action
    escalate_to: Escalation | None = None

    def applies_to(self, change_class: str, item_id: str | None, owner: str | None) -> bool:
        return (
            change_class in self.classes
            and (not self.items or item_id in self.items)
            and (not self.teams or owner in self.teams)
        )


class Emergency(_Model):
    role: str = Field(min_length=1)
    description: str = ""


RiskName = Literal["very_high", "high", "moderate", "low"]


def _default_risks() -> dict[ChangeClassName, RiskName]:
    return {"normal": "moderate", "major": "high"}


class ChangeRequests(_Model):
    """``change_requests:``: open a ServiceNow change request for changes of ``classes``
    (of ``items`` / of the items of ``teams``; empty: all) and wait for its approval."""

    system: Literal["servicenow"] = "servicenow"
    classes: tuple[ChangeClassName, ...] = ("normal", "major")
    items: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    # the planned window: from when the change would start, for this long
    planned_duration: str = "4h"
    risk: dict[ChangeClassName, RiskName] = Field(default_factory=_default_risks)
    assignment_group: str | None = None
    category: str | None = None

    def applies_to(self, change_class: str, item_id: str | None, owner: str | None) -> bool:
        return (
            change_class in self.classes
            and (not self.items or item_id in self.items)
            and (not self.teams or owner in self.teams)
        )

    @property
    def planned_duration_s(self) -> int:
        match = _DURATION.match(self.planned_duration)
        if not match:
            raise ValueError(f"not a duration like 30m, 4h or 2d: {self.planned_duration!r}")
        return int(match["n"]) * _SECONDS[match["unit"]]

    def risk_of(self, change_class: str) -> str:
        """The risk name of a change of ``change_class`` (``high`` for major by default)."""
        for name, risk in self.risk.items():
            if name == change_class:
                return risk
        return "high" if change_class == "major" else "moderate"


class ChangeCalendar(_Model):
    schema_version: Literal["1.0"] = Field("1.0", alias="schemaVersion")
    kind: Literal["ChangeCalendar"] = "ChangeCalendar"
    version: str = Field(min_length=1)
    timezone: str = "UTC"
    emergency: Emergency | None = None
    windows: tuple[Window, ...] = ()
    change_requests: ChangeRequests | None = None

    def zone(self, window: Window) -> ZoneInfo:
        return ZoneInfo(window.timezone or self.timezone)

    def may_override(self, roles: Iterable[str]) -> bool:
        """Whether someone with ``roles`` may override a window (with a reason)."""
        return self.emergency is not None and self.emergency.role in set(roles)


@dataclass(frozen=True)
class Verdict:
    """The window a change meets now, and what it does to it."""

    window: str
    action: Action
    start: datetime  # UTC
    end: datetime  # UTC, exclusive: the change may run from then on
    calendar_version: str
    description: str = ""
    escalate_to: Escalation | None = None
    timezone: str = "UTC"

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(ZoneInfo(self.timezone))

    def explain(self, change_class: str) -> str:
        """One line a person reads (the gateway's 422, the CLI)."""
        end = self.local_end.isoformat()
        if self.action == "hold":
            return f"change window {self.window} holds {change_class} changes until {end}"
        if self.action == "escalate":
            team = self.escalate_to.team if self.escalate_to else "?"
            return (
                f"change window {self.window} (until {end}) needs an extra approval by {team}"
                f" for {change_class} changes"
            )
        return f"change window {self.window} denies {change_class} changes until {end}"


# --- time ----------------------------------------------------------------------------------


def _yearly_at(text: str, year: int, zone: ZoneInfo) -> datetime:
    match = _YEARLY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not MM-DD or MM-DDTHH:MM")
    return datetime(
        year, int(match["m"]), int(match["d"]), int(match["H"] or 0), int(match["M"] or 0),
        tzinfo=zone,
    )  # fmt: skip


def _once_at(text: str, zone: ZoneInfo) -> datetime:
    match = _ONCE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    return datetime(
        int(match["y"]), int(match["m"]), int(match["d"]),
        int(match["H"] or 0), int(match["M"] or 0), int(match["S"] or 0),
        tzinfo=zone,
    )  # fmt: skip


def occurrences(
    window: Window, zone: ZoneInfo, years: Iterable[int]
) -> Iterator[tuple[datetime, datetime]]:
    """The window's ``(start, end)`` instants (UTC) that start in ``years`` (a one-off
    window: its one occurrence, whatever ``years``)."""
    if window.once is not None:
        yield (
            _once_at(window.once.start, zone).astimezone(UTC),
            _once_at(window.once.end, zone).astimezone(UTC),
        )
        return
    assert window.yearly is not None
    span = window.yearly
    wraps = _yearly_at(span.end, 2024, zone) < _yearly_at(span.start, 2024, zone)
    for year in years:
        start = _yearly_at(span.start, year, zone)
        end = _yearly_at(span.end, year + 1 if wraps else year, zone)
        yield start.astimezone(UTC), end.astimezone(UTC)


def _around(at: datetime) -> range:
    return range(at.year - 1, at.year + 1)


def active(
    calendar: ChangeCalendar, window: Window, at: datetime
) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` that ``at`` (aware) falls in, if any."""
    at = at.astimezone(UTC)
    for start, end in occurrences(window, calendar.zone(window), _around(at)):
        if start <= at < end:
            return start, end
    return None


def verdict(
    calendar: ChangeCalendar | None,
    at: datetime,
    change_class: str,
    *,
    item_id: str | None,
    owner: str | None,
) -> Verdict | None:
    """The window a ``change_class`` change of ``item_id`` (owned by ``owner``) meets at
    ``at``, or None when it may run. Windows never overlap for one request (checked at
    load), so the first found is the only one."""
    if calendar is None:
        return None
    for window in calendar.windows:
        if not window.applies_to(change_class, item_id, owner):
            continue
        span = active(calendar, window, at)
        if span is None:
            continue
        return Verdict(
            window=window.name,
            action=window.action,
            start=span[0],
            end=span[1],
            calendar_version=calendar.version,
            description=window.description,
            escalate_to=window.escalate_to,
            timezone=window.timezone or calendar.timezone,
        )
    return None


# --- checks ----------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or UTC)"
    return None


def _span_problems(window: Window, at: Path_, zone: ZoneInfo | None) -> Iterator[tuple[Path_, str]]:
    if (window.yearly is None) == (window.once is None):
        yield at, "a window is either yearly: or once: (exactly one of them)"
        return
    kind = "yearly" if window.yearly is not None else "once"
    span = window.yearly or window.once
    assert span is not None
    parsed: dict[str, datetime] = {}
    for part in ("start", "end"):
        text = getattr(span, part)
        try:
            if kind == "yearly":
                # A leap year, so 02-29 parses; it is refused below (not every year has it).
                parsed[part] = _yearly_at(text, 2024, zone or ZoneInfo("UTC"))
                if text.startswith("02-29"):
                    yield (*at, kind, part), "02-29 is not in every year"
            else:
                parsed[part] = _once_at(text, zone or ZoneInfo("UTC"))
        except ValueError as exc:
            yield (*at, kind, part), str(exc)
    if len(parsed) < 2:
        return
    if kind == "once" and parsed["end"] <= parsed["start"]:
        yield (*at, "once", "end"), f"ends ({span.end}) before it starts ({span.start}): inverted"
    if kind == "yearly" and parsed["end"] == parsed["start"]:
        yield (*at, "yearly", "end"), "starts and ends at the same moment: an empty window"


def _may_meet(a: Window, b: Window) -> bool:
    """Whether one request could be in scope of both (owner teams are not known here)."""
    if not set(a.classes) & set(b.classes):
        return False
    if a.items and b.items and not set(a.items) & set(b.items):
        return False
    return not (a.teams and b.teams and not set(a.teams) & set(b.teams))


def _spans(calendar: ChangeCalendar, w: Window, other: Window) -> list[tuple[datetime, datetime]]:
    years: Sequence[int] = range(2023, 2027)  # a leap year and the years around it
    if other.once is not None:
        start = _once_at(other.once.start, calendar.zone(other))
        years = range(start.year - 1, start.year + 2)
    return list(occurrences(w, calendar.zone(w), years))


def meaning_problems(calendar: ChangeCalendar) -> Iterator[tuple[Path_, str]]:
    if (problem := _zone_problem(calendar.timezone)) is not None:
        yield ("timezone",), problem
    sound: list[tuple[int, Window]] = []  # the windows whose times can be compared
    names: dict[str, int] = {}
    for index, window in enumerate(calendar.windows):
        at: Path_ = ("windows", index)
        if window.name in names:
            yield (
                (*at, "name"),
                f"window {window.name!r} is declared twice (also #{names[window.name] + 1})",
            )
        names.setdefault(window.name, index)
        zone_problem, zone = _window_zone(calendar, window)
        if zone_problem:
            yield (*at, "timezone"), zone_problem
        spans = list(_span_problems(window, at, zone))
        yield from spans
        yield from _escalation_problems(window, at)
        if not spans and zone is not None:
            sound.append((index, window))
    if calendar.change_requests is not None:
        yield from _change_request_problems(calendar.change_requests)
    yield from _overlap_problems(calendar, sound)


def _window_zone(calendar: ChangeCalendar, window: Window) -> tuple[str | None, ZoneInfo | None]:
    """The problem of the window's own zone, if any; else its zone if it can be used."""
    if window.timezone is not None and (problem := _zone_problem(window.timezone)):
        return problem, None
    if _zone_problem(window.timezone or calendar.timezone) is None:
        return None, calendar.zone(window)
    return None, None


def _escalation_problems(window: Window, at: Path_) -> Iterator[tuple[Path_, str]]:
    if window.action == "escalate" and window.escalate_to is None:
        yield (*at, "action"), "action escalate names the team: escalate_to: {team: ...}"
    if window.action != "escalate" and window.escalate_to is not None:
        yield (*at, "escalate_to"), f"escalate_to: has no effect with action {window.action}"
    if window.escalate_to is not None:
        try:
            window.escalate_to.expires_after_s  # noqa: B018 - parses it
        except ValueError as exc:
            yield (*at, "escalate_to", "expires_after"), str(exc)


def _change_request_problems(requests: ChangeRequests) -> Iterator[tuple[Path_, str]]:
    if "standard" in requests.classes:
        yield (
            ("change_requests", "classes"),
            "standard changes are pre-approved: there is no change approval to wait for"
            " (list normal and/or major)",
        )
    if not requests.classes:
        yield ("change_requests", "classes"), "name at least one class (normal, major)"
    try:
        requests.planned_duration_s  # noqa: B018 - parses it
    except ValueError as exc:
        yield ("change_requests", "planned_duration"), str(exc)


def _overlap_problems(
    calendar: ChangeCalendar, sound: list[tuple[int, Window]]
) -> Iterator[tuple[Path_, str]]:
    """Each window that one request could meet together with an earlier window."""
    for n, (i, a) in enumerate(sound):
        for j, b in sound[n + 1 :]:
            if not _may_meet(a, b):
                continue
            when = _first_overlap(calendar, a, b)
            if when is not None:
                yield (
                    ("windows", j),
                    f"window {b.name!r} overlaps window {a.name!r} (#{i + 1}) at {when} for"
                    f" {', '.join(sorted(set(a.classes) & set(b.classes)))} changes:"
                    " one request would meet both",
                )


def _first_overlap(calendar: ChangeCalendar, a: Window, b: Window) -> str | None:
    """Where ``a`` and ``b`` first overlap: the start of the overlap of ``a``'s first span
    that meets one of ``b``'s, in ``b``'s zone (None: they never do)."""
    for a_start, a_end in _spans(calendar, a, b):
        clash = next(
            (
                (b_start, b_end)
                for b_start, b_end in _spans(calendar, b, a)
                if a_start < b_end and b_start < a_end
            ),
            None,
        )
        if clash is not None:
            return max(a_start, clash[0]).astimezone(calendar.zone(b)).isoformat()
    return None


# --- loading with file:line ------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader whose timestamps stay strings (window times are read in their zone)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_lines(
    node: yaml.Node | None, path: Path_ = (), out: dict[Path_, int] | None = None
) -> dict[Path_, int]:
    """The 1-based line of every value (and mapping key) in a composed YAML document."""
    out = {} if out is None else out
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            yaml_lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yaml_lines(value, (*path, index), out)
    return out


def _format(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def parse_calendar(text: str, source: str = "<change calendar>") -> ChangeCalendar:
    """The calendar in ``text``; ``InvalidChangeCalendar`` lists every problem."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        document: Any = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise InvalidChangeCalendar([f"{source}:{line}: not YAML: {exc}"]) from None
    lines = yaml_lines(node)

    def where(path: Path_) -> str:
        key = path
        while key and key not in lines:
            key = key[:-1]
        return f"{source}:{lines.get(key, 1)} {_format(path)}"

    if not isinstance(document, dict):
        raise InvalidChangeCalendar([f"{source}:1: a change calendar is a mapping"])
    try:
        calendar = ChangeCalendar.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        locs = [tuple(e["loc"]) for e in errors]
        # an error inside a value makes its container's own complaint noise: keep the inner
        inner = [
            e
            for e, loc in zip(errors, locs, strict=True)
            if not any(other != loc and other[: len(loc)] == loc for other in locs)
        ]
        raise InvalidChangeCalendar(
            [f"{where(tuple(e['loc']))}: {e['msg']}" for e in inner]
        ) from None
    problems = [f"{where(path)}: {message}" for path, message in meaning_problems(calendar)]
    if problems:
        raise InvalidChangeCalendar(problems)
    return calendar


def load_calendar(path: str | Path | None) -> ChangeCalendar | None:
    """The calendar at ``path``; no path: no calendar (no change is ever held)."""
    if path is None or str(path) == "":
        return None
    file = Path(path)
    return parse_calendar(file.read_text(), str(file))


def parse_instant(text: str, zone: str = "UTC") -> datetime:
    """``2026-09-15`` or ``2026-09-15T10:00`` (in ``zone``) or with an offset, as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = datetime.combine(date.fromisoformat(text), datetime.min.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


__all__ = [
    "CHANGE_CLASSES",
    "ChangeCalendar",
    "ChangeRequests",
    "Emergency",
    "Escalation",
    "Verdict",
    "Window",
    "active",
    "load_calendar",
    "parse_calendar",
    "parse_instant",
    "verdict",
]
