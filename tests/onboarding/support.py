"""Shared by the onboarding tests: run the ``pao`` command in-process, write documents."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from pao_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "catalog"
PAO = ROOT / ".venv" / "bin" / "pao"


def pao(*args: str, input: str | None = None) -> Result:
    """``pao ARGS`` in this process; stdout and stderr apart."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
