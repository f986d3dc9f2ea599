"""The JIRA port and its adapter over the ``jira`` library.

The library is synchronous (``requests``): every call runs in a thread of a bounded
pool (``max_workers``), so a slow JIRA holds threads, never the event loop. Errors
come back as ``JiraCallError``: retryable for 408/429/5xx and network failures,
``JiraRejected`` for the rest, with JIRA's own ``errorMessages``/``errors`` as the
message (never ``str(JIRAError)``, which prints the request headers).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from jira import JIRA, JIRAError
from pao_common.executor import REDACTOR

from pao_executors.jira.config import JiraSettings
from pao_executors.jira.errors import JiraCallError, JiraRejected

T = TypeVar("T")
Flavour = Literal["server", "cloud"]
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TicketSystem(Protocol):
    """What the executor needs of JIRA; each call is one REST call (raw JSON in and out)."""

    @property
    def host(self) -> str:
        """The host the circuit breaker is keyed on."""
        ...

    def browse_url(self, key: str) -> str:
        """The page of issue ``key`` that people open."""
        ...

    async def flavour(self) -> Flavour:
        """``server`` (Server / Data Center) or ``cloud``: they name users differently."""
        ...

    async def search(
        self, jql: str, *, fields: list[str], max_results: int
    ) -> list[dict[str, Any]]:
        """Issues matching ``jql`` with ``fields``, as the REST API returns them."""
        ...

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create an issue from REST ``fields``; ``{"id", "key", "self"}``."""
        ...

    async def get(self, key: str, *, fields: list[str]) -> dict[str, Any]:
        """Issue ``key`` with ``fields``."""
        ...

    async def comment(self, key: str, body: str) -> None:
        """Add a comment to issue ``key``."""
        ...

    async def transitions(self, key: str) -> list[dict[str, Any]]:
        """The transitions issue ``key`` can take now (with their ``to`` status)."""
        ...

    async def transition(self, key: str, transition_id: str, fields: dict[str, Any]) -> None:
        """Take transition ``transition_id``, setting ``fields`` (e.g. the resolution)."""
        ...

    async def add_label(self, key: str, label: str) -> None:
        """Add ``label`` to issue ``key`` (keeping the others)."""
        ...


def _jira_message(exc: JIRAError) -> str:
    """JIRA's error text without the request headers ``str(exc)`` would print."""
    parts: list[str] = []
    response = exc.response
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts += [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors") or {}
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
    if not parts and exc.text:
        parts.append(str(exc.text)[:500])
    return "; ".join(parts) or "no details"


def translate(exc: Exception, what: str) -> JiraCallError:
    """A library or network exception as the executor's error."""
    if isinstance(exc, JIRAError):
        status = exc.status_code
        message = f"JIRA {what}: HTTP {status}: {_jira_message(exc)}"
        if status is None or status in RETRYABLE_STATUS:
            return JiraCallError(message, status=status, retryable=True)
        return JiraRejected(message, status=status)
    if isinstance(exc, requests.RequestException | OSError):
        return JiraCallError(
            f"JIRA {what}: {type(exc).__name__}: cannot reach JIRA", status=None, retryable=True
        )
    return JiraCallError(f"JIRA {what}: {type(exc).__name__}: {exc}", status=None, retryable=True)


class LibraryJira:
    """``TicketSystem`` over ``jira.JIRA`` in a bounded thread pool."""

    def __init__(self, settings: JiraSettings) -> None:
        settings.check()
        self.settings = settings
        self.server = settings.url.rstrip("/")
        self._pool = ThreadPoolExecutor(settings.max_workers, thread_name_prefix="jira")
        self._client: JIRA | None = None
        self._lock = threading.Lock()
        # The credentials never leave the process: mask them (and the Basic header form).
        if settings.token is not None:
            REDACTOR.add(settings.token.get_secret_value())
        if settings.api_token is not None:
            token = settings.api_token.get_secret_value()
            REDACTOR.add(token)
            REDACTOR.add(base64.b64encode(f"{settings.email}:{token}".encode()).decode())

    @property
    def host(self) -> str:
        return urlsplit(self.server).netloc or self.server

    def browse_url(self, key: str) -> str:
        return f"{self.server}/browse/{key}"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]

    # --- threads ----------------------------------------------------------------------------

    def _connect(self) -> JIRA:
        with self._lock:
            if self._client is not None:
                return self._client
            s = self.settings
            auth: dict[str, Any]
            if s.token is not None:
                auth = {"token_auth": s.token.get_secret_value()}
            else:
                api_token = s.api_token.get_secret_value() if s.api_token else ""
                auth = {"basic_auth": (s.email, api_token)}
            client = JIRA(
                server=self.server,
                timeout=s.timeout_s,
                max_retries=0,
                get_server_info=s.flavour == "auto",
                **auth,
            )
            if s.flavour != "auto":
                client.deploymentType = "Cloud" if s.flavour == "cloud" else "Server"
            self._client = client
            return client

    async def _run(self, what: str, call: Callable[[JIRA], T]) -> T:
        def work() -> T:
            return call(self._connect())

        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(context.run, work))
        except JiraCallError:
            raise
        except Exception as exc:
            raise translate(exc, what) from None

    # --- TicketSystem -----------------------------------------------------------------------

    async def flavour(self) -> Flavour:
        cloud = await self._run("server info", lambda j: j._is_cloud)
        return "cloud" if cloud else "server"

    async def search(
        self, jql: str, *, fields: list[str], max_results: int
    ) -> list[dict[str, Any]]:
        def call(j: JIRA) -> list[dict[str, Any]]:
            found = j.search_issues(jql, maxResults=max_results, fields=list(fields))
            return [issue.raw for issue in found]

        return await self._run("search", call)

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        def call(j: JIRA) -> dict[str, Any]:
            raw: dict[str, Any] = j.create_issue(fields=fields).raw
            return raw

        return await self._run("create issue", call)

    async def get(self, key: str, *, fields: list[str]) -> dict[str, Any]:
        def call(j: JIRA) -> dict[str, Any]:
            raw: dict[str, Any] = j.issue(key, fields=",".join(fields)).raw
            return raw

        return await self._run(f"get {key}", call)

    async def comment(self, key: str, body: str) -> None:
        await self._run(f"comment on {key}", lambda j: j.add_comment(key, body))

    async def transitions(self, key: str) -> list[dict[str, Any]]:
        def call(j: JIRA) -> list[dict[str, Any]]:
            return list(j.transitions(key, expand="transitions.fields"))

        return await self._run(f"transitions of {key}", call)

    async def transition(self, key: str, transition_id: str, fields: dict[str, Any]) -> None:
        await self._run(
            f"transition {key}",
            lambda j: j.transition_issue(key, transition_id, fields=fields or None),
        )

    async def add_label(self, key: str, label: str) -> None:
        await self._run(
            f"label {key}", lambda j: j.issue(key, fields="labels").add_field_value("labels", label)
        )
