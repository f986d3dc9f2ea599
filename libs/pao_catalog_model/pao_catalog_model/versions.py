"""Which version of a catalog item is the latest: one rule for every service.

Versions are ordered by semantic-version precedence (semver.org: ``1.10.0`` above
``1.9.0``, a pre-release below its release). Two versions of equal precedence differ only
in build metadata (``1.0.0`` and ``1.0.0+build.2``); the one whose text sorts higher wins,
so the choice never depends on the order rows arrive in. Text that is not a semantic
version (the catalog refuses such documents, but a table may hold anything) sorts below
every real version, ordered by its text.

The catalog service's index (an item's ``latest`` and the version it is shown as), its
ingestion (versions only go up), the orchestrator's catalog adapters (the version a
request without one runs) and the gateway's submission check all use this rule;
tests/layers/test_one_rule.py pins its ties and that the four agree.
"""

from __future__ import annotations

from collections.abc import Iterable

import semver

VersionKey = tuple[int, semver.Version | None, str]


def version_key(version: str) -> VersionKey:
    """A sort key giving the order above (ascending: the latest sorts last)."""
    try:
        return (1, semver.Version.parse(version), version)
    except ValueError:
        return (0, None, version)


def latest_version(versions: Iterable[str]) -> str | None:
    """The latest of ``versions`` by the rule above; None when there are none."""
    return max(versions, key=version_key, default=None)
