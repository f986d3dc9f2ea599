"""Input patterns run on RE2 (linear time): refused at load when RE2 or the browser cannot
read them as the server does; a pathological pattern validates correctly (issue #10, 5).

Timings are printed by ``python -m tests.bench.patterns``, never asserted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from pao_catalog_model.forms import build_form, validate_inputs
from pao_catalog_model.loader import load_directory
from pao_catalog_model.model import parse_item
from pao_catalog_model.schema import document_validator
from pao_common.errors import TemplateError, UnsupportedPattern
from pao_common.patterns import (
    compile_pattern,
    linear_time_validator,
    pattern_problem,
    search,
    substitute,
)
from pao_common.templating import build_context, render, render_string
from pao_gateway.catalog_items import PinnedItem, checked_inputs
from pao_gateway.errors import InvalidSubmission

from tests.catalog_lib.support import load, messages, minimal, write

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
EVIL = "^(a+)+$"
#: 33 characters that make Python's ``re`` backtrack for over 20 s against ``EVIL``.
EVIL_INPUT = "a" * 32 + "b"


def with_pattern(pattern: str, **rules: Any) -> dict[str, Any]:
    doc = minimal()
    doc["presentation"]["fields"][0]["validation"] = {"pattern": pattern, **rules}
    return doc


def evil_item(tmp_path: Path) -> Any:
    doc = with_pattern(EVIL)
    doc["examples"][0]["inputs"]["name"] = "aaa"
    result = load(tmp_path, doc)
    assert result.errors == [] and result.item is not None
    return result.item


# --- the pathological pattern is accepted and validates correctly -------------------------


def test_the_backtracking_pattern_loads_and_judges_inputs_correctly(tmp_path: Path) -> None:
    item = evil_item(tmp_path)
    assert validate_inputs(item, {"name": "a" * 33}) == []
    [error] = validate_inputs(item, {"name": EVIL_INPUT})
    assert error.as_dict() == {"field": "name", "message": f"must match the pattern {EVIL}"}


def test_the_gateway_refuses_the_pathological_input_per_field(tmp_path: Path) -> None:
    pinned = PinnedItem("sample", "1.0.0", "sha256:x", evil_item(tmp_path))
    assert checked_inputs(pinned, {"name": "a" * 40})["name"] == "a" * 40
    with pytest.raises(InvalidSubmission) as refused:
        checked_inputs(pinned, {"name": "a" * 4000 + "b"})
    assert [(p.field, p.message) for p in refused.value.errors] == [
        ("name", f"must match the pattern {EVIL}")
    ]


def test_the_portal_schema_keeps_the_pattern(tmp_path: Path) -> None:
    schema = build_form(evil_item(tmp_path))["schema"]
    assert schema["properties"]["name"]["pattern"] == EVIL
    Draft7Validator.check_schema(schema)


def test_keyvalue_keys_are_matched_by_re2_too(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(
        {"id": "labels", "type": "keyvalue", "label": "Labels", "validation": {"pattern": EVIL}}
    )
    result = load(tmp_path, doc)
    assert result.item is not None, messages(result)
    errors = validate_inputs(result.item, {"name": "n", "labels": {EVIL_INPUT: "v", "aa": "w"}})
    assert [e.as_dict() for e in errors] == [
        {"field": "labels", "message": f"keys must match the pattern {EVIL}"}
    ]


def test_dollar_no_longer_admits_a_trailing_newline(tmp_path: Path) -> None:
    # Python's ``$`` also matches before a final "\n"; RE2's (and the browser's) does not.
    result = load(tmp_path, with_pattern("^[a-z]+$"))
    assert result.item is not None, messages(result)
    assert validate_inputs(result.item, {"name": "abc"}) == []
    assert [e.field for e in validate_inputs(result.item, {"name": "abc\n"})] == ["name"]


def test_a_pattern_re2_cannot_run_admits_nothing_at_run_time() -> None:
    # An item stored before this check could still carry one: fail closed, with the reason.
    validator = linear_time_validator(Draft7Validator)({"type": "string", "pattern": "(?=a)a"})
    [error] = validator.iter_errors("a")
    assert error.validator == "pattern"
    assert "lookahead" in error.message and "cannot be checked" in error.message


def test_a_stored_item_whose_pattern_re2_cannot_run_says_why_it_refuses() -> None:
    # parse_item skips the load-time checks, as reading an old version from history does.
    item = parse_item(with_pattern("^(?!root$)[a-z]+$"))
    [error] = validate_inputs(item, {"name": "alice"})
    assert error.field == "name"
    assert error.message == (
        "cannot be checked: the item's pattern is refused (the pattern uses a negative "
        "lookahead (?!...), which the linear-time engine (RE2) does not support)"
    )


def test_the_document_schema_is_matched_by_re2() -> None:
    # catalog-v2.0's id pattern ends in $: "sample\n" passed it under Python's re.
    errors = [e.validator for e in document_validator().iter_errors({"metadata": {"id": "x\n"}})]
    assert "pattern" in errors


# --- refused at load, with file:line and why -----------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^(?=.*[0-9]).+$", "the pattern uses a lookahead (?=...)"),
        ("^(?!admin).+$", "the pattern uses a negative lookahead (?!...)"),
        ("(?<=@)[a-z]+", "the pattern uses a lookbehind (?<=...)"),
        ("^(a)\\1$", "the pattern uses a backreference"),
        ("^(?P<x>a)(?P=x)$", "the pattern uses a named backreference (?P=name)"),
        ("^a++$", "the pattern uses a possessive quantifier"),
        ("^(?>a+)b$", "the pattern uses an atomic group (?>...)"),
        ("^[a-z]+\\Z", "\\Z is not understood by RE2"),
        ("^a{1001}$", "the linear-time engine (RE2) cannot compile it: invalid repetition size"),
    ],
)
def test_features_the_linear_time_engine_lacks_are_refused(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    text = write(tmp_path, with_pattern(pattern)).read_text()
    [error] = load(tmp_path, text).errors
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "pattern:" in t)
    assert (error.line, error.path) == (line, "presentation.fields[0].validation.pattern")
    assert error.message.startswith(f"pattern {pattern!r} refused: {reason}")
    if "RE2" not in reason:
        assert "which the linear-time engine (RE2) does not support" in error.message
    assert str(error).startswith(f"{error.file}:{line} presentation.fields[0].validation.pattern")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("\\A[a-z]+$", "\\A is not understood by the portal's browser validation: use ^"),
        ("^[a-z]+\\z", "\\z is not understood by the portal's browser validation: use $"),
        ("^(?P<x>a)$", "(?P<name>...): write (?<name>...)"),
        ("(?i)^abc$", "inline flags such as (?i)"),
        ("^[[:alpha:]]+$", "POSIX classes"),
        ("^\\pL+$", "write \\pX as \\p{X}"),
        ("^\\p{Greek}+$", "only general categories"),
        ("^\\x{e9}$", "write \\x{..} as \\xHH"),
        ("^a{,3}$", "write {0,n}"),
        ("^a{b$", "a literal '{' must be escaped"),
        ("^[]a]$", "']' first in a class"),
        ("^a\\-b$", "\\- is an error in the portal's browser validation (u flag)"),
        ("^\\Qa.b\\E$", "\\Q is not understood"),
    ],
)
def test_patterns_the_browser_reads_differently_are_refused(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    assert reason in (pattern_problem(pattern) or "")
    assert messages(load(tmp_path, with_pattern(pattern))) == [
        f"presentation.fields[0].validation.pattern: pattern {pattern!r} refused: "
        + str(pattern_problem(pattern))
    ]


@pytest.mark.parametrize(
    "pattern",
    [
        EVIL,
        "^[a-z][a-z0-9_]*$",
        "^([0-9]{1,3}\\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$",
        "^(?<env>dev|prod)-[0-9]+$",
        "^[\\w.+-]+@[\\w-]+\\.[\\w.]+$",
        "^\\p{L}[\\p{L}\\p{Nd} ]*$",
        "^\\d{4}-\\d{2}$",
        "^x{2,}y{0,3}?$",
        "^[^\\]\\[]+$",
        "^\\xe9\\t\\/$",
        "",
    ],
)
def test_portable_patterns_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None


# --- the browser really reads them as RE2 does --------------------------------------------

SAMPLES = ["", "a", "aa", "abc", "a-b", "Abc", "é", "\u00e9\u00e8", "dev-1", "10.0.0.0/8",
           "x@y.io", "aaab", "a{,3}", "A", "]a", "a\n", "ab\nc", "{", "-", "2024-01", "xxy",
           "é\t/", "[]"]  # fmt: skip
ACCEPTED = [
    EVIL,
    "^[a-z]+$",
    "^(?<env>dev|prod)-[0-9]+$",
    "^[\\w.+-]+@[\\w-]+\\.[\\w.]+$",
    "^\\p{L}[\\p{L}\\p{Nd} ]*$",
    "^\\d{4}-\\d{2}$",
    "^x{2,}y{0,3}?$",
    "^[^\\]\\[]+$",
    "^\\xe9\\t\\/$",
    "b",
    "^$",
]
REFUSED_FOR_THE_BROWSER = ["\\A[a-z]+", "[a-z]+\\z", "(?P<x>a)", "(?i)^abc$", "^[[:alpha:]]+$",
                           "^\\pL+$", "^a{,3}$", "^[]a]$", "^a\\-b$", "^\\Qa\\E"]  # fmt: skip
NODE_CHECK = """
const {patterns, samples} = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(patterns.map(p => {
  try { const re = new RegExp(p, "u"); return samples.map(s => re.test(s)); }
  catch (e) { return "error"; }
})));
"""


def browser_matches(patterns: list[str]) -> list[Any]:
    """What ECMAScript (``u`` flag, as ajv compiles a JSON Schema ``pattern``) says."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js (Debian: apt-get install nodejs)")
    done = subprocess.run(
        [node, "-e", NODE_CHECK],
        input=json.dumps({"patterns": patterns, "samples": SAMPLES}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: list[Any] = json.loads(done.stdout)
    return answer


def shipped_patterns() -> list[str]:
    items = [r.item for r in load_directory(CATALOG) if r.item is not None]
    found = {
        f.validation.pattern
        for item in items
        for top in item.presentation.all_fields()
        for f in (top, *top.fields)
        if f.validation.pattern is not None
    }
    assert found, "the shipped catalog declares no pattern any more: update this test"
    return sorted(found)


def test_accepted_patterns_match_in_the_browser_as_on_the_server() -> None:
    patterns = ACCEPTED + shipped_patterns()
    for pattern, answers in zip(patterns, browser_matches(patterns), strict=True):
        assert pattern_problem(pattern) is None, pattern
        assert answers == [search(pattern, s) for s in SAMPLES], pattern


def test_refused_patterns_do_read_differently_in_the_browser() -> None:
    for pattern, answers in zip(
        REFUSED_FOR_THE_BROWSER, browser_matches(REFUSED_FOR_THE_BROWSER), strict=True
    ):
        assert pattern_problem(pattern) is not None, pattern
        assert answers == "error" or answers != [search(pattern, s) for s in SAMPLES], pattern


def test_every_shipped_item_still_loads() -> None:
    results = load_directory(CATALOG)
    assert [str(e) for r in results for e in r.errors] == []
    assert len(results) >= 6 and all(r.item is not None for r in results)


# --- regex_replace in templates -------------------------------------------------------------


def test_regex_replace_matches_with_re2_and_reads_replacements_as_re_does() -> None:
    assert substitute(EVIL, "x", EVIL_INPUT) == EVIL_INPUT  # no match, and no stall
    assert substitute("a+", "€", "caaat") == "c€t"  # google-re2's own expansion garbles this
    assert substitute(r"(\w)(\d)", r"\2\1", "a1 b2") == "1a 2b"
    assert substitute(r"(?P<x>\w)(-)?", r"\g<x>\g<2>!", "ab-") == "a!b-!"
    assert substitute("^", "User:", "bob") == "User:bob"
    assert substitute("x*", "-", "abc") == "-a-b-c-"
    with pytest.raises(UnsupportedPattern, match="no group 3"):
        substitute("(a)", r"\3", "a")
    with pytest.raises(UnsupportedPattern, match=r"bad escape \\d"):
        substitute("(a)", r"\d", "a")


def test_regex_replace_in_a_template_renders_and_refuses_lookaround() -> None:
    context = build_context(inputs={"name": EVIL_INPUT})
    assert render("{{ inputs.name | regex_replace('b$', '!') }}", context) == "a" * 32 + "!"
    with pytest.raises(TemplateError, match="lookahead"):
        render_string("{{ inputs.name | regex_replace('(?=b)', '!') }}", context)


def test_a_literal_regex_replace_pattern_re2_lacks_is_refused_at_load(tmp_path: Path) -> None:
    doc = minimal()
    step = doc["fulfillment"]["automated"]["steps"][0]
    step["with"]["message"] = "{{ inputs.name | regex_replace('(?<=x)y', '') }}"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].with.message: regex_replace: pattern '(?<=x)y': "
        "the pattern uses a lookbehind (?<=...), which the linear-time engine (RE2) "
        "does not support"
    ]


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("^[a-z]+$") is compile_pattern("^[a-z]+$")
