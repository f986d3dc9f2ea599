"""Ingestion: from the catalog directory to recorded versions and a fresh index.

The directory is the source of truth for what is *offered*; the version store is
the memory of everything ever accepted. On start every document is loaded; after
that only the files that changed. For each file:

- invalid document: its errors are kept (``errors()``) and logged, and the last good
  version of its item goes on being served;
- valid document under a new version: recorded, announced (``CatalogItemPublished``);
- same version, same content: nothing to do; same version, other content: refused
  (the version must be bumped), last good kept;
- a version below the item's latest live version: refused;
- ``lifecycle: retired``, or the file gone (and no other file defines the item):
  every live version is retired and announced (``CatalogItemRetired``).

Each change is applied under one lock, then a new ``CatalogIndex`` is swapped in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pao_catalog_model.loader import LoadResult, is_document_file, load_file
from pao_catalog_model.model import CatalogItem, parse_item
from pao_catalog_model.versions import version_key
from pao_common.messages import CatalogItemPublished, CatalogItemRetired

from pao_catalog.events import CatalogEvents
from pao_catalog.index import CatalogIndex, ItemEntry, ParsedVersion, VersionEntry
from pao_catalog.store import Outcome, StoredVersion, VersionConflict, VersionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestError:
    """One reason a document is not (or no longer) what the catalog serves."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "text": str(self),
        }

    @classmethod
    def from_library(cls, error: Any, fallback_file: str) -> IngestError:
        line = getattr(error, "line", None)
        return cls(
            file=str(getattr(error, "file", None) or fallback_file),
            line=line if isinstance(line, int) else None,
            path=str(getattr(error, "path", "") or ""),
            message=str(getattr(error, "message", None) or error),
        )


@dataclass(frozen=True)
class RefusedDocument:
    """A document the catalog does not serve as it is on disk."""

    file: str
    item_id: str | None  # the item it stands for, if known
    serving_version: str | None  # the last good version still served for it
    errors: list[IngestError]


@dataclass
class FileState:
    """What one document file currently contributes."""

    item_id: str | None = None  # the item this file defines (claims)
    wanted_id: str | None = None  # the id it tried to define, even if refused
    errors: list[IngestError] = field(default_factory=list)
    file: str = ""  # the file as errors name it


def _read(path: Path) -> tuple[LoadResult, ParsedVersion | None]:
    result = load_file(path)
    ok = result.item is not None and not result.errors
    return result, ParsedVersion.of(result.item) if ok and result.item else None


def _lifecycle(item: CatalogItem) -> str:
    value = getattr(item.metadata, "lifecycle", None)
    return str(getattr(value, "value", value) or "active")


def _declared_id(document: dict[str, Any] | None) -> str | None:
    metadata = (document or {}).get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("id"), str):
        return str(metadata["id"])
    return None


class CatalogIngestion:
    """Keeps the directory, the version store and the served index in step."""

    def __init__(
        self,
        root: Path,
        store: VersionStore,
        events: CatalogEvents,
        *,
        on_index: Callable[[CatalogIndex], None] | None = None,
    ) -> None:
        self.root = root
        self._store = store
        self._events = events
        self._on_index = on_index
        self._lock = asyncio.Lock()
        self._history: dict[str, dict[str, StoredVersion]] = {}
        self._parsed: dict[tuple[str, str, str], ParsedVersion] = {}
        self._entries: dict[EntryKey, VersionEntry] = {}
        self._items: dict[tuple[EntryKey, ...], ItemEntry] = {}
        self._files: dict[str, FileState] = {}
        self.index = CatalogIndex()
        self._started = False

    # --- what is served ---------------------------------------------------------------

    def refused(self) -> list[RefusedDocument]:
        out = []
        for rel in sorted(self._files):
            state = self._files[rel]
            if state.errors:
                serving = self._live_latest(state.item_id) if state.item_id else None
                out.append(
                    RefusedDocument(
                        file=state.file or self._display(rel),
                        item_id=state.item_id or state.wanted_id,
                        serving_version=serving.version if serving else None,
                        errors=list(state.errors),
                    )
                )
        return out

    def errors(self) -> list[IngestError]:
        return [e for r in self.refused() for e in r.errors]

    def files(self) -> dict[str, FileState]:
        return dict(self._files)

    # --- loading ----------------------------------------------------------------------

    async def start(self) -> CatalogIndex:
        """Read the history, load every document, retire what no document defines."""
        async with self._lock:
            self._history = {}
            for stored in await self._store.history():
                self._history.setdefault(stored.item_id, {})[stored.version] = stored
            self._files = {}
            for path in self._document_paths():
                await self._load(path)
            claimed = self._claimed_ids()
            orphans = [i for i in sorted(self._history) if i not in claimed and self._live(i)]
            if orphans and not self._files:
                log.warning(
                    "catalog directory %s holds no documents: not retiring the %d published "
                    "items (a volume not mounted?); delete documents one by one to retire them",
                    self.root,
                    len(orphans),
                )
                orphans = []
            for item_id in orphans:
                log.info("catalog item %s has no document any more: retiring", item_id)
                await self._retire(item_id)
            self._started = True
            return self._rebuild()

    async def reload(self, paths: Iterable[Path] | None = None) -> CatalogIndex:
        """Apply the changed ``paths`` (created, modified or deleted); all when ``None``."""
        async with self._lock:
            if not self._started:
                return self.index  # ``start`` will read everything anyway
            if paths is None:
                targets = set(self._document_paths()) | {self.root / rel for rel in self._files}
            else:
                targets = set()
                for path in map(Path, paths):
                    if self._is_document(path):
                        targets.add(path)
                    else:  # a folder created, moved or removed: every document under it
                        targets |= self._documents_under(path)
            present = sorted(p for p in targets if p.is_file())
            gone = sorted(self._rel(p) for p in targets if not p.is_file())
            # New and changed documents first, removals last: a document moved to another
            # file is taken over by the new file instead of being retired and restored.
            for path in present:
                await self._load(path)
            for rel in gone:
                if rel in self._files:
                    await self._forget(rel)
            return self._rebuild()

    def _documents_under(self, folder: Path) -> set[Path]:
        prefix = self._rel(folder).rstrip("/") + "/"
        found = {self.root / rel for rel in self._files if rel.startswith(prefix)}
        if folder.is_dir():
            found |= {p for p in folder.rglob("*") if self._is_document(p) and p.is_file()}
        return found

    def _document_paths(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.rglob("*") if self._is_document(p) and p.is_file())

    def _is_document(self, path: Path) -> bool:
        """A catalog document, not under a hidden directory (editor swap files, the
        ``..data`` folders of a mounted Kubernetes ConfigMap)."""
        if not is_document_file(path):
            return False
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            parts = tuple(self._rel(path).split("/"))
        return not any(part.startswith(".") for part in parts)

    def _rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def _display(self, rel: str) -> str:
        return (self.root / rel).as_posix()

    async def _load(self, path: Path) -> None:
        rel = self._rel(path)
        try:
            # Parsing and form building are CPU work: off the event loop, so reads go on
            # being answered while a large change is applied.
            result, parsed = await asyncio.to_thread(_read, path)
        except Exception as exc:  # the loader promises errors, not exceptions; be sure
            log.exception("loading %s crashed", path)
            display = self._display(rel)
            self._refuse(rel, None, [IngestError(display, None, "", repr(exc))], display)
            return
        await self._accept(rel, result, parsed)

    def _refuse(
        self, rel: str, wanted: str | None, errors: list[IngestError], file: str = ""
    ) -> None:
        previous = self._files.get(rel, FileState())
        claim = previous.item_id
        if claim is None and wanted is not None and wanted not in self._claimed_ids():
            # Invalid at start: the file still stands for the item it names (keep serving it).
            claim = wanted if wanted in self._history else None
        if claim is None:
            claim = self._claim_by_source(rel)
        shown = file or (errors[0].file if errors else self._display(rel))
        self._files[rel] = FileState(item_id=claim, wanted_id=wanted, errors=errors, file=shown)
        serving = self._live_latest(claim) if claim else None
        for error in errors:
            log.error(
                "catalog document refused: %s%s",
                error,
                f" (still serving {claim}@{serving.version})" if serving else "",
            )

    def _claim_by_source(self, rel: str) -> str | None:
        claimed = self._claimed_ids()
        for item_id, versions in self._history.items():
            live = [v for v in versions.values() if not v.retired]
            if item_id not in claimed and any(v.source_path == rel for v in live):
                return item_id
        return None

    async def _accept(self, rel: str, result: LoadResult, parsed: ParsedVersion | None) -> None:
        display = result.file or self._display(rel)
        wanted = _declared_id(result.document)
        if result.errors or result.item is None or result.document is None:
            errors = [IngestError.from_library(e, display) for e in result.errors]
            self._refuse(rel, wanted, errors or [IngestError(display, None, "", "not loaded")])
            return

        def refuse(path: tuple[str, ...], message: str) -> None:
            error = IngestError(display, result.line_of(path), ".".join(path), message)
            self._refuse(rel, item_id, [error])

        item = result.item
        item_id, version = item.metadata.id, item.metadata.version
        owner = self._owner_of(item_id)
        if owner is not None and owner != rel:
            refuse(("metadata", "id"), f"duplicate item id {item_id!r} (also in {owner})")
            return
        latest = self._live_latest(item_id)
        if latest is not None and version_key(version) < version_key(latest.version):
            refuse(
                ("metadata", "version"),
                f"version {version} is lower than the published {latest.version} "
                f"of {item_id}; versions only go up",
            )
            return
        try:
            outcome, stored = await self._store.record(
                item_id, version, result.content_hash, result.document, rel
            )
        except VersionConflict as exc:
            refuse(("metadata", "version"), str(exc))
            return
        self._history.setdefault(item_id, {})[version] = stored
        self._parsed.setdefault(
            (item_id, version, stored.content_hash), parsed or ParsedVersion.of(item)
        )
        previous = self._files.get(rel)
        self._files[rel] = FileState(item_id=item_id, wanted_id=item_id, file=display)
        retiring = _lifecycle(item) == "retired"
        if outcome is not Outcome.UNCHANGED and not retiring:
            log.info("catalog item %s@%s %s from %s", item_id, version, outcome.value, display)
            occurrence = stored.content_hash if outcome is Outcome.INSERTED else outcome.value
            self._events.announce(
                CatalogItemPublished(
                    item_id=item_id, version=version, content_hash=stored.content_hash
                ),
                occurrence=f"{occurrence}:{stored.published_at.isoformat()}",
            )
        if retiring and self._live(item_id):
            log.info("catalog item %s@%s is lifecycle: retired", item_id, version)
            await self._retire(item_id)
        if previous and previous.item_id and previous.item_id != item_id:
            await self._release(previous.item_id)

    async def _forget(self, rel: str) -> None:
        state = self._files.pop(rel)
        log.info("catalog document %s removed", self._display(rel))
        if state.item_id:
            await self._release(state.item_id)

    async def _release(self, item_id: str) -> None:
        """No file defines ``item_id`` any more: retire it, or let a waiting file take it."""
        if self._owner_of(item_id) is not None:
            return
        waiting = sorted(
            rel for rel, s in self._files.items() if s.item_id is None and s.wanted_id == item_id
        )
        if waiting:
            await self._load(self.root / waiting[0])
            if self._owner_of(item_id) is not None:
                return
        if self._live(item_id):
            log.info("catalog item %s has no document any more: retiring", item_id)
            await self._retire(item_id)

    async def _retire(self, item_id: str) -> None:
        retired = await self._store.retire(item_id)
        if retired:
            newest = max(retired, key=lambda s: version_key(s.version))
            assert newest.retired_at is not None
            self._events.announce(
                CatalogItemRetired(item_id=item_id, version=newest.version),
                occurrence=newest.retired_at.isoformat(),
            )
        # Read the item back: another replica may have retired some versions first.
        self._history[item_id] = {s.version: s for s in await self._store.history(item_id)}

    async def reannounce(self) -> int:
        """Announce the latest live version of every item again (after the broker lost
        its data). The event ids are those of the first announcements, so a consumer
        that still remembers them can tell the repeats."""
        async with self._lock:
            count = 0
            for item_id in sorted(self._history):
                latest = self._live_latest(item_id)
                if latest is None:
                    continue
                self._events.announce(
                    CatalogItemPublished(
                        item_id=item_id, version=latest.version, content_hash=latest.content_hash
                    ),
                    occurrence=f"{latest.content_hash}:{latest.published_at.isoformat()}",
                )
                count += 1
            log.info("re-announced %d catalog items", count)
            return count

    # --- bookkeeping ------------------------------------------------------------------

    def _claimed_ids(self) -> set[str]:
        return {s.item_id for s in self._files.values() if s.item_id}

    def _owner_of(self, item_id: str) -> str | None:
        for rel in sorted(self._files):
            if self._files[rel].item_id == item_id:
                return rel
        return None

    def _live(self, item_id: str) -> bool:
        return any(not v.retired for v in self._history.get(item_id, {}).values())

    def _live_latest(self, item_id: str | None) -> StoredVersion | None:
        live = [v for v in self._history.get(item_id or "", {}).values() if not v.retired]
        return max(live, key=lambda v: version_key(v.version)) if live else None

    def _parsed_version(self, stored: StoredVersion) -> ParsedVersion | None:
        key = (stored.item_id, stored.version, stored.content_hash)
        parsed = self._parsed.get(key)
        if parsed is None:
            try:
                parsed = ParsedVersion.of(parse_item(stored.document))
            except Exception as exc:  # an old version the current model no longer reads
                log.warning("cannot serve %s@%s from history: %s", *key[:2], exc)
                return None
            self._parsed[key] = parsed
        return parsed

    async def recorded(self, item_id: str) -> ItemEntry | None:
        """``item_id`` as the shared version history records it, for a read this
        replica's index cannot answer: a version another replica recorded and this one has
        not loaded yet (both serve one history, and a version the gateway pinned must be
        found by whichever replica the orchestrator asks). None when none is recorded."""
        entries = []
        for stored in await self._store.history(item_id):
            parsed = self._parsed_version(stored)
            if parsed is not None:
                entries.append(VersionEntry.of(stored, parsed))
        return ItemEntry.of(item_id, entries) if entries else None

    def _entry(self, stored: StoredVersion) -> VersionEntry | None:
        entry = self._entries.get(_entry_key(stored))
        if entry is None:
            parsed = self._parsed_version(stored)
            if parsed is None:
                return None
            entry = self._entries[_entry_key(stored)] = VersionEntry.of(stored, parsed)
        return entry

    def _rebuild(self) -> CatalogIndex:
        items: dict[str, ItemEntry] = {}
        entries_used: dict[EntryKey, VersionEntry] = {}
        items_used: dict[tuple[EntryKey, ...], ItemEntry] = {}
        for item_id, versions in self._history.items():
            entries = [e for e in map(self._entry, versions.values()) if e is not None]
            if not entries:
                continue
            keys = tuple(sorted(_entry_key(e.stored) for e in entries))
            entries_used.update((_entry_key(e.stored), e) for e in entries)
            entry = self._items.get(keys) or ItemEntry.of(item_id, entries)
            items[item_id] = items_used[keys] = entry
        # Unchanged items keep their serialised bodies; only what changed is rebuilt.
        self._entries, self._items = entries_used, items_used
        self.index = CatalogIndex(items)
        if self._on_index is not None:
            self._on_index(self.index)
        return self.index


EntryKey = tuple[str, str, str, str]


def _entry_key(stored: StoredVersion) -> EntryKey:
    retired = stored.retired_at.isoformat() if stored.retired_at else ""
    return (stored.item_id, stored.version, stored.content_hash, retired)
