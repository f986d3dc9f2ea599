"""Exceptions of the catalog language.

PaoError (pao_common.errors)
└── CatalogException          anything the catalog refuses
    ├── InvalidCatalogDocument  a document that fails the schema or its meaning checks
    │                           (``.problems``: one line per error)
    ├── ItemNotFound            no item (or no such version / example) under that name
    │   └── OperationNotFound   the item declares no day-2 operation of that id
    ├── UnknownActionType       an action type no registry declares
    └── VersionConflict         (pao_catalog.store) a document changed under an unchanged
                                version: the catalog service's version store refuses it

A single problem found while loading a file is not an exception but a record:
``pao_catalog_model.loader.CatalogError`` (file, line, path, message).
"""

from __future__ import annotations

from collections.abc import Iterable

from pao_common.errors import PaoError


class CatalogException(PaoError):
    """Base of the catalog's exceptions."""


class InvalidCatalogDocument(CatalogException):
    """A catalog document that is not valid; ``problems`` has one line per error."""

    def __init__(self, problems: Iterable[object]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__("; ".join(self.problems) or "invalid catalog document")


class ItemNotFound(CatalogException):
    """No catalog item, version or example under that name."""


class OperationNotFound(ItemNotFound):
    """The item declares no day-2 operation of that id (``.item_id``, ``.operation``)."""

    def __init__(self, item_id: str, operation: str, declared: Iterable[str]) -> None:
        names = ", ".join(declared) or "none"
        super().__init__(f"item {item_id} has no operation {operation!r} (declared: {names})")
        self.item_id = item_id
        self.operation = operation


class UnknownActionType(CatalogException):
    """An action type that no registry declares."""
