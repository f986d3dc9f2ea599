"""Hostile input to the Backstage importer: a clear one-line error or a reported gap, never a
traceback, and bounded work: the limits refuse a file before it costs much."""

from __future__ import annotations

import copy
import json
import random
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pao_catalog.importers.backstage import ImportedTemplate, import_file
from pao_catalog_model.loader import load_file
from pao_catalog_model.preview import preview

from tests.onboarding.support import PAO, pao

BACKSTAGE = Path(__file__).parent / "backstage"
HEAD = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: hostile}\n"


def _run(tmp_path: Path, text: str, name: str = "t.yaml") -> tuple[int, str]:
    path = tmp_path / name
    path.write_text(text)
    result = pao("catalog", "import", "backstage", str(path), "--out", str(tmp_path / "out"))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\n",
            "not a Backstage Template (kind: 'Component', apiVersion: 'backstage.io/v1alpha1')",
        ),
        ("- just\n- a list\n", "not a Backstage Template: a YAML list"),
        ("hello\n", "not a Backstage Template: a YAML str"),
        (
            "apiVersion: backstage.io/v1beta2\nkind: Template\nmetadata: {name: old}\nspec: {}\n",
            "apiVersion backstage.io/v1beta2: v1beta2 templates are not supported",
        ),
        (
            "apiVersion: scaffolder.backstage.io/v1beta4\nkind: Template\nspec: {}\n",
            "this importer reads scaffolder.backstage.io/v1beta3",
        ),
        (HEAD + "spec: [1, 2]\n", "a Template without a spec mapping"),
        ("a: [unclosed\n", "YAML syntax error"),
        ("", "empty file"),
        (HEAD + "metadata: {name: twice}\nspec: {}\n", "duplicate key 'metadata'"),
    ],
)
def test_what_is_not_a_v1beta3_template_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    code, output = _run(tmp_path, text)
    assert code == 1
    assert message in output
    assert not (tmp_path / "out").exists()


def test_a_component_next_to_a_template_in_one_file(tmp_path: Path) -> None:
    good = (Path(__file__).parent / "backstage" / "jira-access-request.yaml").read_text()
    code, output = _run(
        tmp_path, "apiVersion: backstage.io/v1alpha1\nkind: Component\n---\n" + good
    )
    assert code == 1  # one document failed; the template in the same file is still written
    assert "not a Backstage Template (kind: 'Component'" in output
    assert (tmp_path / "out" / "production-access.yaml").exists()


def test_ten_thousand_parameters_are_refused_with_bounded_memory(tmp_path: Path) -> None:
    properties = {f"p{i}": {"type": "string", "title": f"Parameter {i}"} for i in range(10_000)}
    doc = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "huge"},
        "spec": {
            "owner": "x",
            "parameters": [{"title": "All", "properties": properties}],
            "steps": [],
        },
    }
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(doc))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = subprocess.run(
        [str(PAO), "catalog", "import", "backstage", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"10,000 parameters ({path.stat().st_size} bytes): peak RSS {peak_kib / 1024:.0f} MiB")
    assert run.returncode == 1
    assert "10000 parameters, more than the 1000 a form can sensibly have" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert max(before, peak_kib) < 400 * 1024  # KiB: the whole CLI process, imports included


def test_deep_nesting_and_alias_bombs_are_refused(tmp_path: Path) -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(200):
        schema = {"type": "object", "properties": {"inner": schema}}
    doc = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "deep"},
        "spec": {"owner": "x", "parameters": [{"title": "Deep", "properties": {"outer": schema}}]},
    }
    code, output = _run(tmp_path, json.dumps(doc), "deep.yaml")  # JSON is YAML too
    assert code == 1 and "nesting deeper than 64 levels" in output
    code, output = _run(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n", "brackets.yaml")
    assert code == 1 and "not imported" in output and "nesting" in output  # libyaml's own limit
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join('*' + p for p in [prev] * 10)}]\n"
        for prev, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    code, output = _run(tmp_path, bomb, "bomb.yaml")
    assert code == 1 and "more than 200000 YAML nodes" in output


def test_expressions_that_reach_for_python_internals_stay_text(tmp_path: Path) -> None:
    reaching = [
        "${{ ''.__class__.__mro__[1].__subclasses__() }}",
        "${{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "${{ parameters.name.__class__ }}",
        "${{ parameters.name | attr('__class__') }}",
        "${{ self._TemplateReference__context }}",
        "${{ lipsum.__globals__['os'] }}",
        "${{ range(100000000) | list }}",
        "${{ 'a' * 1000000000000 }}",
        "${{ 9 ** 9 ** 9 }}",
        "${{ parameters.name.constructor.constructor('return process')() }}",
    ]
    steps = [
        {"id": f"s{i}", "action": "debug:log", "input": {"message": expr}}
        for i, expr in enumerate(reaching)
    ]
    doc = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "reaching"},
        "spec": {
            "owner": "x",
            "type": "t",
            "parameters": [
                {"title": "P", "required": ["name"], "properties": {"name": {"type": "string"}}}
            ],
            "steps": steps,
        },
    }
    path = tmp_path / "reaching.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    [result] = import_file(path)
    assert isinstance(result, ImportedTemplate)
    assert not result.report.errors
    reasons = [f.text for f in result.report.left]
    assert len(reasons) == len(reaching)
    assert sum("reaches for Python internals" in r for r in reasons) == 5
    out = tmp_path / "reaching-item.yaml"
    out.write_text(result.text)
    loaded = load_file(out)
    assert loaded.ok and loaded.item is not None
    shown = preview(loaded.item, {"name": "x"})
    assert shown.plan is not None
    messages = [step["with"]["message"] for step in shown.plan["steps"]]
    assert messages == reaching  # rendered as the text they were: nothing was evaluated


# Values of the wrong shape, put anywhere in the five templates: the importer must report
# or refuse them, never raise anything else.
JUNK: list[object] = [
    None,
    0,
    -5,
    2.5,
    True,
    "",
    "${{ parameters.resource }}",
    "${{ ",
    "}}",
    [],
    {},
    [None],
    [{}],
    {"a": 1},
    {"type": "array"},
    {"type": "object", "properties": {"a": {}}},
    {"enum": "x"},
    {"enum": []},
    {"enum": [[1], {"a": 1}]},
    {"const": None},
    {"properties": None},
    {"oneOf": [1]},
    {"if": 1, "then": 2},
    {"type": ["null"]},
    {"type": 7},
    {"format": [3]},
    {"pattern": "(?=a)"},
    {"ui:widget": {"a": 1}},
    {"minimum": "a", "type": "integer"},
    {"exclusiveMinimum": True, "type": "number"},
]
KEYS = [
    "enumNames",
    "ui:order",
    "items",
    "if",
    "then",
    "else",
    "allOf",
    "dependencies",
    "required",
    "default",
    "ui:field",
    "ui:widget",
    "input",
    "output",
    "each",
    "enum",
]


def _places(node: object, path: tuple[object, ...] = ()) -> list[tuple[tuple[object, ...], object]]:
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def test_values_of_the_wrong_shape_anywhere_never_crash_the_importer() -> None:
    from pao_catalog.importers.backstage import convert_template
    from pao_catalog.importers.report import ImportRefused

    templates = [yaml.safe_load(p.read_text()) for p in sorted(BACKSTAGE.glob("*.yaml"))]
    rng = random.Random(14)
    outcomes = {"converted": 0, "refused": 0}
    for _ in range(600):
        doc = copy.deepcopy(rng.choice(templates))
        for _ in range(rng.randint(1, 5)):
            path, node = rng.choice(_places(doc)[1:])
            parent: Any = doc
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(node, dict) and rng.random() < 0.4:
                node[rng.choice(KEYS)] = copy.deepcopy(rng.choice(JUNK))
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
        try:
            convert_template(doc, {}, "mutated.yaml")
            outcomes["converted"] += 1
        except ImportRefused:
            outcomes["refused"] += 1
    print(outcomes)
    assert outcomes["converted"] and outcomes["refused"]
