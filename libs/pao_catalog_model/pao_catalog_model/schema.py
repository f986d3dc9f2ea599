"""The published JSON Schema of catalog documents, one file per schema version.

The catalog service serves each file at ``schema_path(version)``
(``/schemas/catalog-v2.0.schema.json``, the path of the schema's ``$id``), byte for byte
the file the loader validates with; ``pao catalog new`` writes that address into the
documents it creates, so an editor checks exactly what the catalog accepts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from pao_common.patterns import linear_time_validator

#: Schema versions this build understands, newest last.
SUPPORTED_SCHEMA_VERSIONS = ("2.0",)


#: Where the catalog service serves the schema files.
SCHEMAS_PATH = "/schemas"


def schema_file_name(version: str) -> str:
    return f"catalog-v{version}.schema.json"


def schema_path(version: str = "2.0") -> str:
    """Where the service serves the schema of ``version``: ``/schemas/catalog-v2.0.schema.json``."""
    return f"{SCHEMAS_PATH}/{schema_file_name(version)}"


@cache
def schema_file_bytes(name: str) -> bytes | None:
    """The schema file called ``name`` as shipped, or None when no supported version has it."""
    known = {schema_file_name(v) for v in SUPPORTED_SCHEMA_VERSIONS}
    if name not in known:
        return None
    return _schema_dir().joinpath(name).read_bytes()


def _schema_dir() -> Traversable:
    return resources.files("pao_catalog_model").joinpath("schema")


@cache
def document_schema(version: str = "2.0") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a catalog document of ``version``."""
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise KeyError(version)
    text = (
        resources.files("pao_catalog_model")
        .joinpath("schema", schema_file_name(version))
        .read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def document_validator(version: str = "2.0") -> Draft202012Validator:
    return linear_time_validator(Draft202012Validator)(document_schema(version))
