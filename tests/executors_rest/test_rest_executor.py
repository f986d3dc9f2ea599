"""The ``rest`` action against the sandbox echo target: outputs, status, retries, polling."""

from __future__ import annotations

import itertools

import pytest
from pao_common.messages import ActionFailed, ActionSucceeded

from tests.executors_rest.conftest import HarnessFactory, script
from tests.support.sandbox import SandboxServer

FQDN = "api-gateway.internal.example.com"
RECORD = {"name": "api-gateway", "type": "A", "content": "10.12.4.20", "ttl": 300}


async def test_outputs_are_extracted_from_the_response(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox,
        "/v2/zones/internal.example.com/records",
        {
            "status": 201,
            "headers": {"Location": "/v2/records/rec-1"},
            "json": {
                "id": "rec-1",
                "fqdn": FQDN,
                "tags": [{"k": "a"}],
            },
        },
    )
    harness = rest_harness()

    result = await harness.execute(
        "rest",
        {
            "method": "post",
            "url": f"{sandbox.echo_url}/v2/zones/internal.example.com/records",
            "headers": {"X-Request-Id": "req-1"},
            "json": RECORD,
            "expected_status": [201],
            "outputs": {
                "record_id": "$.id",
                "fqdn": "$.fqdn",
                "first_tag": "$.tags[0].k",
                "last_tag": "$['tags'][-1]['k']",
                "location": "headers.location",
                "code": "status",
            },
        },
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs == {
        "status_code": 201,
        "record_id": "rec-1",
        "fqdn": FQDN,
        "first_tag": "a",
        "last_tag": "a",
        "location": "/v2/records/rec-1",
        "code": 201,
    }
    [request] = sandbox.requests("echo", path="/v2/*")
    assert request["method"] == "POST"
    assert request["headers"]["x-request-id"] == "req-1"
    assert '"ttl": 300' in request["body"] or '"ttl":300' in request["body"]


async def test_query_and_echoed_json_body(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    result = await rest_harness().execute(
        "rest",
        {
            "method": "PUT",
            "url": f"{sandbox.echo_url}/things/1",
            "query": {"dry_run": True, "tag": ["a", "b"]},
            "json": {"size": 3},
            "outputs": {"method": "$.method", "size": "$.json.size", "tags": "$.query.tag"},
        },
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs == {"status_code": 200, "method": "PUT", "size": 3, "tags": ["a", "b"]}


async def test_an_unexpected_status_fails_without_retry(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(sandbox, "/v2/records", {"status": 409, "json": {"error": "record exists"}})

    result = await rest_harness().execute(
        "rest",
        {"method": "POST", "url": f"{sandbox.echo_url}/v2/records", "expected_status": 201},
    )

    assert isinstance(result, ActionFailed)
    assert result.retryable is False
    assert "HTTP 409, expected [201]" in result.error
    assert "record exists" in result.error
    assert result.outputs == {"status_code": 409}
    assert len(sandbox.requests("echo", path="/v2/records")) == 1


async def test_a_missing_output_fails_naming_it(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(sandbox, "/v2/records", {"status": 201, "json": {"name": "x"}})

    result = await rest_harness().execute(
        "rest",
        {"method": "POST", "url": f"{sandbox.echo_url}/v2/records", "outputs": {"id": "$.id"}},
    )

    assert isinstance(result, ActionFailed)
    assert (
        result.error == "output id: $.id is not in the response (HTTP 201); the body has ['name']"
    )


async def test_429_is_retried_after_the_retry_after_delay(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox,
        "/v2/records",
        {"status": 429, "headers": {"Retry-After": "1"}, "json": {"error": "slow down"}},
        {"status": 201, "json": {"id": "rec-9"}},
    )

    result = await rest_harness().execute(
        "rest",
        {
            "method": "POST",
            "url": f"{sandbox.echo_url}/v2/records",
            "expected_status": [201],
            "outputs": {"id": "$.id"},
        },
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["id"] == "rec-9"
    first, second = sandbox.requests("echo", path="/v2/records")
    assert (first["status"], second["status"]) == (429, 201)
    # The sandbox's own clock: the retry arrived no sooner than Retry-After allowed.
    assert second["received_at"] - first["received_at"] >= 1.0


async def test_503_then_200_is_retried_within_the_action(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox,
        "/health",
        {"status": 503, "headers": {"Retry-After": "0"}},
        {"status": 200, "json": {"ok": True}},
    )

    result = await rest_harness().execute(
        "rest", {"method": "GET", "url": f"{sandbox.echo_url}/health", "outputs": {"ok": "$.ok"}}
    )

    assert isinstance(result, ActionSucceeded), result
    assert [r["status"] for r in sandbox.requests("echo", path="/health")] == [503, 200]


async def test_5xx_after_every_attempt_is_a_retryable_failure(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(
        sandbox, "/v2/records", {"status": 502, "headers": {"Retry-After": "0"}}, repeat_last=True
    )

    result = await rest_harness().execute(
        "rest",
        {"method": "POST", "url": f"{sandbox.echo_url}/v2/records", "retry": {"attempts": 2}},
    )

    assert isinstance(result, ActionFailed)
    assert result.retryable is True
    assert result.error.endswith("HTTP 502 (after 2 attempt(s))")
    assert len(sandbox.requests("echo", path="/v2/records")) == 2


async def test_a_retry_after_longer_than_the_action_waits_fails_retryable_at_once(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    script(sandbox, "/v2/records", {"status": 429, "headers": {"Retry-After": "3600"}})

    result = await rest_harness().execute(
        "rest", {"method": "POST", "url": f"{sandbox.echo_url}/v2/records"}
    )

    assert isinstance(result, ActionFailed)
    assert result.retryable is True
    assert "asked to wait 3600s" in result.error
    assert len(sandbox.requests("echo", path="/v2/records")) == 1


async def test_a_long_running_operation_is_polled_until_done(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    result = await rest_harness().execute(
        "rest",
        {
            "method": "POST",
            "url": f"{sandbox.echo_url}/operations",
            "json": {"polls": 2, "result": {"cluster": "orders-db", "endpoint": "pg:5432"}},
            "expected_status": [202],
            "outputs": {"operation": "$.id"},
            "poll": {
                "url_from": "$.status_url",
                "interval_s": 0.2,
                "until": "$.status == 'done'",
                "fail_when": "$.status in ['failed', 'cancelled']",
                "error_from": "$.error",
                "outputs": {"endpoint": "$.result.endpoint"},
            },
        },
        timeout_s=30,
    )

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["endpoint"] == "pg:5432"
    assert result.outputs["polls"] == 3
    assert result.outputs["operation"].startswith("op-")
    polls = sandbox.requests("echo", path="/operations/*")
    assert len(polls) == 3
    # Each pending answer said Retry-After: 1, and the poller waited that long.
    gaps = [b["received_at"] - a["received_at"] for a, b in itertools.pairwise(polls)]
    assert all(gap >= 1.0 for gap in gaps)


async def test_a_failed_operation_fails_the_action_with_its_error(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    result = await rest_harness().execute(
        "rest",
        {
            "method": "POST",
            "url": f"{sandbox.echo_url}/operations",
            "json": {"polls": 0, "fail": True, "error": "quota exceeded"},
            "poll": {
                "until": "$.status == 'done'",
                "fail_when": "$.status == 'failed'",
                "error_from": "$.error",
            },
        },
    )

    assert isinstance(result, ActionFailed)
    assert result.retryable is False
    assert result.error == "poll: the operation failed: quota exceeded"


async def test_an_operation_that_outlasts_its_poll_timeout_fails(
    sandbox: SandboxServer, rest_harness: HarnessFactory
) -> None:
    result = await rest_harness().execute(
        "rest",
        {
            "method": "POST",
            "url": f"{sandbox.echo_url}/operations",
            "json": {"polls": 100},
            "poll": {"until": "$.status == 'done'", "timeout_s": 0.5},
        },
    )

    assert isinstance(result, ActionFailed)
    assert "did not finish in time" in result.error
    assert result.outputs["status_url"].startswith(f"{sandbox.echo_url}/operations/op-")


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({"method": "BREW", "url": "http://x"}, "method"),
        ({"method": "GET", "url": "http://x", "json": {}, "body": "x"}, "json or body"),
        ({"method": "GET", "url": "http://x", "poll": {"until": "$.a ==="}}, "poll.until"),
        ({"method": "GET", "url": "http://x", "auth": {"type": "oauth"}}, "auth"),
    ],
)
async def test_bad_inputs_are_refused_before_any_call(
    sandbox: SandboxServer,
    rest_harness: HarnessFactory,
    inputs: dict[str, object],
    problem: str,
) -> None:
    result = await rest_harness().execute("rest", inputs)

    assert isinstance(result, ActionFailed)
    assert result.error_type == "InvalidActionInputs"
    assert problem in result.error
