"""What an import converted and what it left, each with the line of the source it came from.

ImportError_ (pao_catalog_model.errors.CatalogException)
└── ImportRefused     the file or template cannot be imported at all (not a Template, an
                      unsupported apiVersion, too big): one line saying why
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pao_catalog_model.errors import CatalogException

Path_ = tuple[str | int, ...]


class ImportRefused(CatalogException):
    """A file or template the importer will not convert; the message says why."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Finding:
    """One part of the source: where it was (``line``, ``source``), what became of it."""

    line: int | None
    source: str
    text: str
    target: Path_ | None = None  # where in the output it went (comments are put there)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "line ?"
        return f"{where:>9}  {self.source}: {self.text}"


@dataclass
class ImportReport:
    """Per template: the findings, converted and left (not converted, or only in part)."""

    file: str
    template: str
    converted: list[Finding] = field(default_factory=list)
    left: list[Finding] = field(default_factory=list)
    output: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.left and not self.errors

    def text(self) -> str:
        head = f"{self.file}: template {self.template}"
        lines = [head + (f" -> {self.output}" if self.output else " (not written)")]
        lines.append(f"  converted ({len(self.converted)}):")
        lines += [f"  {f}" for f in self.converted]
        lines.append(
            f"  not converted ({len(self.left)}):" if self.left else "  not converted: none"
        )
        lines += [f"  {f}" for f in self.left]
        if self.errors:
            lines.append("  the converted item is not valid:")
            lines += [f"    {e}" for e in self.errors]
        return "\n".join(lines)


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (hostile input has any shape)."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: object) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []
