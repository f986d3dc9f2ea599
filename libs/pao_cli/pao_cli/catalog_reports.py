"""What ``pao catalog validate`` prints, in the format a CI system reads.

    text    one ``file:line path: message`` per error and a summary (for people)
    json    every document with its id, version, hash and errors (for scripts)
    github  GitHub Actions workflow commands, ``::error file=F,line=L,col=C::message``,
            which GitHub shows as annotations on the pull request's changed lines
    junit   JUnit XML, one test case per document, a failure per invalid one (GitLab,
            Jenkins, Azure DevOps test reports)
    sarif   SARIF 2.1.0, one result per error (GitHub code scanning, upload-sarif)

Every format reports the same errors; each is a pure function of the load results, so
the exit status stays the command's business.
"""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from pao_catalog_model.loader import CatalogError, LoadResult

FORMATS = ("text", "json", "github", "junit", "sarif")
TOOL_NAME = "pao catalog validate"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: SARIF rules: where in a document an error is. A file refused before its content is
#: read (size, YAML syntax, schemaVersion) or an error about the whole document is
#: ``document``; every other error belongs to its top-level key.
RULES: dict[str, str] = {
    "document": "The file is a readable catalog document (size, YAML, schemaVersion, ids).",
    "metadata": "metadata: id, name, version, owner, category, tags, docs, lifecycle.",
    "access": "access: the teams and roles that may request the item.",
    "presentation": "presentation: fields, sections, rules, options and conditions.",
    "approval": "approval: when a request waits, who approves, expiry.",
    "fulfillment": "fulfillment: the JIRA ticket or the steps, their actions and templates.",
    "examples": "examples: sample requests that must pass the item's own form.",
}


def _version() -> str:
    try:
        return metadata.version("pao")
    except metadata.PackageNotFoundError:
        return "0"


def summary(results: list[LoadResult]) -> str:
    errors = sum(len(r.errors) for r in results)
    valid = sum(1 for r in results if not r.errors)
    return f"{len(results)} document(s): {valid} valid, {errors} error(s)"


def _described(error: CatalogError) -> str:
    return f"{error.path}: {error.message}" if error.path else error.message


def rule_of(error: CatalogError) -> str:
    top = error.path.split(".", 1)[0].split("[", 1)[0]
    return top if top in RULES else "document"


# --- text and json ---------------------------------------------------------------------------


def text_report(results: list[LoadResult]) -> str:
    lines = [str(e) for r in results for e in r.errors]
    return "\n".join([*lines, summary(results)])


def json_report(results: list[LoadResult]) -> str:
    report = {
        "documents": [
            {
                "file": r.file,
                "id": r.item.metadata.id if r.item else None,
                "version": r.item.metadata.version if r.item else None,
                "content_hash": r.content_hash,
                "errors": [
                    {
                        "line": e.line,
                        "column": e.column,
                        "path": e.path,
                        "message": e.message,
                        "text": str(e),
                    }
                    for e in r.errors
                ],
            }
            for r in results
        ],
        "valid": all(not r.errors for r in results) and bool(results),
    }
    return json.dumps(report, indent=2)


# --- GitHub Actions workflow commands ---------------------------------------------------------


def _escape_data(text: str) -> str:
    # GitHub's own escaping (actions/toolkit, command.ts): % first, then CR and LF.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(error: CatalogError) -> str:
    props = [f"file={_escape_property(PurePath(error.file).as_posix())}"]
    if error.line:
        props.append(f"line={error.line}")
        if error.column:
            props.append(f"col={error.column}")
    return f"::error {','.join(props)}::{_escape_data(_described(error))}"


def github_report(results: list[LoadResult]) -> str:
    lines = [github_annotation(e) for r in results for e in r.errors]
    return "\n".join([*lines, summary(results)])


# --- JUnit XML --------------------------------------------------------------------------------


def junit_report(results: list[LoadResult]) -> str:
    """``<testsuites><testsuite><testcase/>...``: the structure of Ant's JUnit XSD."""
    failures = sum(1 for r in results if r.errors)
    suites = ET.Element(
        "testsuites", name=TOOL_NAME, tests=str(len(results)), failures=str(failures)
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="pao.catalog",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time="0",
        hostname=platform.node() or "localhost",
    )
    for result in results:
        name = result.item.metadata.id if result.item else PurePath(result.file).as_posix()
        case = ET.SubElement(
            suite, "testcase", name=name, classname=PurePath(result.file).as_posix(), time="0"
        )
        if result.errors:
            first = result.errors[0]
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(result.errors)} error(s); first: {_described(first)}",
                type="InvalidCatalogDocument",
            )
            failure.text = "\n".join(str(e) for e in result.errors)
    ET.indent(suites)
    body: str = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


# --- SARIF 2.1.0 ------------------------------------------------------------------------------


def _artifact(file: str) -> dict[str, str]:
    """A path below the working directory is relative to the checkout (``%SRCROOT%``),
    which is what code scanning matches against the repository; any other is a file URI."""
    path = PurePath(file)
    if path.is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": "%SRCROOT%"}


def _sarif_result(error: CatalogError) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": _artifact(error.file)}
    if error.line:
        region: dict[str, int] = {"startLine": error.line}
        if error.column:
            region["startColumn"] = error.column
        location["region"] = region
    rule = rule_of(error)
    return {
        "ruleId": f"pao/{rule}",
        "ruleIndex": list(RULES).index(rule),
        "level": "error",
        "message": {"text": _described(error)},
        "locations": [{"physicalLocation": location}],
    }


def sarif_report(results: list[LoadResult]) -> str:
    rules = [
        {
            "id": f"pao/{name}",
            "name": name,
            "shortDescription": {"text": text},
            "help": {"text": "See docs/catalog-schema.md, section " + name + "."},
            "defaultConfiguration": {"level": "error"},
        }
        for name, text in RULES.items()
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": _version(),
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": _artifact(r.file)} for r in results],
                "results": [_sarif_result(e) for r in results for e in r.errors],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(log, indent=2)


RENDERERS: dict[str, Callable[[list[LoadResult]], str]] = {
    "text": text_report,
    "json": json_report,
    "github": github_report,
    "junit": junit_report,
    "sarif": sarif_report,
}
