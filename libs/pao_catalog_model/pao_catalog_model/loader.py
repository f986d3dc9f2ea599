"""Reading catalog documents from disk: safely, with a line number for every problem.

A catalog directory is written by many teams, so a file is treated as hostile until it
has passed, in this order (each failure is one line, never a traceback or a hang):

1. size (``MAX_DOCUMENT_BYTES``), empty file, binary data (NUL bytes, not UTF-8);
2. YAML syntax, nesting depth, and aliases: an alias expands to a copy of its anchor, so
   a "billion laughs" file is refused when its expanded node count passes
   ``MAX_EXPANDED_NODES``, and recursive aliases are refused outright; duplicate keys
   are errors (YAML would silently keep the last);
3. ``schemaVersion`` known;
4. the JSON Schema, then the meaning checks of ``pao_catalog_model.validation``.

Every error is a ``CatalogError`` whose ``str()`` reads
``catalog/db.yaml:23 fulfillment.automated.steps[1].with.name: unknown variable inputs.dbname``.
The line comes from the YAML node tree (``yaml.compose``), so it points at the value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pao_common.templating import format_path

from pao_catalog_model.actions import ActionRegistry, default_registry
from pao_catalog_model.model import CatalogItem
from pao_catalog_model.schema import SUPPORTED_SCHEMA_VERSIONS

MAX_DOCUMENT_BYTES = 512 * 1024
MAX_EXPANDED_NODES = 20_000
MAX_DEPTH = 64
DOCUMENT_SUFFIXES = (".yaml", ".yml")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class CatalogError:
    """One problem in one file: ``file:line path: message``.

    ``column`` (1-based, where the value starts) is for reports that place a marker in
    an editor or a code review (``pao catalog validate --format github|sarif``).
    """

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class LoadResult:
    """What loading one file gave: the item (``None`` when invalid) and every error."""

    file: str
    item: CatalogItem | None = None
    document: dict[str, Any] | None = None
    errors: list[CatalogError] = field(default_factory=list)
    content_hash: str = ""
    lines: dict[Path_, int] = field(default_factory=dict, repr=False)
    columns: dict[Path_, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.item is not None and not self.errors

    def line_of(self, path: Iterable[str | int]) -> int | None:
        """Line of the value at ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def column_of(self, path: Iterable[str | int]) -> int | None:
        """1-based column of the value ``line_of`` gives the line of."""
        key = tuple(path)
        while key and key not in self.lines:
            key = key[:-1]
        return self.columns.get(key)

    def error(self, path: Iterable[str | int], message: str) -> CatalogError:
        key = tuple(path)
        return CatalogError(
            self.file, self.line_of(key), format_path(key), message, self.column_of(key)
        )


class _Refused(Exception):
    """A file refused before its content is looked at; the message is the one-line reason."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader whose timestamps stay strings (a ``date`` field's default is text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def content_hash(data: bytes) -> str:
    """The hash recorded with a version: sha256 of the file's bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def document_hash(document: Mapping[str, Any]) -> str:
    """sha256 of a document's canonical JSON (for documents that did not come from a file)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def display_name(path: Path) -> str:
    """The path as errors show it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_file(path: str | Path, *, registry: ActionRegistry | None = None) -> LoadResult:
    """Read, parse and validate one catalog document."""
    path = Path(path)
    shown = display_name(path)
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            return _refused(shown, f"file is {size} bytes, more than {MAX_DOCUMENT_BYTES}")
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        return _refused(shown, f"cannot read: {exc.strerror or exc}")
    return load_bytes(data, shown, registry=registry)


def load_bytes(
    data: bytes, file: str = "<document>", *, registry: ActionRegistry | None = None
) -> LoadResult:
    """Parse and validate a document given as bytes (``file`` names it in errors)."""
    from pao_catalog_model.validation import validate_document

    result = LoadResult(file=file, content_hash=content_hash(data))
    try:
        document, lines, columns = parse_yaml_positions(data)
    except _Refused as refused:
        result.errors.append(CatalogError(file, refused.line, "", str(refused), refused.column))
        return result
    result.document, result.lines, result.columns = document, lines, columns
    item, problems = validate_document(document, registry=registry or default_registry())
    result.errors.extend(result.error(p, m) for p, m in problems)
    if not result.errors:
        result.item = item
    return result


def _refused(file: str, message: str) -> LoadResult:
    return LoadResult(file=file, errors=[CatalogError(file, None, "", message)])


def parse_yaml(data: bytes) -> tuple[dict[str, Any], dict[Path_, int]]:
    """The document and the line of every value in it; ``_Refused`` with a one-line reason."""
    document, lines, _columns = parse_yaml_positions(data)
    return document, lines


def parse_yaml_positions(
    data: bytes,
) -> tuple[dict[str, Any], dict[Path_, int], dict[Path_, int]]:
    """``parse_yaml``, with the 1-based column of every value too."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise _Refused(f"file is more than {MAX_DOCUMENT_BYTES} bytes")
    if b"\x00" in data:
        raise _Refused("binary data (NUL bytes), not a YAML document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Refused(f"not UTF-8 text (byte {exc.start}): binary data?") from None
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise _Refused("empty document")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise _Refused("empty document")
        _check_graph(node)
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        reason = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise _Refused(f"YAML syntax error: {reason}", line, column) from None
    except yaml.YAMLError as exc:
        raise _Refused(f"YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise _Refused(f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if document is None:
        raise _Refused("empty document")
    if not isinstance(document, dict):
        raise _Refused(f"a catalog document is a mapping, not a {type(document).__name__}", 1)
    version = document.get("schemaVersion")
    if version is None:
        raise _Refused("schemaVersion is missing (this build reads " + _versions() + ")", 1)
    if str(version) not in SUPPORTED_SCHEMA_VERSIONS or not isinstance(version, str):
        raise _Refused(f"unknown schemaVersion {version!r} (this build reads {_versions()})", 1)
    lines: dict[Path_, int] = {}
    columns: dict[Path_, int] = {}
    _record_lines(node, (), lines, columns)
    return document, lines, columns


def _versions() -> str:
    return ", ".join(f'"{v}"' for v in SUPPORTED_SCHEMA_VERSIONS)


def _check_graph(root: yaml.Node) -> None:
    """Refuse alias bombs, recursive aliases, deep nesting and duplicate keys."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise _Refused("recursive YAML alias", node.start_mark.line + 1)
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        first = seen[key_node.value]
                        raise _Refused(
                            f"duplicate key {key_node.value!r} (first on line {first})", line
                        )
                    seen[key_node.value] = line
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
        visiting.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise _Refused(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                node.start_mark.line + 1,
            )
        return total

    size(root, 0)


def _record_lines(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], columns: dict[Path_, int]
) -> None:
    if path in lines:
        return  # an alias seen twice; its first place is good enough
    lines[path] = node.start_mark.line + 1
    columns[path] = node.start_mark.column + 1
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _record_lines(child, (*path, index), lines, columns)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record_lines(value_node, (*path, _scalar_key(key_node)), lines, columns)


def _scalar_key(node: yaml.ScalarNode) -> str | int:
    if node.tag == "tag:yaml.org,2002:int":
        try:
            return int(node.value)
        except ValueError:
            return str(node.value)
    return str(node.value)


def is_document_file(path: Path) -> bool:
    """A file ``load_directory`` reads: ``*.yaml`` / ``*.yml``, not hidden."""
    return path.suffix.lower() in DOCUMENT_SUFFIXES and not path.name.startswith(".")


def load_directory(
    directory: str | Path, *, registry: ActionRegistry | None = None
) -> list[LoadResult]:
    """Load every document under ``directory`` (recursively, sorted by path).

    Besides each file's own errors, an item id defined by two files is an error in both.
    """
    root = Path(directory)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and is_document_file(p))
    return check_unique_ids([load_file(p, registry=registry) for p in paths])


def check_unique_ids(results: list[LoadResult]) -> list[LoadResult]:
    """Mark every result whose ``metadata.id`` another result defines too."""
    owners: dict[str, list[LoadResult]] = {}
    for result in results:
        metadata = (result.document or {}).get("metadata")
        item_id = metadata.get("id") if isinstance(metadata, dict) else None
        if isinstance(item_id, str):
            owners.setdefault(item_id, []).append(result)
    for item_id, defining in owners.items():
        if len(defining) < 2:
            continue
        for result in defining:
            others = ", ".join(r.file for r in defining if r is not result)
            result.errors.append(
                result.error(
                    ("metadata", "id"), f"duplicate item id {item_id!r} (also in {others})"
                )
            )
            result.item = None
    return results
