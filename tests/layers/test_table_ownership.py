"""Every table has one owner, and no service's SQL names another's (issue #15,
deliverable 3): ``pao_common/migrations/ownership.toml`` against the migrations and the
SQL strings of each service's code.

The SQL check is grep-level: every string literal of a service's modules (docstrings
left out) that reads like SQL (an upper-case ``SELECT``, ``INSERT``, ``UPDATE``, ...) is
searched for the names of the tables and views in the manifest. A service may name what
it owns and what is published to it (``readers``); a library outside every service's
code may name none.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from pao_orchestrator.domain.events import EVENT_TYPES, DomainEvent, RequestSubmitted

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "libs/pao_common/pao_common/migrations"
MANIFEST = tomllib.loads((MIGRATIONS / "ownership.toml").read_text())
SERVICES: dict[str, list[str]] = MANIFEST["services"]
TABLES: dict[str, dict[str, object]] = MANIFEST["tables"]

_CREATED = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I
)
_SQL = re.compile(r"\b(?:SELECT|INSERT INTO|UPDATE|DELETE FROM|TRUNCATE|FROM|JOIN|ALTER)\b")
_NAMES = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, TABLES)) + r")(?!\w)")

# Reads that cross a service boundary and are still to be replaced by a contract: none
# may be added; each one replaced is taken off.
NOT_YET_CONTRACTS: set[tuple[str, str]] = set()


def _created() -> dict[str, list[str]]:
    created: dict[str, list[str]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for name in _CREATED.findall(path.read_text()):
            created.setdefault(name, []).append(path.name)
    return created


def test_every_table_and_view_the_migrations_create_has_exactly_one_owner() -> None:
    created = _created()
    assert sorted(created) == sorted(TABLES), "ownership.toml lists what the migrations create"
    for name, entry in TABLES.items():
        assert entry["owner"] in SERVICES, f"{name}: owner {entry['owner']!r} is no service"
        readers = entry.get("readers", [])
        assert isinstance(readers, list)
        for reader in readers:
            assert reader in SERVICES and reader != entry["owner"], f"{name}: reader {reader}"
        assert len(created[name]) == 1, f"{name} is created by {created[name]}"


def test_every_migration_says_whose_it_is() -> None:
    for path in sorted(MIGRATIONS.glob("*.sql")):
        assert re.search(r"^--.*\bowners?:", path.read_text(), re.M | re.I), (
            f"{path.name}: no Owner:"
        )


def _service_of(path: Path) -> str | None:
    """The service whose code ``path`` is (the most specific of the manifest's paths)."""
    rel = path.relative_to(REPO).as_posix()
    best: tuple[int, str] | None = None
    for service, roots in SERVICES.items():
        for root in roots:
            if (rel == root or rel.startswith(root.rstrip("/") + "/")) and (
                best is None or len(root) > best[0]
            ):
                best = (len(root), service)
    return best[1] if best else None


def _sql_strings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.add(id(value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _SQL.search(node.value)
        ):
            yield node.lineno, node.value


def _named_tables() -> Iterator[tuple[str | None, str, str]]:
    """``(service or None, table, file:line)`` for every table a module's SQL names."""
    trees = ("services/*/pao_*/**/*.py", "libs/*/pao_*/**/*.py", "tools/*/pao_*/**/*.py")
    for path in sorted(p for tree in trees for p in REPO.glob(tree)):
        for line, text in _sql_strings(path):
            for table in set(_NAMES.findall(text)):
                yield _service_of(path), table, f"{path.relative_to(REPO)}:{line}"


def test_no_service_names_a_table_it_neither_owns_nor_is_published() -> None:
    crossings: dict[tuple[str, str], list[str]] = {}
    for service, table, where in _named_tables():
        entry = TABLES[table]
        readers = entry.get("readers", [])
        assert isinstance(readers, list), f"{table}: readers is no list"
        allowed = {entry["owner"], *readers}
        if service is None or service not in allowed:
            crossings.setdefault((service or "a library", table), []).append(where)
    unexpected = {k: v for k, v in crossings.items() if k not in NOT_YET_CONTRACTS}
    assert not unexpected, f"SQL naming another service's table: {unexpected}"
    assert set(crossings) == NOT_YET_CONTRACTS, "a crossing replaced: take it off the list"


def test_the_check_finds_a_crossing() -> None:
    # the same search over a line as a service would write it
    text = "SELECT trigger FROM notification_log WHERE request_id = $1"
    assert _SQL.search(text) and _NAMES.findall(text) == ["notification_log"]
    assert _service_of(REPO / "services/executors/pao_executors/cmdb/ledger.py") == "cmdb-sync"
    assert _service_of(REPO / "services/executors/pao_executors/rest/actions.py") == "executors"


def test_request_lead_times_reads_fields_the_events_have() -> None:
    """The view decodes ``RequestSubmitted.mode`` and every event's ``occurred_at`` in SQL
    (0020_read_contracts.sql): the event models must still have them."""
    sql = (MIGRATIONS / "0020_read_contracts.sql").read_text()
    view = sql[sql.index("CREATE OR REPLACE VIEW request_lead_times") :]
    view = view[: view.index(";")]
    named = set(re.findall(r"'([A-Z]\w+)'", view))
    assert named and named <= set(EVENT_TYPES), named - set(EVENT_TYPES)
    assert "mode" in RequestSubmitted.model_fields
    assert "occurred_at" in DomainEvent.model_fields
    assert set(re.findall(r"data->>'(\w+)'", view)) == {"mode", "occurred_at"}
