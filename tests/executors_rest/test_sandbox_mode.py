"""Sandbox mode (``PAO_REST_SANDBOX_URL``): every target is routed to the REST echo sandbox.

This is how ``pao dev`` and the end-to-end tests run catalog items whose targets only
exist in production (``https://dns-api.internal.example.com/...``).
"""

from __future__ import annotations

import httpx
from pao_common.messages import ActionFailed, ActionSucceeded
from pao_executors.rest import RestSettings

from tests.executors_rest.conftest import HarnessFactory, script
from tests.support.sandbox import SandboxServer


def test_route_puts_the_target_host_first_in_the_sandbox_path() -> None:
    settings = RestSettings(sandbox_url="http://127.0.0.1:8099/echo/")
    route = settings.route
    assert str(route(httpx.URL("https://dns.example.com/v2/zones/a b/records?x=1"))) == (
        "http://127.0.0.1:8099/echo/dns.example.com/v2/zones/a%20b/records?x=1"
    )
    assert str(route(httpx.URL("http://k8s.example.com:6443/api"))) == (
        "http://127.0.0.1:8099/echo/k8s.example.com:6443/api"
    )
    # A status URL the sandbox handed out stays as it is.
    status = httpx.URL("http://127.0.0.1:8099/echo/operations/op-1")
    assert route(status) == status
    assert RestSettings().route(status) == status  # not in sandbox mode: untouched
    assert settings.sandbox_host() == "127.0.0.1:8099"
    assert RestSettings().sandbox_host() is None


async def test_a_production_target_is_answered_by_the_sandbox(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox,
        "/dns-api.internal.example.com/v2/zones/*/records",
        {"status": 201, "json": {"id": "rec-9", "fqdn": "www.internal.example.com"}},
    )
    # No allowlist entry for loopback: sandbox mode alone allows the sandbox.
    harness = rest_harness(allowed_hosts="", sandbox_url=sandbox.echo_url)

    result = await harness.execute(
        "rest",
        {
            "method": "POST",
            "url": "https://dns-api.internal.example.com/v2/zones/internal.example.com/records",
            "json": {"name": "www"},
            "auth": {"type": "bearer", "token": "dns-token"},
            "expected_status": [201],
            "outputs": {"record_id": "$.id", "fqdn": "$.fqdn"},
        },
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs == {
        "status_code": 201,
        "record_id": "rec-9",
        "fqdn": "www.internal.example.com",
    }
    [seen] = sandbox.requests("echo", path="/dns-api.internal.example.com/*")
    assert seen["method"] == "POST"
    # The sandbox sees what the target would, credentials included.
    assert seen["headers"]["authorization"] == "Bearer dns-token"


async def test_sandbox_mode_calls_nothing_but_the_sandbox(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    harness = rest_harness(allowed_hosts="", sandbox_url=sandbox.echo_url)
    # An ftp URL is not rewritten, and the guard (only the sandbox allowed) refuses it.
    result = await harness.execute("rest", {"method": "GET", "url": "ftp://files.example.com/x"})
    assert isinstance(result, ActionFailed)
    assert "refused" in result.error


async def test_the_circuit_counts_per_target_host_in_sandbox_mode(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(sandbox, "/down.example.com/*", {"status": 503}, repeat_last=True)
    harness = rest_harness(
        allowed_hosts="", sandbox_url=sandbox.echo_url, circuit_failures=2, circuit_reset_s=60
    )
    call = {"method": "GET", "url": "https://down.example.com/ping", "retry": {"attempts": 1}}
    for _ in range(2):
        failed = await harness.execute("rest", call)
        assert isinstance(failed, ActionFailed) and "HTTP 503" in failed.error
    opened = await harness.execute("rest", call)
    assert isinstance(opened, ActionFailed) and opened.retryable
    assert "circuit" in opened.error.lower()
    assert len(sandbox.requests("echo", path="/down.example.com/*")) == 2
    # Another target behind the same sandbox has a circuit of its own.
    up = await harness.execute("rest", {"method": "GET", "url": "https://up.example.com/ping"})
    assert isinstance(up, ActionSucceeded), up
