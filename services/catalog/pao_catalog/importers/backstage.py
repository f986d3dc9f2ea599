"""Backstage Software Templates (``scaffolder.backstage.io/v1beta3``) as Schema v2.0 items.

``import_file(path)`` reads a template file (several ``---`` documents allowed) and
returns, per template, the converted item document, its YAML text (every part that was
not converted marked with a ``# NOT CONVERTED`` comment where it would have gone) and an
``ImportReport`` listing what was converted and what was not, with the template's lines.

Parameters: see ``parameters``. Steps whose action has a PAO counterpart become steps:
``github:actions:dispatch`` -> ``github-workflow``, ``http:backstage:request`` (and
``http:request``) -> ``rest``, ``debug:log`` -> ``debug.log``, JIRA issue creation ->
``jira``, or a manual item when creating the ticket is all the template does. ``if:``
becomes ``when:``, ``steps.x.output.y`` ``steps.x.outputs.y``, and ``output.links`` and
``output.text`` item outputs. Workspace actions (``fetch:template``, ``publish:*``,
``catalog:register``...) have no counterpart: they are reported, never dropped silently.

A file is hostile until read: it is refused with one line when larger than
``MAX_TEMPLATE_BYTES``, not YAML, nested deeper than ``MAX_DEPTH``, larger than
``MAX_NODES`` (aliases expanded), or when a template has more than ``MAX_PARAMETERS``.
Expressions are rewritten, never evaluated (see ``expressions``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.actions import ActionRegistry, default_registry
from pao_catalog_model.loader import load_bytes

from pao_catalog.importers.expressions import Scope, StepRef, convert_expression, convert_string
from pao_catalog.importers.parameters import Converter, field_id
from pao_catalog.importers.report import ImportRefused, ImportReport, Path_, mapping, sequence

V1BETA3 = "scaffolder.backstage.io/v1beta3"
MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_STEPS = 100

WORKSPACE_ACTIONS = {
    "fetch:template": "renders a skeleton into Backstage's workspace",
    "fetch:plain": "copies files into Backstage's workspace",
    "fetch:plain:file": "copies a file into Backstage's workspace",
    "fetch:cookiecutter": "renders a cookiecutter skeleton into Backstage's workspace",
    "fs:rename": "renames files in Backstage's workspace",
    "fs:delete": "deletes files in Backstage's workspace",
    "catalog:register": "registers an entity in Backstage's catalog",
    "catalog:write": "writes a catalog-info.yaml into Backstage's workspace",
    "catalog:fetch": "reads an entity from Backstage's catalog",
}
HTTP_ACTIONS = frozenset({"http:backstage:request", "http:request"})
JIRA_ACTIONS = frozenset(
    {"jira:create-issue", "jira:issue:create", "jira:create", "jira:createIssue"}
)
_NOT_A_NAME = re.compile(r"[^a-z0-9]+")


@dataclass
class ImportedTemplate:
    """One converted template: the item document, its commented YAML and the report."""

    document: dict[str, Any]
    text: str
    report: ImportReport
    item_id: str


# --- reading -------------------------------------------------------------------------------


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loading only."""


def read_templates(data: bytes, file: str) -> list[tuple[Any, dict[Path_, int]]]:
    """Every YAML document of the file with the line of every value; refused if hostile."""
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ImportRefused(f"file is {len(data)} bytes, more than {MAX_TEMPLATE_BYTES}")
    if b"\x00" in data:
        raise ImportRefused("binary data (NUL bytes), not a YAML document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"not UTF-8 text (byte {exc.start})") from None
    loader = _Loader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check(node)
            lines: dict[Path_, int] = {}
            _lines(node, (), lines)
            documents.append((loader.construct_document(node), lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ImportRefused(
            f"YAML syntax error: {reason}", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ImportRefused(f"YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ImportRefused(f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if not documents:
        raise ImportRefused("empty file: no YAML document")
    return documents


def _check(root: yaml.Node) -> None:
    """Depth and size (aliases expanded) without recursion in Python's stack."""
    count = 0
    stack: list[tuple[yaml.Node, int, frozenset[int]]] = [(root, 0, frozenset())]
    while stack:
        node, depth, ancestors = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ImportRefused(f"more than {MAX_NODES} YAML nodes (aliases expanded)")
        if depth > MAX_DEPTH:
            raise ImportRefused(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if id(node) in ancestors:
            raise ImportRefused("recursive YAML alias", node.start_mark.line + 1)
        inner = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1, inner) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise ImportRefused(f"duplicate key {key.value!r}", key.start_mark.line + 1)
                    seen.add(key.value)
                stack.append((key, depth + 1, inner))
                stack.append((value, depth + 1, inner))


def _lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    stack: list[tuple[yaml.Node, Path_]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        lines.setdefault(where, current.start_mark.line + 1)
        if isinstance(current, yaml.SequenceNode):
            stack.extend(((c, (*where, i)) for i, c in enumerate(current.value)))
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*where, key.value), key.start_mark.line + 1)
                    stack.append((value, (*where, key.value)))


# --- converting ----------------------------------------------------------------------------


def import_file(
    path: Path,
    *,
    registry: ActionRegistry | None = None,
    jira_project: str = "OPS",
    backstage_url: str | None = None,
) -> list[ImportedTemplate | ImportReport]:
    """Every template of the file, converted; an ``ImportReport`` alone for one refused."""
    shown = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise ImportRefused(f"file is {size} bytes, more than {MAX_TEMPLATE_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"cannot read: {exc.strerror or exc}") from None
    results: list[ImportedTemplate | ImportReport] = []
    for index, (document, lines) in enumerate(read_templates(data, shown)):
        try:
            results.append(
                convert_template(
                    document,
                    lines,
                    shown,
                    registry=registry,
                    jira_project=jira_project,
                    backstage_url=backstage_url,
                )
            )
        except ImportRefused as refused:
            report = ImportReport(shown, _name(document) or f"document {index + 1}")
            line = f"line {refused.line}: " if refused.line else ""
            report.errors.append(f"{line}{refused}")
            results.append(report)
    return results


def _name(document: Any) -> str:
    if isinstance(document, Mapping) and isinstance(document.get("metadata"), Mapping):
        return str(document["metadata"].get("name") or "")
    return ""


def check_template(document: Any) -> None:
    """Refuse what is not a v1beta3 Template, saying what it is."""
    if not isinstance(document, Mapping):
        raise ImportRefused(f"not a Backstage Template: a YAML {type(document).__name__}", 1)
    api, kind = document.get("apiVersion"), document.get("kind")
    if kind != "Template":
        raise ImportRefused(f"not a Backstage Template (kind: {kind!r}, apiVersion: {api!r})", 1)
    if api == "backstage.io/v1beta2" or (isinstance(api, str) and api.endswith("/v1beta2")):
        raise ImportRefused(
            f"apiVersion {api}: v1beta2 templates are not supported; Backstage's own "
            "migration guide moves them to scaffolder.backstage.io/v1beta3 "
            "(${{ }} expressions instead of {{ }}), which this importer reads",
            1,
        )
    if api != V1BETA3:
        raise ImportRefused(f"apiVersion {api!r}: this importer reads {V1BETA3}", 1)
    if not isinstance(document.get("spec"), Mapping):
        raise ImportRefused("a Template without a spec mapping", 1)


@dataclass
class _Template:
    """The state of one conversion."""

    lines: dict[Path_, int]
    converter: Converter
    scope: Scope
    # JSONPaths into a REST step's response that later expressions read, by step id.
    pending_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        key = path
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get(())

    def done(self, path: Path_, text: str) -> None:
        self.converter.done(path, text)

    def lost(self, path: Path_, text: str, target: Path_ | None = None) -> None:
        self.converter.lost(path, text, target)

    def template(self, value: Any, path: Path_, target: Path_) -> Any:
        """Backstage values (strings with ${{ }}, lists, mappings) as PAO templates."""
        if isinstance(value, str):
            converted, problems = convert_string(value, self.scope)
            for problem in problems:
                self.lost(path, f"expression not converted: {problem}", target)
            return converted
        if isinstance(value, Mapping):
            return {str(k): self.template(v, (*path, k), target) for k, v in value.items()}
        if isinstance(value, list):
            return [self.template(v, (*path, i), target) for i, v in enumerate(value)]
        return value


def convert_template(
    document: Any,
    lines: dict[Path_, int],
    file: str,
    *,
    registry: ActionRegistry | None = None,
    jira_project: str = "OPS",
    backstage_url: str | None = None,
) -> ImportedTemplate:
    check_template(document)
    meta = mapping(document.get("metadata"))
    spec = document["spec"]
    name = str(meta.get("name") or "template")
    report = ImportReport(file, name)
    state = _Template(lines, Converter(lambda p: state.line(p)), Scope())
    state.scope.rest_output = _rest_outputs(state)
    item_id = _item_id(name)
    metadata = _metadata(meta, spec, item_id, state)
    sections = state.converter.sections(spec.get("parameters") or [], ("spec", "parameters"))
    state.scope.fields = state.converter.fields
    steps = spec.get("steps") or []
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise ImportRefused(
            f"spec.steps must be a list of at most {MAX_STEPS} steps", state.line(("spec", "steps"))
        )
    plans = _plan_steps(steps, state)
    fulfillment = _fulfillment(plans, state, jira_project, backstage_url, metadata["name"])
    doc: dict[str, Any] = {"schemaVersion": "2.0", "metadata": metadata}
    if sections:
        doc["presentation"] = {
            "layout": "pages" if len(sections) > 1 else "sections",
            "sections": [s for s in sections if s["fields"]],
        }
        if not doc["presentation"]["sections"]:
            del doc["presentation"]
    doc["fulfillment"] = fulfillment
    _outputs(spec.get("output"), doc, state)
    doc["examples"] = [_example(doc, metadata["owner"])]
    report.converted, report.left = state.converter.converted, state.converter.left
    text = render(doc, report, file)
    result = load_bytes(text.encode(), f"{item_id}.yaml", registry=registry or default_registry())
    report.errors = [str(e) for e in result.errors]
    return ImportedTemplate(doc, text, report, item_id)


def _item_id(name: str) -> str:
    slug = _NOT_A_NAME.sub("-", re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = "bs-" + slug
    return slug[:63].rstrip("-")


def _slug(value: str, pattern: str = "-") -> str:
    return _NOT_A_NAME.sub(pattern, value.lower()).strip(pattern) or "imported"


def _metadata(
    meta: Mapping[str, Any], spec: Mapping[str, Any], item_id: str, state: _Template
) -> dict[str, Any]:
    target: Path_ = ("metadata",)
    owner_ref = str(spec.get("owner") or "")
    owner = (
        _slug(owner_ref.split("/")[-1].split(":")[-1].split("@")[0]) if owner_ref else "imported"
    )
    if owner_ref:
        state.done(("spec", "owner"), f"owner {owner_ref} -> {owner}")
    else:
        state.lost(("spec",), "no spec.owner: owner set to 'imported'", target)
    out: dict[str, Any] = {
        "id": item_id,
        "name": str(meta.get("title") or meta.get("name") or item_id),
        "version": "1.0.0",
        "owner": owner,
        "category": _slug(str(spec.get("type") or "imported")),
    }
    state.done(("metadata", "name"), f"name {meta.get('name')} -> item id {item_id}")
    tags = [t for t in (_slug(str(tag)) for tag in sequence(meta.get("tags"))) if t]
    if tags:
        out["tags"] = list(dict.fromkeys(tags))
    if meta.get("description"):
        out["description"] = str(meta["description"]).strip()
    links = sequence(meta.get("links"))
    docs = [
        {"title": str(link.get("title") or link["url"]), "url": str(link["url"])}
        for link in links
        if isinstance(link, Mapping)
        and str(link.get("url", "")).startswith(("http://", "https://"))
    ]
    if docs:
        out["docs"] = docs
    for key in meta:
        if key not in ("name", "title", "description", "tags", "links", "namespace"):
            state.lost(("metadata", key), f"metadata.{key} is not converted", target)
    for key in spec:
        if key not in ("owner", "type", "parameters", "steps", "output"):
            state.lost(("spec", key), f"spec.{key} is not converted", target)
    return out


# --- steps ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    source: Mapping[str, Any]
    path: Path_
    action: str  # the PAO action, or "" when not converted
    step_id: str


def _plan_steps(steps: list[Any], state: _Template) -> list[_Plan]:
    """Decide which steps convert, and register their ids before any expression is read."""
    plans = []
    used: set[str] = set()
    for index, step in enumerate(steps):
        path: Path_ = ("spec", "steps", index)
        if not isinstance(step, Mapping):
            state.lost(path, "a step must be a mapping", ("fulfillment",))
            continue
        action = str(step.get("action") or "")
        source_id = str(step.get("id") or f"step{index + 1}")
        pao = {"debug:log": "debug.log", "github:actions:dispatch": "github-workflow"}.get(action)
        if action in HTTP_ACTIONS:
            pao = "rest"
        elif action in JIRA_ACTIONS:
            pao = "jira"
        step_id = field_id(source_id)
        while step_id in used:
            step_id += "_2"
        used.add(step_id)
        plans.append(_Plan(step, path, pao or "", step_id))
        if pao:
            state.scope.steps[source_id] = StepRef(step_id, pao)
        else:
            why = WORKSPACE_ACTIONS.get(action) or (
                "publishes a repository from Backstage's workspace"
                if action.startswith("publish:")
                else "a Backstage action PAO has no counterpart for"
            )
            state.lost(
                path,
                f"step {source_id} ({action}): {why}; not converted "
                "(a GitHub workflow or your own action type can do it)",
                ("fulfillment",),
            )
    return plans


def _fulfillment(
    plans: list[_Plan], state: _Template, jira_project: str, backstage_url: str | None, name: str
) -> dict[str, Any]:
    converted = [p for p in plans if p.action]
    # Creating one ticket, unconditionally, is what a manual item does: make it one.
    if len(converted) == 1 and converted[0].action == "jira" and "if" not in converted[0].source:
        plan = converted[0]
        ticket = _jira(plan, state, ("fulfillment", "manual", "jira"))
        state.done(
            plan.path,
            f"step {plan.source.get('id')} ({plan.source.get('action')}) -> "
            "a manual item: the JIRA ticket",
        )
        return {"mode": "manual", "manual": {"jira": ticket}}
    steps: list[dict[str, Any]] = []
    for plan in converted:
        target: Path_ = ("fulfillment", "automated", "steps", len(steps))
        step = _step(plan, state, target, backstage_url)
        if step is not None:
            steps.append(step)
    if steps:
        return {"mode": "automated", "automated": {"steps": steps}}
    state.lost(
        ("spec", "steps"),
        f"no step could be converted: the item opens a JIRA ticket "
        f"in {jira_project} for the work until you add steps",
        ("fulfillment",),
    )
    fields = list(state.converter.fields.values())
    lines = [f"{f.id}: {{{{ inputs.{f.id} | default('') }}}}" for f in fields if f.type != "secret"]
    return {
        "mode": "manual",
        "manual": {
            "jira": {
                "project": jira_project,
                "summary": f"{name} for {{{{ user.id }}}}",
                "description": "\n".join(["Requested in PAO: {{ request.url }}", *lines]) + "\n",
            }
        },
    }


def _step(
    plan: _Plan, state: _Template, target: Path_, backstage_url: str | None
) -> dict[str, Any] | None:
    source = plan.source
    inputs = mapping(source.get("input"))
    ipath = (*plan.path, "input")
    step: dict[str, Any] = {"id": plan.step_id, "action": plan.action}
    if source.get("name"):
        step["name"] = str(source["name"])
    if plan.action == "debug.log":
        step["with"] = {
            "message": state.template(inputs.get("message", ""), (*ipath, "message"), target)
        }
        _leftover(inputs, {"message"}, ipath, state, target)
    elif plan.action == "github-workflow":
        step["with"] = _github(inputs, ipath, state, target)
    elif plan.action == "rest":
        step["with"] = _http(inputs, ipath, state, target, backstage_url)
    elif plan.action == "jira":
        step["with"] = _jira(plan, state, (*target, "with"))
    for key in source:
        if key not in ("id", "name", "action", "input", "if"):
            state.lost((*plan.path, key), f"step key {key!r} is not converted", target)
    condition = source.get("if")
    if condition is not None:
        when = _when(condition, (*plan.path, "if"), state, target)
        step["when"] = when
    state.done(
        plan.path,
        f"step {source.get('id')} ({source.get('action')}) -> {plan.action}"
        + (" with when:" if condition is not None else ""),
    )
    return step


def _when(condition: Any, path: Path_, state: _Template, target: Path_) -> str:
    if isinstance(condition, bool):
        return "true" if condition else "false"
    text = str(condition).strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.DOTALL)
    if match is None:
        state.lost(
            path,
            f"if: {text!r} is not a ${{{{ }}}} expression; the step never runs "
            "until you write its when:",
            target,
        )
        return "false"
    converted, problem = convert_expression(match.group(1), state.scope)
    if converted is None:
        state.lost(
            path,
            f"if: {text} not converted ({problem}); the step never runs until you write its when:",
            target,
        )
        return "false"
    return converted


def _leftover(
    inputs: Mapping[str, Any], used: set[str], path: Path_, state: _Template, target: Path_
) -> None:
    for key in inputs:
        if key not in used:
            state.lost((*path, key), f"input {key!r} has no PAO counterpart", target)


_REPO_URL = re.compile(r"^(?P<host>[^?]+)\?(?P<query>.*)$")


def _github(
    inputs: Mapping[str, Any], path: Path_, state: _Template, target: Path_
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    repo_url = inputs.get("repoUrl")
    literal = (
        _REPO_URL.match(repo_url) if isinstance(repo_url, str) and "${{" not in repo_url else None
    )
    if literal:
        query = dict(part.partition("=")[::2] for part in literal["query"].split("&"))
        out["owner"], out["repo"] = query.get("owner", ""), query.get("repo", "")
    elif isinstance(repo_url, str):
        # host?owner=o&repo=r from a RepoUrlPicker: owner and repo are cut out with RE2.
        value = state.template(repo_url, (*path, "repoUrl"), target)
        inner = value[3:-3] if value.startswith("{{ ") and value.endswith(" }}") else None
        if inner is None or inner.startswith("'"):
            out["owner"] = out["repo"] = value
        else:
            out["owner"] = "{{ " + inner + " | regex_replace('^.*[?&]owner=([^&]*).*$', '\\\\1') }}"
            out["repo"] = "{{ " + inner + " | regex_replace('^.*[?&]repo=([^&]*).*$', '\\\\1') }}"
    else:
        state.lost(path, "github:actions:dispatch without repoUrl", target)
        out["owner"] = out["repo"] = "unknown"
    out["workflow"] = state.template(
        inputs.get("workflowId", "unknown.yml"), (*path, "workflowId"), target
    )
    if "branchOrTagName" in inputs:
        out["ref"] = state.template(inputs["branchOrTagName"], (*path, "branchOrTagName"), target)
    if "workflowInputs" in inputs:
        out["inputs"] = state.template(inputs["workflowInputs"], (*path, "workflowInputs"), target)
    if "token" in inputs:
        state.lost(
            (*path, "token"), "token: the github-workflow executor uses its own credentials", target
        )
    _leftover(
        inputs,
        {"repoUrl", "workflowId", "branchOrTagName", "workflowInputs", "token"},
        path,
        state,
        target,
    )
    return out


def _http(
    inputs: Mapping[str, Any],
    path: Path_,
    state: _Template,
    target: Path_,
    backstage_url: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"method": str(inputs.get("method") or "GET").upper()}
    where = inputs.get("url") or inputs.get("path") or "/"
    key = "url" if "url" in inputs else "path"
    url = state.template(where, (*path, key), target)
    if isinstance(url, str) and not url.startswith(("http://", "https://", "{{")):
        base = (backstage_url or "https://backstage.example.com/api").rstrip("/")
        if backstage_url is None:
            state.lost(
                (*path, key),
                f"path {where!r} is relative to the Backstage backend: "
                f"the URL assumes {base} (--backstage-url sets it)",
                target,
            )
        url = base + "/" + url.lstrip("/")
    out["url"] = url
    if "headers" in inputs:
        out["headers"] = state.template(inputs["headers"], (*path, "headers"), target)
    if "params" in inputs:
        out["query"] = state.template(inputs["params"], (*path, "params"), target)
    if "body" in inputs:
        body = state.template(inputs["body"], (*path, "body"), target)
        out["json" if isinstance(inputs["body"], Mapping | list) else "body"] = body
    _leftover(inputs, {"method", "url", "path", "headers", "params", "body"}, path, state, target)
    return out


def _jira(plan: _Plan, state: _Template, target: Path_) -> dict[str, Any]:
    inputs = mapping(plan.source.get("input"))
    path = (*plan.path, "input")
    names = {
        "project": ("projectKey", "project"),
        "issue_type": ("issueType", "issuetype", "type"),
        "summary": ("summary", "title"),
        "description": ("description",),
        "labels": ("labels",),
        "components": ("components",),
        "priority": ("priority",),
        "assignee": ("assignee",),
    }
    ticket: dict[str, Any] = {}
    used: set[str] = set()
    for key, sources in names.items():
        for source in sources:
            if source in inputs:
                ticket[key] = state.template(inputs[source], (*path, source), target)
                used.add(source)
                break
    ticket.setdefault("project", "OPS")
    ticket.setdefault("issue_type", "Task")
    ticket.setdefault("summary", "{{ item.name }} for {{ user.id }}")
    _leftover(inputs, used, path, state, target)
    return ticket


def _rest_outputs(state: _Template) -> Callable[[str, str], str]:
    """``steps.x.output.body.id`` of a REST step: an output ``body_id`` at ``$.id``."""

    def add(step_id: str, json_path: str) -> str:
        name = field_id(json_path.replace("$", "body")) or "body"
        state.pending_outputs.setdefault(step_id, {})[name] = json_path
        return name

    return add


def _outputs(output: Any, doc: dict[str, Any], state: _Template) -> None:
    automated = doc["fulfillment"].get("automated")
    pending = state.pending_outputs
    if automated is not None:
        for step in automated["steps"]:
            if step["action"] == "rest" and step["id"] in pending:
                step["with"]["outputs"] = pending[step["id"]]
    if not isinstance(output, Mapping):
        return
    target: Path_ = ("fulfillment", "automated", "outputs") if automated else ("fulfillment",)
    outputs: dict[str, Any] = {}
    for kind in ("links", "text"):
        entries = sequence(output.get(kind))
        for index, entry in enumerate(entries):
            path: Path_ = ("spec", "output", kind, index)
            if not isinstance(entry, Mapping):
                state.lost(path, f"an output {kind} entry must be a mapping", target)
                continue
            title = str(entry.get("title") or f"{kind} {index + 1}")
            key = field_id(title)
            value = entry.get("url") if kind == "links" else entry.get("content")
            if value is None:
                what = (
                    "entityRef (a Backstage catalog entity)" if "entityRef" in entry else "no url"
                )
                state.lost(path, f"output link {title!r}: {what}; not converted", target)
                continue
            if automated is None:
                state.lost(path, f"output {title!r}: a manual item has no outputs", target)
                continue
            outputs[key] = state.template(
                value, (*path, "url" if kind == "links" else "content"), target
            )
            state.done(
                path,
                f"output {kind[:-1] if kind == 'links' else kind} {title!r} -> item output {key}",
            )
    for key in output:
        if key not in ("links", "text"):
            state.lost(("spec", "output", key), f"output {key!r} is not converted", target)
    if outputs and automated is not None:
        automated["outputs"] = outputs


# --- the example and the text --------------------------------------------------------------

_SAMPLES = ("example", "example-1", "a", "x1", "1", "abc", "my-service", "ab-cd", "Example")


def _example(doc: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """The required values, and those a condition makes required for them."""
    from pao_common.patterns import search

    fields = [f for s in doc.get("presentation", {}).get("sections", []) for f in s["fields"]]
    values = {f["id"]: f["default"] for f in fields if "default" in f}
    inputs: dict[str, Any] = {}
    for _ in range(3):  # a value can make another field required; conditions are shallow
        for f in fields:
            if f["id"] in inputs or "default" in f:
                continue
            shown = _holds(f.get("visible_if"), values, True)
            needed = f.get("required") or _holds(f.get("required_if"), values, False)
            if shown and needed:
                inputs[f["id"]] = values[f["id"]] = _sample(f, search)
    return {
        "name": "imported",
        "description": "The form's required values, made up by the importer",
        "user": {"id": "backstage-user", "teams": [owner]},
        "inputs": inputs,
    }


def _holds(condition: Any, values: Mapping[str, Any], absent: bool) -> bool:
    if not isinstance(condition, Mapping):
        return absent
    if "all" in condition:
        return all(_holds(c, values, absent) for c in condition["all"])
    if "any" in condition:
        return any(_holds(c, values, absent) for c in condition["any"])
    value = values.get(condition.get("field", ""))
    if "equals" in condition:
        return bool(value == condition["equals"])
    if "in" in condition:
        return value in condition["in"]
    if "not_equals" in condition:
        return bool(value != condition["not_equals"])
    if "not_in" in condition:
        return value not in condition["not_in"]
    return absent


def _sample(f: Mapping[str, Any], search: Any) -> Any:
    rules = f.get("validation", {})
    kind = f["type"]
    if f.get("options"):
        first = f["options"][0]
        value = first["value"] if isinstance(first, Mapping) else first
        return [value] if kind == "multiselect" else value
    if kind in ("integer", "number"):
        low = rules.get("minimum", 1)
        return int(low) if kind == "integer" else float(low)
    fixed = {
        "boolean": True,
        "email": "user@example.com",
        "url": "https://example.com",
        "date": "2030-01-31",
        "datetime": "2030-01-31T09:00:00Z",
        "keyvalue": {},
        "list": [],
    }
    if kind in fixed:
        return fixed[kind] if kind != "list" else [{}] * int(rules.get("min_items", 0))
    low, high = rules.get("min_length", 0), rules.get("max_length", 10_000)
    for candidate in _SAMPLES:
        padded = candidate + "a" * max(0, low - len(candidate))
        if len(padded) <= high and ("pattern" not in rules or search(rules["pattern"], padded)):
            return padded
    return "example"


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _str)


def render(doc: Mapping[str, Any], report: ImportReport, file: str) -> str:
    """The item as YAML, a ``# NOT CONVERTED`` comment above the place of each finding."""
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    node = yaml.compose(body, Loader=yaml.SafeLoader)
    places: dict[Path_, tuple[int, int]] = {}
    if node is not None:
        _positions(node, (), places)
    notes: dict[int, list[str]] = {}
    for finding in report.left:
        key = finding.target or ()
        while key and key not in places:
            key = key[:-1]
        line, column = places.get(key, (0, 0))
        where = f"line {finding.line}" if finding.line else "?"
        notes.setdefault(line, []).append(
            " " * column + f"# NOT CONVERTED ({file} {where}) {finding.source}: {finding.text}"
        )
    header = [
        f"# Imported from the Backstage template {report.template} ({file})",
        "# by `pao catalog import backstage`.",
        "# Reference: docs/catalog-schema.md. "
        + (
            f"{len(report.left)} part(s) were not converted: see the NOT CONVERTED comments."
            if report.left
            else "Everything was converted."
        ),
    ]
    out = [*header, *notes.pop(0, [])]
    for number, text in enumerate(body.splitlines()):
        out.extend(notes.get(number, []))
        out.append(text)
    return "\n".join(out) + "\n"


def _positions(node: yaml.Node, path: Path_, places: dict[Path_, tuple[int, int]]) -> None:
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            places[(*path, index)] = (child.start_mark.line, max(0, child.start_mark.column - 2))
            _positions(child, (*path, index), places)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                places[(*path, key.value)] = (key.start_mark.line, key.start_mark.column)
                _positions(value, (*path, key.value), places)
