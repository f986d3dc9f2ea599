"""The code shown in docs/executors.md is the example executor's code, not a paraphrase."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "executors.md"
EXAMPLE = REPO / "services" / "executors" / "pao_executors" / "example"


def test_writing_an_executor_snippets_are_taken_from_the_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Writing an executor", 1)[1].split("## Testing an executor", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 4
    source = "\n".join(p.read_text() for p in sorted(EXAMPLE.glob("*.py")))
    source_lines = {line.strip() for line in source.splitlines()}
    for block in blocks:
        for line in block.splitlines():
            stripped = line.strip()
            if not stripped or stripped == "..." or stripped.startswith("#"):
                continue
            if "ctx.circuit" in block:  # the breaker snippet is generic, not the example's
                break
            assert stripped in source_lines, (
                f"docs/executors.md shows a line the example lacks: {stripped}"
            )


def test_debug_action_table_names_every_debug_action() -> None:
    from pao_executors.debug import build_executor
    from pao_executors.debug.side_effects import InMemorySideEffectLog

    text = DOC.read_text(encoding="utf-8")
    for action_type in build_executor(InMemorySideEffectLog()).action_types:
        assert f"| `{action_type}` |" in text
