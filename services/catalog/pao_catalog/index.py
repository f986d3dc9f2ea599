"""The in-memory read side of the catalog: what the browse API serves.

A ``CatalogIndex`` is an immutable snapshot built from the version history after
every (re)load and swapped in whole, so a request never sees half a reload and
never touches the database. Everything a read returns is serialised once, here:
an item's detail, its version list, the summary it lists with and each version's
form are ready-made JSON bytes.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pao_catalog_model.forms import build_form, operations_summary
from pao_catalog_model.model import CatalogItem
from pao_catalog_model.versions import version_key

from pao_catalog.store import StoredVersion

SEARCH_CACHE_SIZE = 4096


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class ParsedVersion:
    """What one version's document means: the parsed item and its precomputed form."""

    item: CatalogItem
    form: dict[str, Any]
    form_json: bytes

    @classmethod
    def of(cls, item: CatalogItem) -> ParsedVersion:
        form = build_form(item)
        return cls(item=item, form=form, form_json=dumps(form))


@dataclass(frozen=True)
class VersionEntry:
    stored: StoredVersion
    parsed: ParsedVersion
    summary: dict[str, Any]
    detail_json: bytes

    @property
    def version(self) -> str:
        return self.stored.version

    @classmethod
    def of(cls, stored: StoredVersion, parsed: ParsedVersion) -> VersionEntry:
        item = parsed.item
        meta = item.metadata.model_dump(mode="json", by_alias=True)
        lifecycle = _text(meta.get("lifecycle")) or "active"
        approval = getattr(item, "approval", None)
        summary: dict[str, Any] = {
            "id": stored.item_id,
            "version": stored.version,
            "name": meta.get("name") or stored.item_id,
            "description": meta.get("description") or "",
            "category": meta.get("category"),
            "owner": meta.get("owner"),
            "tags": list(meta.get("tags") or []),
            "lifecycle": lifecycle,
            "status": "retired" if stored.retired else lifecycle,
            "fulfillment_mode": _text(item.fulfillment.mode),
            "approval_required": bool(getattr(approval, "required", False)),
            "decommissionable": item.decommissionable,
            "change_class": item.change_class.summary(),
            "operations": operations_summary(item),
            # who may request it: the gateway marks each listed item for the person asking
            "access": item.access.model_dump(mode="json"),
            "content_hash": stored.content_hash,
            "published_at": stored.published_at.isoformat(),
            "retired_at": stored.retired_at.isoformat() if stored.retired_at else None,
        }
        cmdb = item.resource.cmdb
        detail = {
            **summary,
            "metadata": meta,
            # what the CMDB sync mirrors this version's resources as (null: not mirrored)
            "cmdb": cmdb.model_dump(mode="json") if cmdb is not None else None,
            "document": stored.document,
        }
        return cls(stored=stored, parsed=parsed, summary=summary, detail_json=dumps(detail))


@dataclass(frozen=True)
class ItemEntry:
    """One item: all its versions, newest first, and the one it is shown as."""

    item_id: str
    versions: dict[str, VersionEntry]
    ordered: tuple[VersionEntry, ...]  # newest first
    current: VersionEntry  # latest live version; the newest one if all are retired
    retired: bool
    summary_json: bytes
    versions_json: bytes
    search_text: str
    category: str
    owner: str
    tags: frozenset[str]

    @classmethod
    def of(cls, item_id: str, entries: Iterable[VersionEntry]) -> ItemEntry:
        ordered = tuple(sorted(entries, key=lambda e: version_key(e.version), reverse=True))
        live = [e for e in ordered if not e.stored.retired]
        current = live[0] if live else ordered[0]
        s = current.summary
        versions_body = {
            "id": item_id,
            "latest": live[0].version if live else None,
            "retired": not live,
            "versions": [
                {
                    "version": e.version,
                    "content_hash": e.stored.content_hash,
                    "published_at": e.stored.published_at.isoformat(),
                    "retired_at": e.stored.retired_at.isoformat() if e.stored.retired_at else None,
                    "source_path": e.stored.source_path,
                    "latest": bool(live) and e is live[0],
                }
                for e in ordered
            ],
        }
        words = [item_id, s["name"], s["description"], s["category"], s["owner"], *s["tags"]]
        return cls(
            item_id=item_id,
            versions={e.version: e for e in ordered},
            ordered=ordered,
            current=current,
            retired=not live,
            summary_json=dumps(s),
            versions_json=dumps(versions_body),
            search_text=" ".join(_text(w) for w in words).lower(),
            category=_text(s["category"]).lower(),
            owner=_text(s["owner"]).lower(),
            tags=frozenset(_text(t).lower() for t in s["tags"]),
        )


@dataclass(frozen=True)
class Page:
    entries: Sequence[ItemEntry]
    total: int
    offset: int
    next_cursor: str | None


@dataclass
class CatalogIndex:
    """Immutable once built: items by id and in id order."""

    items: dict[str, ItemEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ordered = sorted(self.items.values(), key=lambda e: e.item_id)
        self._ids = [e.item_id for e in self._ordered]
        self._live = [e for e in self._ordered if not e.retired]
        self._searches: dict[tuple[Any, ...], list[ItemEntry]] = {}

    def get(self, item_id: str) -> ItemEntry | None:
        return self.items.get(item_id)

    def search(
        self,
        *,
        category: str | None = None,
        tags: Sequence[str] = (),
        owner: str | None = None,
        q: str | None = None,
        include_retired: bool = False,
    ) -> list[ItemEntry]:
        """Matching items in id order. Every given filter must match (tags: all of them;
        ``q``: every word, anywhere in id, name, description, category, owner, tags).

        Results are remembered for this snapshot (browsing repeats the same queries)."""
        key = (
            (category or "").lower(),
            frozenset(t.lower() for t in tags),
            (owner or "").lower(),
            tuple((q or "").lower().split()),
            include_retired,
        )
        found = self._searches.get(key)
        if found is None:
            found = self._search(*key)
            if len(self._searches) >= SEARCH_CACHE_SIZE:
                self._searches.clear()
            self._searches[key] = found
        return found

    def _search(
        self,
        category: str,
        tags: frozenset[str],
        owner: str,
        words: tuple[str, ...],
        include_retired: bool,
    ) -> list[ItemEntry]:
        found: list[ItemEntry] = self._ordered if include_retired else self._live
        if category:
            found = [e for e in found if e.category == category]
        if owner:
            found = [e for e in found if e.owner == owner]
        if tags:
            found = [e for e in found if tags <= e.tags]
        for word in words:
            found = [e for e in found if word in e.search_text]
        return found

    @staticmethod
    def page(
        found: list[ItemEntry], *, limit: int, offset: int = 0, cursor: str | None = None
    ) -> Page:
        """A page of ``found`` (in id order): from ``offset``, or after the id ``cursor``."""
        if cursor is not None:
            offset = bisect.bisect_right([e.item_id for e in found], cursor)
        chunk = found[offset : offset + limit]
        more = offset + limit < len(found)
        return Page(
            entries=chunk,
            total=len(found),
            offset=offset,
            next_cursor=chunk[-1].item_id if more and chunk else None,
        )
