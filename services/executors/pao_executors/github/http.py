"""One GitHub REST call: headers, the host's circuit breaker, errors mapped to retryability."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from pao_common.executor import ActionContext

from pao_executors.github.errors import GithubApiError

API_VERSION = "2022-11-28"


class GithubHttp:
    """``httpx`` against the API root, every call behind the circuit breaker of its host."""

    def __init__(self, api_url: str, timeout_s: float, http: httpx.AsyncClient | None = None):
        self.api = api_url.rstrip("/")
        self.host = urlsplit(self.api).netloc or self.api
        self.client = http or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        ctx: ActionContext,
        method: str,
        path: str,
        *,
        authorization: str | None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """``path`` below the API root (or a full URL); an error status raises unless allowed."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if authorization:
            headers["Authorization"] = authorization
        host = urlsplit(url).netloc or self.host
        async with ctx.circuit(host):
            try:
                response = await self.client.request(
                    method, url, headers=headers, json=body, params=params
                )
            except httpx.TransportError as exc:
                raise GithubApiError(
                    f"GitHub at {host} is unreachable: {type(exc).__name__}: {exc}",
                    retryable=True,
                ) from exc
            if response.status_code >= 400 and response.status_code not in allow:
                raise api_error(method, urlsplit(url).path, response)
        return response


def api_error(method: str, path: str, response: httpx.Response) -> GithubApiError:
    status = response.status_code
    try:
        body = response.json()
        message = str(body.get("message") or "")
        fields = "; ".join(
            f"{e.get('field')}: {e.get('message') or e.get('code')}"
            for e in body.get("errors") or []
            if isinstance(e, dict)
        )
        message = f"{message} ({fields})" if fields else message
    except ValueError:
        message = response.text[:200]
    rate_limited = status in (403, 429) and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )
    retryable = status >= 500 or status == 429 or rate_limited
    hint = " (rate limited)" if rate_limited else ""
    return GithubApiError(
        f"GitHub {method} {path}: {status} {message or response.reason_phrase}{hint}",
        status=status,
        retryable=retryable,
    )
