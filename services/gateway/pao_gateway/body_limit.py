"""A ceiling on request bodies: 413 beyond ``limit`` bytes, before the body is buffered.

A body announced with ``Content-Length`` is refused from the header alone (the HTTP
server delivers exactly that many bytes, so nothing needs counting). A body without
one (``Transfer-Encoding: chunked``) is counted as it is received and refused at the
chunk that crosses the limit, so the gateway never holds more than ``limit`` plus one
chunk of a request. Paths may have limits of their own (``by_prefix``: JIRA's webhook
events carry the whole issue); ``0`` switches the limit off for them.

Plain ASGI, like ``ObserveRequests``, so the requests under the limit (all but a few)
pay one header scan. Starlette's own ``RequestBodyLimitMiddleware`` (``max_body_size``)
would do the counting, but answers ``text/plain`` when refusing by ``Content-Length``
and says nothing about the limit; every gateway error is ``{"detail": ...}`` JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODIES_REFUSED = Counter(
    "pao_gateway_bodies_refused_total", "Requests refused with 413 (body over the limit)"
)


def too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body crosses the limit.

    An ``HTTPException`` because FastAPI re-raises those from its body parsing (any other
    exception there becomes a 400); the app's exception middleware answers it as JSON.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large(limit))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, limit: int, by_prefix: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        # Longest prefix first, so a nested path's own limit wins over its parent's.
        self.by_prefix = sorted(by_prefix.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if limit <= 0:
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > limit:
                BODIES_REFUSED.inc()
                await JSONResponse({"detail": too_large(limit)}, 413)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    BODIES_REFUSED.inc()
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # read outside the app's exception handling
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, 413)(scope, receive, send)
