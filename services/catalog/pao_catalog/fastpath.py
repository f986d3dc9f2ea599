"""An ASGI fast path for the catalog's GET reads.

The browse reads are the catalog's hot path, and their answers are ready-made bytes,
so most of a request's cost was the framework around it (routing, dependency
solving, the ``BaseHTTPMiddleware`` of the service shell). This pure ASGI middleware
answers ``GET /items``, ``/items/{id}``, ``/items/{id}/versions`` and
``/items/{id}/form`` straight from the index, with the same functions and bytes as the
FastAPI routes (``pao_catalog.reads``), and records the same request metrics.

It only ever answers 200. Anything else (an unknown id, a bad parameter, another
path or method) goes on to the FastAPI app, which gives the error in its usual form;
the routes stay the documented API (OpenAPI) and the fallback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from pao_common.service import HTTP_LATENCY, HTTP_REQUESTS
from starlette.types import ASGIApp, Receive, Scope, Send

from pao_catalog import reads
from pao_catalog.api import PREFIX, CatalogView

_ITEMS = PREFIX + "/items"
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
_LIST_PARAMS = frozenset(
    {"category", "tag", "owner", "q", "include_retired", "limit", "offset", "cursor"}
)


class _Unanswerable(Exception):
    """Not for the fast path: let the app answer (and explain) it."""


def _list_body(view: CatalogView, query: list[tuple[str, str]]) -> bytes:
    params: dict[str, str] = {}
    tags: list[str] = []
    for name, value in query:
        if name == "tag":
            tags.append(value)
        elif name in _LIST_PARAMS:
            params[name] = value  # the last one wins, as in the routes
    try:
        limit = int(params.get("limit", reads.DEFAULT_LIMIT))
        offset = int(params.get("offset", 0))
    except ValueError:
        raise _Unanswerable from None
    if not 1 <= limit <= reads.MAX_LIMIT or offset < 0:
        raise _Unanswerable
    retired = params.get("include_retired", "false").lower()
    if retired not in _TRUE and retired not in _FALSE:
        raise _Unanswerable
    return reads.item_list(
        view.index,
        category=params.get("category"),
        tags=tags,
        owner=params.get("owner"),
        q=params.get("q"),
        include_retired=retired in _TRUE,
        limit=limit,
        offset=offset,
        cursor=params.get("cursor"),
    )


def _version(query: list[tuple[str, str]]) -> str | None:
    version = None
    for name, value in query:
        if name == "version":
            version = value
    return version


def _route(
    view: CatalogView, path: str, query: list[tuple[str, str]]
) -> tuple[str, Callable[[], bytes]] | None:
    """``(route template, answer)`` for a path the fast path serves, else ``None``."""
    if path == _ITEMS:
        return "/api/v1/catalog/items", lambda: _list_body(view, query)
    if not path.startswith(_ITEMS + "/"):
        return None
    parts = path[len(_ITEMS) + 1 :].split("/")
    if len(parts) == 1 and parts[0]:
        item_id = parts[0]
        return "/api/v1/catalog/items/{item_id}", lambda: reads.item_detail(
            view.index, item_id, _version(query)
        )
    if len(parts) == 2 and parts[0]:
        item_id, leaf = parts
        if leaf == "form":
            return "/api/v1/catalog/items/{item_id}/form", lambda: reads.item_form(
                view.index, item_id, _version(query)
            )
        if leaf == "versions":
            return "/api/v1/catalog/items/{item_id}/versions", lambda: reads.item_versions(
                view.index, item_id
            )
    return None


class CatalogReadPath:
    """Pure ASGI middleware answering the catalog's GET reads from the index."""

    def __init__(self, app: ASGIApp, *, view: CatalogView, service: str = "catalog") -> None:
        self.app = app
        self.view = view
        self.service = service
        self._metrics: dict[str, tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        route = _route(self.view, scope["path"], query)
        if route is None:
            await self.app(scope, receive, send)
            return
        template, answer = route
        try:
            body = answer()
        except (HTTPException, _Unanswerable):
            await self.app(scope, receive, send)
            return
        request_id = (
            next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
            or uuid.uuid4().hex.encode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        counter, latency = self._metrics_for(template)
        counter.inc()
        latency.observe(time.perf_counter() - started)

    def _metrics_for(self, template: str) -> tuple[Any, Any]:
        found = self._metrics.get(template)
        if found is None:
            found = self._metrics[template] = (
                HTTP_REQUESTS.labels(self.service, "GET", template, "200"),
                HTTP_LATENCY.labels(self.service, "GET", template),
            )
        return found
