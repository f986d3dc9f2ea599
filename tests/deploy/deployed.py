"""What the shipped deploy files give each PAO process: its command and its environment.

Read from the files themselves (``docker-compose.yml``, ``deploy/k8s/*.yaml`` and the image's
``ENV`` lines in ``deploy/docker/Dockerfile``), so a test that starts a process with this
environment starts it the way Compose or Kubernetes would, and a setting the files forget is a
failing start, not a surprise in production.

Secrets mounted as files (Kubernetes secret volumes, Compose ``secrets:``) are written to a
folder of the caller's, Compose's named volumes become folders shared by the processes that
mount them, and the container paths in the environment and the commands are pointed there.
Secrets and ConfigMaps the manifests expect the operator to create (docs/deploy.md) are
given by the caller, made the way that page says.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
K8S = REPO / "deploy" / "k8s"
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
# Where the image keeps the repository's files (Dockerfile: WORKDIR /app).
IMAGE_ROOT = "/app"


@dataclass
class DeployedProcess:
    """One container of the deploy: ``argv`` as the file says, ``env`` as the container sees it."""

    source: str  # "compose:gateway", "k8s:pao-gateway/gateway"
    argv: list[str]
    env: dict[str, str]
    # Files the container sees (mounted secrets), by their path inside the container.
    files: dict[str, bytes] = field(default_factory=dict)
    # Named volumes (Compose): mount path inside the container -> volume name.
    volumes: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str | None:
        """The Python module a ``python -m <module>`` command runs."""
        if len(self.argv) >= 3 and self.argv[0] == "python" and self.argv[1] == "-m":
            return self.argv[2]
        return None


@dataclass
class ImageStage:
    """One ``FROM ... AS name`` stage of the Dockerfile: what it builds on and its lines."""

    name: str
    base: str  # an image, or the name of an earlier stage
    lines: list[str] = field(default_factory=list)  # instructions, continuations joined


def dockerfile_stages() -> dict[str, ImageStage]:
    """The Dockerfile's stages in order (the last one is what ``docker build`` builds)."""
    stages: dict[str, ImageStage] = {}
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            words = line.split()
            name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else str(len(stages))
            stages[name] = ImageStage(name, words[1])
        else:
            list(stages.values())[-1].lines.append(line)
    return stages


def image_chain(target: str | None = None) -> list[ImageStage]:
    """The stages an image of ``target`` (default: the last stage) is made of, base first."""
    stages = dockerfile_stages()
    stage = stages[target] if target else list(stages.values())[-1]
    chain = [stage]
    while chain[0].base in stages:
        chain.insert(0, stages[chain[0].base])
    return chain


def image_env(target: str | None = None) -> dict[str, str]:
    """The ``ENV`` lines of the image of ``target`` (``KEY=value`` pairs, as Docker reads them)."""
    env: dict[str, str] = {}
    for stage in image_chain(target):
        for line in stage.lines:
            if line.startswith("ENV "):
                for pair in shlex.split(line[4:]):
                    key, _, value = pair.partition("=")
                    env[key] = value
    return env


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|\$\$")


def interpolate(value: str, shell: dict[str, str], where: str) -> str:
    """Compose's variable substitution (``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = shell.get(name)
        if op in (":-", "-"):
            if current is None or (op == ":-" and current == ""):
                return arg
            return current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"{where}: required variable {name} is missing: {arg}")
            return current
        return current or ""

    return _VARIABLE.sub(replace, value)


# The images docker-compose.yml builds from the Dockerfile: the product and the sandbox.
COMPOSE_IMAGES = ("pao:local", "pao-sandbox:local")


def compose_processes(shell: dict[str, str] | None = None) -> list[DeployedProcess]:
    """Every PAO container of ``docker-compose.yml`` (images ``COMPOSE_IMAGES``), sandbox
    included, with the variables of ``shell`` (none by default: what a newcomer's empty shell
    gives)."""
    shell = shell or {}
    document = yaml.safe_load(COMPOSE.read_text())
    secrets = document.get("secrets") or {}
    processes = []
    for name, service in document["services"].items():
        if service.get("image") not in COMPOSE_IMAGES:
            continue
        env = image_env((service.get("build") or {}).get("target"))
        raw = service.get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.split("=", 1) for item in raw)
        for key, value in raw.items():
            env[key] = interpolate(str(value), shell, f"docker-compose.yml {name}.{key}")
        files: dict[str, bytes] = {}
        for entry in service.get("secrets") or []:
            source = entry if isinstance(entry, str) else entry["source"]
            target = entry if isinstance(entry, str) else entry.get("target", source)
            target = target if target.startswith("/") else f"/run/secrets/{target}"
            declared = secrets[source]
            if "file" in declared:
                files[target] = (REPO / declared["file"]).read_bytes()
            elif "environment" in declared and declared["environment"] in shell:
                files[target] = shell[declared["environment"]].encode()
        volumes: dict[str, str] = {}
        for entry in service.get("volumes") or []:
            source, _, rest = str(entry).partition(":")
            if source in (document.get("volumes") or {}):
                volumes[rest.split(":")[0]] = source
        command = service["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        processes.append(DeployedProcess(f"compose:{name}", argv, env, files, volumes))
    return processes


def _k8s_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def _data(document: dict[str, Any]) -> dict[str, str]:
    data = {k: str(v) for k, v in (document.get("stringData") or {}).items()}
    for key, value in (document.get("data") or {}).items():
        data[key] = base64.b64decode(value).decode() if document["kind"] == "Secret" else value
    return data


def k8s_processes(
    supplied: dict[tuple[str, str], dict[str, str]] | None = None,
) -> list[DeployedProcess]:
    """Every container of the Deployments and Jobs in ``deploy/k8s``; ``supplied`` holds the
    Secrets and ConfigMaps (by kind and name) that the operator creates outside the files."""
    documents = _k8s_documents()
    maps = dict(supplied or {})
    maps.update(
        {
            (d["kind"], d["metadata"]["name"]): _data(d)
            for d in documents
            if d["kind"] in ("ConfigMap", "Secret")
        }
    )
    base = image_env()
    processes = []
    for document in documents:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for container in pod["containers"]:
            env = dict(base)
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    env.update(maps[("ConfigMap", source["configMapRef"]["name"])])
                else:
                    env.update(maps[("Secret", source["secretRef"]["name"])])
            for entry in container.get("env") or []:
                if "value" in entry:
                    env[entry["name"]] = str(entry["value"])
                    continue
                ref = entry["valueFrom"]
                if "secretKeyRef" in ref:
                    kind, key_ref = "Secret", ref["secretKeyRef"]
                else:
                    kind, key_ref = "ConfigMap", ref["configMapKeyRef"]
                env[entry["name"]] = maps[(kind, key_ref["name"])][key_ref["key"]]
            files: dict[str, bytes] = {}
            for mount in container.get("volumeMounts") or []:
                volume = volumes[mount["name"]]
                if "secret" in volume:
                    ref = ("Secret", volume["secret"]["secretName"])
                elif "configMap" in volume:
                    ref = ("ConfigMap", volume["configMap"]["name"])
                else:
                    continue
                if ref not in maps:
                    raise KeyError(f"{ref[0]} {ref[1]} is neither in deploy/k8s nor supplied")
                data = maps[ref]
                for key, value in data.items():
                    files[f"{mount['mountPath'].rstrip('/')}/{key}"] = value.encode()
            argv = list(container["command"]) + list(container.get("args") or [])
            name = f"k8s:{document['metadata']['name']}/{container['name']}"
            processes.append(DeployedProcess(name, argv, env, files))
    return processes


def materialise(
    process: DeployedProcess, root: Path, volumes_root: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and the environment with every in-container path pointed at a local
    copy: mounted secret files are written under ``root``, named volumes are folders under
    ``volumes_root`` (shared by every process mounting them), ``/app/...`` is the repo."""
    paths: dict[str, Path] = {IMAGE_ROOT: REPO}
    for path, content in process.files.items():
        local = root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(content)
        os.chmod(local, 0o600)
        paths[str(Path(path).parent)] = local.parent
    for mount, volume in process.volumes.items():
        paths[mount] = volumes_root / volume
        paths[mount].mkdir(parents=True, exist_ok=True)

    def localise(value: str) -> str:
        for container, local in sorted(paths.items(), key=lambda p: -len(p[0])):
            value = re.sub(re.escape(container) + r"(?=/|$|\s|,)", str(local), value)
        return value

    env = {key: localise(value) for key, value in process.env.items()}
    return [localise(arg) for arg in process.argv], env
