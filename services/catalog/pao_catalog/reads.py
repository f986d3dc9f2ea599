"""The catalog's read answers, as JSON bytes from an index snapshot.

Shared by the FastAPI routes (``api``) and the ASGI fast path (``fastpath``), so both
answer byte for byte the same. A request that cannot be answered raises
``HTTPException`` with the status and a message saying what was not found.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from fastapi import HTTPException

from pao_catalog.index import CatalogIndex, ItemEntry, VersionEntry, dumps

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(400, detail=f"cursor {cursor!r} is not one this API gave out") from None


def find_item(index: CatalogIndex, item_id: str) -> ItemEntry:
    entry = index.get(item_id)
    if entry is None:
        raise HTTPException(404, detail=f"catalog item {item_id!r} not found")
    return entry


def find_version(index: CatalogIndex, item_id: str, version: str | None) -> VersionEntry:
    entry = find_item(index, item_id)
    if version is None:
        return entry.current
    found = entry.versions.get(version)
    if found is None:
        known = ", ".join(e.version for e in entry.ordered)
        raise HTTPException(
            404,
            detail=f"catalog item {item_id!r} has no version {version!r} (known: {known})",
        )
    return found


def item_list(
    index: CatalogIndex,
    *,
    category: str | None = None,
    tags: Sequence[str] = (),
    owner: str | None = None,
    q: str | None = None,
    include_retired: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    cursor: str | None = None,
) -> bytes:
    found = index.search(
        category=category, tags=tags, owner=owner, q=q, include_retired=include_retired
    )
    after = decode_cursor(cursor) if cursor is not None else None
    page = index.page(found, limit=limit, offset=offset, cursor=after)
    next_cursor = encode_cursor(page.next_cursor) if page.next_cursor else None
    return b"".join(
        (
            b'{"items":[',
            b",".join(e.summary_json for e in page.entries),
            b'],"total":',
            str(page.total).encode(),
            b',"limit":',
            str(limit).encode(),
            b',"offset":',
            str(page.offset).encode(),
            b',"next_cursor":',
            dumps(next_cursor),
            b"}",
        )
    )


def item_detail(index: CatalogIndex, item_id: str, version: str | None = None) -> bytes:
    return find_version(index, item_id, version).detail_json


def item_versions(index: CatalogIndex, item_id: str) -> bytes:
    return find_item(index, item_id).versions_json


def item_form(index: CatalogIndex, item_id: str, version: str | None = None) -> bytes:
    return find_version(index, item_id, version).parsed.form_json
