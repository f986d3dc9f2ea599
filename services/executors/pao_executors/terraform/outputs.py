"""What a ``terraform`` step returns: the Terraform outputs, and where they came from.

Non-sensitive Terraform outputs appear at the top level (``steps.db.outputs.endpoint``)
and again under ``outputs``; the executor's own keys (``workspace``, ``run_id``,
``run_url``, ``status``, ``mode``...) win over an output of the same name. Sensitive
outputs are never returned: their names are listed in ``sensitive_outputs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def step_outputs(meta: Mapping[str, Any], outputs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``outputs``: items with ``name``, ``value`` and ``sensitive`` (TFC or ``output -json``)."""
    plain: dict[str, Any] = {}
    hidden: list[str] = []
    for output in outputs:
        if output.get("sensitive"):
            hidden.append(str(output["name"]))
        else:
            plain[str(output["name"])] = output.get("value")
    return {
        **plain,
        **meta,
        "outputs": plain,
        "sensitive_outputs": sorted(hidden),
    }
