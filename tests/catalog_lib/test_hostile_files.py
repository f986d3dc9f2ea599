"""Hostile files are refused with a one-line reason: no traceback, no hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from pao_catalog_model import loader
from pao_catalog_model.loader import MAX_DOCUMENT_BYTES, MAX_EXPANDED_NODES

from tests.catalog_lib.support import load

BILLION_LAUGHS = """schemaVersion: "2.0"
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _only_error(tmp_path: Path, content: str | bytes) -> str:
    result = load(tmp_path, content)
    assert result.item is None and result.document is None
    assert len(result.errors) == 1, result.errors
    text = str(result.errors[0])
    assert "\n" not in text and "Traceback" not in text
    assert text.startswith(result.file)
    return text


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    text = _only_error(tmp_path, 'schemaVersion: "2.0"\nmetadata:\n  id: [unclosed\n  name: x\n')
    assert "YAML syntax error" in text
    assert ":4:" in text or ":5:" in text or ":3:" in text


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    assert "YAML syntax error" in _only_error(tmp_path, "a:\n\tb: 1\n")


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    text = _only_error(tmp_path, BILLION_LAUGHS)
    assert f"more than {MAX_EXPANDED_NODES} nodes" in text


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = _only_error(tmp_path, 'schemaVersion: "2.0"\na: &a [1, *a]\n')
    assert "recursive YAML alias" in text


def test_modest_aliases_are_fine(tmp_path: Path) -> None:
    from tests.catalog_lib.support import minimal, write

    path = write(tmp_path, minimal())
    text = path.read_text().replace("owner: platform", "owner: &team platform\n  tags: [*team]")
    result = load(tmp_path, text)
    assert result.errors == [] and result.item is not None
    assert result.item.metadata.tags == ("platform",)


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = 'schemaVersion: "2.0"\n' + "# padding\n" * (MAX_DOCUMENT_BYTES // 10 + 1)
    text = _only_error(tmp_path, big)
    assert f"more than {MAX_DOCUMENT_BYTES}" in text


def test_huge_bytes_are_refused_by_load_bytes() -> None:
    result = loader.load_bytes(b"a" * (MAX_DOCUMENT_BYTES + 1), "x.yaml")
    assert len(result.errors) == 1 and "more than" in result.errors[0].message


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"schemaVersion: \xff\xfe\n"],
)
def test_binary_data_is_refused(tmp_path: Path, content: bytes) -> None:
    text = _only_error(tmp_path, content)
    assert "binary" in text


@pytest.mark.parametrize("content", ["", "   \n\n", "# only a comment\n# and another\n", "---\n"])
def test_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    assert "empty document" in _only_error(tmp_path, content)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('schemaVersion: "1.0"\nmetadata: {}\n', "unknown schemaVersion '1.0'"),
        ('schemaVersion: "3.0"\n', "unknown schemaVersion '3.0'"),
        ("schemaVersion: 2.0\n", "unknown schemaVersion 2.0"),
        ("metadata: {id: x}\n", "schemaVersion is missing"),
    ],
)
def test_unknown_schema_version_is_refused(tmp_path: Path, content: str, expected: str) -> None:
    assert expected in _only_error(tmp_path, content)


@pytest.mark.parametrize("content", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_document_must_be_a_mapping(tmp_path: Path, content: str) -> None:
    assert "a catalog document is a mapping" in _only_error(tmp_path, content)


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    text = _only_error(tmp_path, 'schemaVersion: "2.0"\nx: ' + "[" * depth + "]" * depth + "\n")
    assert "nesting" in text


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    text = _only_error(tmp_path, 'schemaVersion: "2.0"\nmetadata: {}\nmetadata: {}\n')
    assert ":3:" in text and "duplicate key 'metadata' (first on line 2)" in text


def test_python_tags_are_refused(tmp_path: Path) -> None:
    text = _only_error(
        tmp_path, 'schemaVersion: "2.0"\nx: !!python/object/apply:os.system ["id"]\n'
    )
    assert "YAML" in text


def test_unreadable_path(tmp_path: Path) -> None:
    result = loader.load_file(tmp_path / "missing.yaml")
    assert len(result.errors) == 1 and "cannot read" in result.errors[0].message
