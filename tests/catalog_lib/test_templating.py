"""The variable system: rendering, functions, the sandbox and the static check."""

from __future__ import annotations

from typing import Any

import pytest
from pao_common.errors import TemplateError, UnknownVariable
from pao_common.messages import Requester
from pao_common.templating import (
    build_context,
    evaluate,
    referenced_variables,
    render,
    secret_reference,
    slugify,
)


@pytest.fixture
def ctx() -> dict[str, Any]:
    return build_context(
        inputs={"name": "Payments API", "replicas": 3, "tags": ["a", "b"], "env": "prod"},
        user=Requester(id="alice", email="alice@example.com", teams=("payments",)),
        item={"id": "db", "name": "Database", "version": "1.2.0"},
        request={"id": "req-1", "submitted_at": "2030-01-01T00:00:00+00:00"},
        system={
            "environment": "test",
            "portal_url": "https://pao",
            "now": "2030-01-02T03:04:05+00:00",
        },
        steps={"create": {"host": "db.internal"}, "other": {"outputs": {"id": 7}}},
    )


def test_renders_every_string_in_nested_values(ctx: dict[str, Any]) -> None:
    value = {"a": ["{{ inputs.name }}", {"b": "x-{{ user.id }}"}], "n": 5, "t": True}
    assert render(value, ctx) == {"a": ["Payments API", {"b": "x-alice"}], "n": 5, "t": True}


def test_a_lone_expression_keeps_its_type(ctx: dict[str, Any]) -> None:
    assert render("{{ inputs.replicas }}", ctx) == 3
    assert render("{{ inputs.tags }}", ctx) == ["a", "b"]
    assert render("{{ inputs.replicas }} pods", ctx) == "3 pods"


def test_context_roots(ctx: dict[str, Any]) -> None:
    text = (
        "{{ item.id }} {{ item.version }} {{ request.id }} {{ system.environment }} "
        "{{ user.teams[0] }}"
    )
    assert render(text, ctx) == "db 1.2.0 req-1 test payments"


def test_step_outputs_either_shape(ctx: dict[str, Any]) -> None:
    assert (
        render("{{ steps.create.outputs.host }}:{{ steps.other.outputs.id }}", ctx)
        == "db.internal:7"
    )


def test_functions_and_filters(ctx: dict[str, Any]) -> None:
    assert render("{{ inputs.name | slugify }}", ctx) == "payments-api"
    assert render("{{ now() }}", ctx) == "2030-01-02T03:04:05+00:00"
    assert render("{{ now('%Y') }}", ctx) == "2030"
    assert len(render("{{ uuid() }}", ctx)) == 36
    assert render("{{ inputs.tags | to_json }}", ctx) == '["a", "b"]'
    assert render("{{ inputs.missing | default('none') }}", ctx) == "none"
    assert render("{{ '{\"a\": 1}' | from_json }}", ctx) == {"a": 1}
    assert render("{{ slugify('Ünïcode Name!') }}", ctx) == "unicode-name"


def test_now_reads_the_clock_without_a_fixed_time() -> None:
    assert render("{{ now('%Y') }}", build_context())[:2] == "20"


def test_secret_renders_a_reference_not_a_value(ctx: dict[str, Any]) -> None:
    assert render("Bearer {{ secret('dns/token') }}", ctx) == "Bearer ${secret:dns/token}"
    assert secret_reference("x") == "${secret:x}"
    with pytest.raises(TemplateError, match="invalid secret name"):
        render("{{ secret('bad name!') }}", ctx)


def test_unknown_variable_names_the_path(ctx: dict[str, Any]) -> None:
    with pytest.raises(UnknownVariable, match=r"unknown variable inputs\.dbname"):
        render("{{ inputs.dbname }}", ctx)
    with pytest.raises(UnknownVariable, match=r"unknown variable steps\.later"):
        render("x {{ steps.later.outputs.id }}", ctx)
    with pytest.raises(UnknownVariable, match="unknown variable nothing"):
        render("{{ nothing }}", ctx)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.name.__class__.__base__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ inputs.__class__ }}",
        "{{ (1).__class__ }}",
        "{{ now.__globals__ }}",
        "{{ inputs.tags.append('x') }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 999999 }}",
        "{{ range(100000000) | list }}",
        "{% for x in range(10) %}{{ x.__class__ }}{% endfor %}",
    ],
)
def test_sandbox_escapes_fail_with_a_clear_error(ctx: dict[str, Any], template: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render(template, ctx)
    assert (
        "sandbox" in str(raised.value)
        or "unsafe" in str(raised.value)
        or "range" in str(raised.value)
    )


def test_syntax_errors_are_template_errors(ctx: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="template syntax error"):
        render("{{ inputs.name ", ctx)
    with pytest.raises(TemplateError, match="template syntax error"):
        render("{% if %}", ctx)


def test_runtime_errors_are_template_errors(ctx: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", ctx)


def test_evaluate_conditions(ctx: dict[str, Any]) -> None:
    assert evaluate("inputs.env == 'prod'", ctx) is True
    assert evaluate("{{ inputs.replicas > 5 }}", ctx) is False
    assert evaluate("'payments' in user.teams", ctx) is True
    assert evaluate(True, ctx) is True
    with pytest.raises(UnknownVariable, match=r"inputs\.nope"):
        evaluate("inputs.nope", ctx)
    with pytest.raises(TemplateError, match="syntax"):
        evaluate("inputs.env ==", ctx)
    with pytest.raises(TemplateError, match="sandbox"):
        evaluate("inputs.__class__", ctx)


def test_build_context_defaults() -> None:
    context = build_context()
    assert set(context) == {"inputs", "user", "item", "request", "system", "steps"}
    assert context["user"]["teams"] == []
    assert context["system"]["environment"] == "local"


def test_build_context_takes_an_item_model() -> None:
    from pao_catalog_model.model import parse_item

    from tests.catalog_lib.support import minimal

    context = build_context(item=parse_item(minimal()))
    assert context["item"]["id"] == "sample"


def test_referenced_variables() -> None:
    refs = referenced_variables(
        "{% for r in inputs.rules %}{{ r.port }}{{ loop.index }}{% endfor %}"
        "{{ steps.db.outputs.host }}:{{ inputs['port'] }} {{ uuid() }} {{ inputs[key] }}"
        "{% set local = 1 %}{{ local }}"
    )
    assert refs == {
        ("inputs", "rules"),
        ("steps", "db", "outputs", "host"),
        ("inputs", "port"),
        ("inputs",),
        ("key",),
    }
    assert referenced_variables("user.teams and inputs.env == 'x'", expression=True) == {
        ("user", "teams"),
        ("inputs", "env"),
    }


def test_slugify_limits_length() -> None:
    assert len(slugify("a" * 100)) == 63
    assert slugify("--A  b--") == "a-b"
