"""SSRF refusals, the circuit breaker of a target that is down, and secrets kept secret."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from pao_common.executor import install_log_redaction
from pao_common.executor.metrics import CIRCUIT_STATE
from pao_common.messages import ActionFailed, ActionSucceeded
from pao_devtools.ports import free_port
from pao_executors.rest import TargetGuard
from pao_executors.rest.errors import UnsafeTarget
from pao_executors.rest.guard import Resolver

from tests.executors_rest.conftest import HarnessFactory, script
from tests.support.sandbox import SandboxServer


def fake_dns(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


def guard(allowed: list[str], *, allow_private: bool = False) -> TargetGuard:
    table = {
        "api.example.com": ["93.184.216.34"],
        "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
        "metadata.example.com": ["169.254.169.254"],
        "internal.example.com": ["10.12.4.20"],
        "v6local.example.com": ["fe80::1%eth0"],
    }
    return TargetGuard(allowed, resolver=fake_dns(table), allow_private=allow_private)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://127.8.9.10/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:22/", "unspecified"),
        ("http://0.1.2.3/", "unspecified"),
        ("http://rebind.example.com/", "loopback"),  # one bad address is enough
        ("http://metadata.example.com/", "metadata"),
        ("http://v6local.example.com/", "link-local"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://api.example.com/", "only http and https"),
    ],
)
async def test_dangerous_targets_are_refused_by_default(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        await guard([]).check(httpx.URL(url))
    assert why in refused.value.message
    assert refused.value.retryable is False


async def test_public_and_private_network_hosts_pass_by_default() -> None:
    assert [str(a) for a in await guard([]).check(httpx.URL("https://api.example.com/x"))] == [
        "93.184.216.34"
    ]
    await guard([]).check(httpx.URL("https://internal.example.com/x"))


async def test_the_allowlist_limits_hosts_and_unlocks_exactly_listed_ones() -> None:
    allow = guard(["api.example.com", "*.corp.example.com", "127.0.0.1:8099", "10.0.0.0/8"])
    await allow.check(httpx.URL("https://api.example.com/"))
    await allow.check(httpx.URL("http://127.0.0.1:8099/echo"))  # listed exactly: allowed
    await allow.check(httpx.URL("https://internal.example.com/"))  # inside a listed CIDR
    with pytest.raises(UnsafeTarget, match="not in PAO_REST_ALLOWED_HOSTS"):
        await allow.check(httpx.URL("http://127.0.0.1:8100/"))  # another port
    with pytest.raises(UnsafeTarget, match="not in PAO_REST_ALLOWED_HOSTS"):
        await allow.check(httpx.URL("https://metadata.example.com/"))
    wildcard = TargetGuard(
        ["*.example.com"],
        resolver=fake_dns({"x.example.com": ["127.0.0.1"]}),
    )
    with pytest.raises(UnsafeTarget, match="loopback"):  # a wildcard does not unlock loopback
        await wildcard.check(httpx.URL("http://x.example.com/"))
    await guard([], allow_private=True).check(httpx.URL("http://169.254.169.254/"))


async def test_an_unresolvable_host_is_a_retryable_failure() -> None:
    with pytest.raises(Exception) as failed:
        await guard([]).check(httpx.URL("http://nowhere.example.com/"))
    assert getattr(failed.value, "retryable", None) is True


async def test_loopback_is_refused_over_the_wire_unless_configured(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    inputs = {"method": "GET", "url": f"{sandbox.echo_url}/ping"}

    refused = await rest_harness(allowed_hosts="").execute("rest", inputs)
    by_name = await rest_harness(allowed_hosts="").execute(
        "rest", {**inputs, "url": inputs["url"].replace("127.0.0.1", "localhost")}
    )
    assert sandbox.requests("echo", path="/ping") == []
    allowed_private = await rest_harness(allowed_hosts="", allow_private=True).execute(
        "rest", inputs
    )
    listed = await rest_harness(allowed_hosts=f"127.0.0.1:{sandbox.port}").execute("rest", inputs)

    for result in (refused, by_name):
        assert isinstance(result, ActionFailed)
        assert (result.error_type, result.retryable) == ("UnsafeTarget", False)
        assert "loopback" in result.error
    assert isinstance(allowed_private, ActionSucceeded), allowed_private
    assert isinstance(listed, ActionSucceeded), listed
    assert len(sandbox.requests("echo", path="/ping")) == 2


async def test_metadata_and_link_local_are_refused_over_the_wire(
    rest_harness: HarnessFactory,
) -> None:
    harness = rest_harness(allowed_hosts="")
    for url in ("http://169.254.169.254/latest/meta-data/iam/", "http://[fe80::1]:8080/"):
        result = await harness.execute("rest", {"method": "GET", "url": url})
        assert isinstance(result, ActionFailed)
        assert result.error_type == "UnsafeTarget"


async def test_a_redirect_to_the_metadata_address_is_refused(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox,
        "/go",
        {"status": 302, "headers": {"Location": "http://169.254.169.254/latest/meta-data/"}},
    )

    result = await rest_harness(allowed_hosts=f"127.0.0.1:{sandbox.port}").execute(
        "rest", {"method": "GET", "url": f"{sandbox.echo_url}/go"}
    )

    assert isinstance(result, ActionFailed)
    assert result.error_type == "UnsafeTarget"
    assert "169.254.169.254" in result.error


async def test_a_redirect_to_another_origin_does_not_carry_credentials(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    other = f"http://localhost:{sandbox.port}/echo/landed"
    script(sandbox, "/go", {"status": 307, "headers": {"Location": other}})

    result = await rest_harness(allowed_hosts="127.0.0.1,localhost").execute(
        "rest",
        {
            "method": "GET",
            "url": f"{sandbox.echo_url}/go",
            "headers": {"X-Trace": "t-1"},
            "auth": {"type": "api_key", "name": "X-Api-Key", "value": "k-123456789"},
            "outputs": {"headers": "$.headers"},
        },
    )

    assert isinstance(result, ActionSucceeded), result
    landed = result.outputs["headers"]
    assert "x-api-key" not in landed
    assert landed["x-trace"] == "t-1"


# --- circuit breaker ---------------------------------------------------------------------


@pytest.fixture
def late_server() -> Iterator[list[SandboxServer]]:
    started: list[SandboxServer] = []
    yield started
    for server in started:
        server.stop()


async def test_a_target_that_is_down_opens_the_circuit_fails_fast_and_recovers(
    rest_harness: HarnessFactory, late_server: list[SandboxServer]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/echo/health"
    harness = rest_harness(circuit_failures=3, circuit_reset_s=0.5)
    inputs = {"method": "GET", "url": url, "retry": {"attempts": 1}}
    target = f"127.0.0.1:{port}"

    down = [await harness.execute("rest", inputs) for _ in range(3)]
    fast = await harness.execute("rest", inputs)

    failed = [r for r in down if isinstance(r, ActionFailed)]
    assert len(failed) == len(down) and all(r.retryable for r in failed)
    assert all("cannot connect" in r.error for r in failed)
    assert isinstance(fast, ActionFailed)
    assert (fast.error_type, fast.retryable) == ("CircuitOpen", True)
    assert CIRCUIT_STATE.labels("rest", target)._value.get() == 2  # open

    server = SandboxServer(port=port).start()  # the target comes back
    late_server.append(server)
    recovered = None
    for _ in range(100):  # the circuit lets a probe through after reset_timeout_s
        recovered = await harness.execute("rest", inputs)
        if isinstance(recovered, ActionSucceeded):
            break
        assert isinstance(recovered, ActionFailed) and recovered.error_type == "CircuitOpen"
        await asyncio.sleep(0.1)

    assert isinstance(recovered, ActionSucceeded), recovered
    assert CIRCUIT_STATE.labels("rest", target)._value.get() == 0  # closed
    # Fail-fast answers never reached the target: one probe, the success.
    assert len(server.requests("echo", path="/health")) == 1


# --- secrets --------------------------------------------------------------------------------

SECRETS = {
    "PAO_SECRET_DNS_API_TOKEN": "tok-9f8e7d6c5b4a3921",
    "PAO_SECRET_DNS_API_PASSWORD": "pw-0a1b2c3d4e5f6071",
    "PAO_SECRET_DNS_API_KEY": "key-1122334455667788",
}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_no_secret_value_appears_in_logs_results_or_events(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    level = root.level
    root.setLevel(logging.DEBUG)
    install_log_redaction()  # what every executor service does at start
    sandbox.configure(
        "echo", required_headers={"Authorization": f"Bearer {SECRETS['PAO_SECRET_DNS_API_TOKEN']}"}
    )
    script(sandbox, "/fail", {"status": 500, "headers": {"Retry-After": "0"}}, repeat_last=True)
    harness = rest_harness(environ=SECRETS)
    base = f"{sandbox.echo_url}"
    try:
        results = [
            await harness.execute(
                "rest",
                {
                    "method": "POST",
                    "url": f"{base}/records",
                    "auth": {"type": "bearer", "token": "${secret:dns-api/token}"},
                    "json": {"note": "token is ${secret:dns-api/token}"},
                    "outputs": {"echoed": "$.headers.authorization", "body": "$.json.note"},
                },
            ),
            await harness.execute(
                "rest",
                {
                    "method": "GET",
                    "url": f"{base}/records",
                    "headers": {"Authorization": "Bearer ${secret:dns-api/token}"},
                    "query": {"api_key": "${secret:dns-api/key}"},
                    "outputs": {"query": "$.query", "all": "$"},
                },
            ),
            await harness.execute(
                "rest",
                {
                    "method": "GET",
                    "url": f"{base}/fail",
                    "auth": {
                        "type": "basic",
                        "username": "pao",
                        "password": "${secret:dns-api/password}",
                    },
                    "retry": {"attempts": 2},
                },
            ),
        ]
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    assert isinstance(results[0], ActionSucceeded), results[0]
    assert results[0].outputs["echoed"] == "Bearer ***"  # it arrived, and is masked
    assert results[0].outputs["body"] == "token is ***"
    assert isinstance(results[1], ActionSucceeded), results[1]
    assert isinstance(results[2], ActionFailed)
    # The secrets really were sent:
    sent = json.dumps(sandbox.requests("echo"))
    assert SECRETS["PAO_SECRET_DNS_API_TOKEN"] in sent
    assert SECRETS["PAO_SECRET_DNS_API_KEY"] in sent
    # ... and appear nowhere PAO writes.
    published = json.dumps([e.model_dump(mode="json") for e in harness.events])
    logged = "\n".join(capture.lines)
    assert capture.lines
    basic = "cGFvOnB3LTBhMWIyYzNkNGU1ZjYwNzE="  # base64("pao:" + password)
    for value in [*SECRETS.values(), basic]:
        assert value not in published
        assert value not in logged
