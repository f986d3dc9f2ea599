"""The ``rest`` action: one HTTP call (and optionally polling its operation).

Inputs (``pao_catalog_model.action_inputs.rest.RestInputs``, already rendered by the
orchestrator; ``${secret:name}`` resolved by the SDK)::

    method, url, headers, query, json | body, auth, expected_status, outputs,
    poll: {url | url_from, interval_s, timeout_s, until, fail_when, error_from,
           expected_status, outputs},
    retry: {attempts, max_delay_s}, timeout_s

429, 408 and 500/502/503/504 answers are retried within the action (``retry.attempts``,
waiting ``Retry-After`` when given, else an exponential backoff), then reported as a
retryable failure. Each call runs inside the circuit breaker of its ``host:port``: 5xx
and network failures count, anything else shows the target is up. Every request, every
redirect hop and every poll passes ``TargetGuard`` (no SSRF through a catalog item).
Authorization headers and API keys are dropped on a redirect or poll to another origin.
In sandbox mode (``PAO_REST_SANDBOX_URL``) every call is sent to the REST echo sandbox
instead (``RestSettings.route``); circuits and messages still name the target.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import time
from typing import Any

import httpx
from pao_catalog_model.action_inputs.rest import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    PollSpec,
    RestInputs,
)
from pao_catalog_model.action_inputs.rest_expressions import (
    MISSING,
    Response,
    evaluate,
    extract,
    value_of,
)
from pao_common.errors import CircuitOpen
from pao_common.executor import ActionContext, Executor

from pao_executors.rest.config import RestSettings
from pao_executors.rest.errors import RestCallError
from pao_executors.rest.guard import TargetGuard

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Kept out of requests to another origin than the one the action named.
SENSITIVE_HEADERS_EXT = "pao_sensitive_headers"
ORIGIN_EXT = "pao_origin"


def safe_url(url: httpx.URL | str) -> str:
    """The URL without query and credentials, for messages."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), if present."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


async def strip_cross_origin_secrets(request: httpx.Request) -> None:
    """An httpx hook: a redirect to another origin does not carry the action's credentials."""
    origin = request.extensions.get(ORIGIN_EXT)
    if origin is None or origin == _origin(request.url):
        return
    for name in request.extensions.get(SENSITIVE_HEADERS_EXT, ()):
        request.headers.pop(name, None)


class RestCaller:
    """One action's calls: retries, breaker, guard, auth."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        ctx: ActionContext,
        inputs: RestInputs,
        settings: RestSettings,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.inputs = inputs
        self.settings = settings
        self.origin = _origin(httpx.URL(inputs.url))
        # Where the action's calls really go (the sandbox in sandbox mode): its credentials
        # may travel there, and nowhere else.
        self.sent_origin = _origin(settings.route(httpx.URL(inputs.url)))
        self.auth_headers: dict[str, str] = {}
        self.auth_query: dict[str, str] = {}
        auth = inputs.auth
        if isinstance(auth, BearerAuth):
            self.auth_headers["Authorization"] = f"Bearer {auth.token}"
        elif isinstance(auth, BasicAuth):
            pair = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
            ctx.secrets.redactor.add(pair)  # the header form of a secret is secret too
            self.auth_headers["Authorization"] = f"Basic {pair}"
        elif isinstance(auth, ApiKeyAuth):
            if auth.in_ == "header":
                self.auth_headers[auth.name] = auth.value
            else:
                self.auth_query[auth.name] = auth.value
        self.sensitive = {
            name.lower()
            for name in [*self.auth_headers, *inputs.headers]
            if name.lower() in ("authorization", "proxy-authorization", "cookie")
            or name in self.auth_headers
            or "key" in name.lower()
            or "token" in name.lower()
        }

    def _timeout(self) -> float:
        wanted = self.inputs.timeout_s or self.settings.timeout_s
        return max(0.1, min(wanted, self.ctx.remaining_s()))

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        with_auth: bool = True,
    ) -> httpx.Response:
        """Send with the retry policy; the final response (any status but 429/5xx)."""
        inputs = self.inputs
        target = httpx.URL(url)
        same_origin = _origin(target) == self.origin
        headers = dict(inputs.headers) if same_origin else {}
        query: dict[str, Any] = dict(inputs.query) if url == inputs.url else {}
        if with_auth and same_origin:
            headers.update(self.auth_headers)
            query.update(self.auth_query)
        attempts = inputs.retry.attempts
        max_delay = (
            inputs.retry.max_delay_s
            if inputs.retry.max_delay_s is not None
            else self.settings.max_retry_delay_s
        )
        host = f"{target.host}:{target.port or (443 if target.scheme == 'https' else 80)}"
        shown = f"{method} {safe_url(target)}"
        sent = self.settings.route(target)
        for attempt in range(1, attempts + 1):
            request = self.client.build_request(
                method,
                sent,
                headers=headers,
                params=query or None,
                timeout=self._timeout(),
                extensions={
                    ORIGIN_EXT: self.sent_origin,
                    SENSITIVE_HEADERS_EXT: tuple(self.sensitive),
                },
                **(body or {}),
            )
            failure: RestCallError
            try:
                async with self.ctx.circuit(host):
                    try:
                        response = await self.client.send(request)
                    except httpx.TimeoutException:
                        raise RestCallError(f"{shown}: timed out", retryable=True) from None
                    except httpx.TooManyRedirects:
                        raise RestCallError(
                            f"{shown}: too many redirects", retryable=False
                        ) from None
                    except httpx.TransportError as exc:
                        raise RestCallError(
                            f"{shown}: cannot connect ({type(exc).__name__})", retryable=True
                        ) from None
                    if response.status_code >= 500 and response.status_code in RETRY_STATUS:
                        expected = inputs.expected_status or []
                        if response.status_code not in expected:
                            raise RestCallError(
                                f"{shown}: HTTP {response.status_code}",
                                retryable=True,
                                status=response.status_code,
                            )
            except CircuitOpen:
                raise
            except RestCallError as exc:
                if not exc.retryable:
                    raise
                failure = exc
                wait = retry_after_s(response) if exc.status is not None else None
            else:
                if response.status_code != 429 or 429 in (inputs.expected_status or []):
                    return response
                failure = RestCallError(
                    f"{shown}: HTTP 429 (rate limited)", retryable=True, status=429
                )
                wait = retry_after_s(response)
            if attempt == attempts:
                raise RestCallError(
                    f"{failure.message} (after {attempts} attempt(s))",
                    retryable=True,
                    status=failure.status,
                )
            delay = wait if wait is not None else min(0.5 * 2 ** (attempt - 1), 10.0)
            if delay > max_delay or delay >= self.ctx.remaining_s() - self._timeout() / 10:
                raise RestCallError(
                    f"{failure.message}: asked to wait {delay:.0f}s, more than this action "
                    "waits; try again later",
                    retryable=True,
                    status=failure.status,
                )
            self.ctx.log.info("%s: attempt %d failed; next in %.2fs", shown, attempt, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _check_status(response: httpx.Response, expected: list[int] | None, what: str) -> None:
    ok = response.status_code in expected if expected else response.is_success
    if ok:
        return
    wanted = expected if expected else "2xx"
    snippet = response.text[:300].strip()
    raise RestCallError(
        f"{what}: HTTP {response.status_code}, expected {wanted}"
        + (f": {snippet}" if snippet else ""),
        retryable=False,
        status=response.status_code,
        outputs={"status_code": response.status_code},
    )


class RestActions:
    """The ``rest`` action over one httpx client per process, made on first use.

    The client follows redirects through ``guard`` (every hop is checked) and drops the
    action's credentials on a hop to another origin; it reads no proxy from the
    environment, which would route around the guard.
    """

    def __init__(self, settings: RestSettings, guard: TargetGuard) -> None:
        self.settings = settings
        self.guard = guard
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=True,
                max_redirects=self.settings.max_redirects,
                trust_env=False,  # no proxy from the environment around the guard
                event_hooks={"request": [self.guard, strip_cross_origin_secrets]},
            )
        return self._client

    async def call(self, inputs: RestInputs, ctx: ActionContext) -> dict[str, Any]:
        """Call the URL; outputs ``{status_code, <outputs>}`` (and ``polls`` when polling)."""
        caller = RestCaller(self.client(), ctx, inputs, self.settings)
        body: dict[str, Any] = {}
        if inputs.json_ is not None:
            body["json"] = inputs.json_
        elif inputs.body is not None:
            body["content"] = inputs.body.encode()
        shown = f"{inputs.method} {safe_url(inputs.url)}"
        response = await caller.call(inputs.method, inputs.url, body=body)
        _check_status(response, inputs.expected_status, shown)
        first = Response.of(response)
        outputs: dict[str, Any] = {"status_code": response.status_code}
        outputs.update(extract(inputs.outputs, first))
        if inputs.poll is not None:
            outputs.update(await self._poll(caller, inputs.poll, response, first, ctx))
        return outputs

    async def close(self, _: Any) -> None:
        """At shutdown: close the client (the next call makes a new one)."""
        if self._client is not None:
            await self._client.aclose()
        self._client = None

    async def _poll(
        self,
        caller: RestCaller,
        spec: PollSpec,
        response: httpx.Response,
        first: Response,
        ctx: ActionContext,
    ) -> dict[str, Any]:
        """GET the operation's status URL until ``spec.until`` (or ``fail_when``) holds."""
        status_url = _status_url(spec, response, first)
        started = time.monotonic()
        budget = spec.timeout_s if spec.timeout_s is not None else float("inf")
        last = response
        polls = 0
        while True:
            waited = retry_after_s(last)
            delay = min(waited, 60.0) if waited is not None else spec.interval_s
            left = min(budget - (time.monotonic() - started), ctx.remaining_s() - 1.0)
            if delay > left:
                raise RestCallError(
                    f"poll: the operation at {safe_url(status_url)} did not finish in time "
                    f"({polls} poll(s))",
                    retryable=False,
                    outputs={"status_url": status_url, "polls": polls},
                )
            await asyncio.sleep(delay)
            last = await caller.call("GET", status_url)
            polls += 1
            _check_status(last, spec.expected_status, f"poll GET {safe_url(status_url)}")
            current = Response.of(last)
            if spec.fail_when is not None and evaluate(spec.fail_when, current):
                why = value_of(spec.error_from, current) if spec.error_from else MISSING
                detail = f": {why}" if why is not MISSING and why is not None else ""
                raise RestCallError(
                    f"poll: the operation failed{detail}",
                    retryable=False,
                    outputs={"status_url": status_url, "polls": polls},
                )
            if evaluate(spec.until, current):
                return {"status_url": status_url, "polls": polls, **extract(spec.outputs, current)}
            await ctx.progress(f"operation running ({polls} poll(s))", None)


def _status_url(spec: PollSpec, response: httpx.Response, first: Response) -> str:
    """Where to poll: ``poll.url``, else ``poll.url_from`` on the first answer, else its
    ``Location``, resolved against the first answer's URL."""
    located = spec.url
    if located is None and spec.url_from is not None:
        found = value_of(spec.url_from, first)
        located = found if isinstance(found, str) else None
    located = located or response.headers.get("location")
    if not located:
        raise RestCallError(
            "poll: no status URL: give poll.url or poll.url_from, or answer with Location",
            retryable=False,
            outputs={"status_code": response.status_code},
        )
    return str(response.url.join(located))


def build_executor(
    settings: RestSettings | None = None, *, guard: TargetGuard | None = None
) -> Executor:
    """The ``rest`` executor; one httpx client per process, created on first use."""
    settings = settings or RestSettings()
    if guard is None:
        sandbox = settings.sandbox_host()
        # Sandbox mode: every call goes to the sandbox, so it is the one host allowed.
        allowed = [sandbox] if sandbox is not None else settings.allowed()
        guard = TargetGuard(allowed, allow_private=settings.allow_private)
    executor = Executor(
        "rest",
        description="HTTP calls to platform APIs",
        max_concurrency=settings.max_concurrency,
        circuit_failure_threshold=settings.circuit_failures,
        circuit_reset_timeout_s=settings.circuit_reset_s,
    )
    actions = RestActions(settings, guard)
    executor.action("rest", inputs=RestInputs)(actions.call)
    executor.on_stop(actions.close)
    return executor
