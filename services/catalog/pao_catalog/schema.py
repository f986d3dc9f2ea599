"""The published JSON Schema of catalog documents, one file per schema version."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from pao_common.patterns import linear_time_validator

#: Schema versions this build understands, newest last.
SUPPORTED_SCHEMA_VERSIONS = ("2.0",)


def schema_file_name(version: str) -> str:
    return f"catalog-v{version}.schema.json"


@cache
def document_schema(version: str = "2.0") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a catalog document of ``version``."""
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise KeyError(version)
    text = resources.files("pao_catalog").joinpath("schema", schema_file_name(version)).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def document_validator(version: str = "2.0") -> Draft202012Validator:
    return linear_time_validator(Draft202012Validator)(document_schema(version))
