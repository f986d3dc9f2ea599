"""Secrets for executors: ``${secret:name}`` references resolved late, values never shown.

The catalog renders ``secret('name')`` to the literal ``${secret:name}``, so events,
the event store and API responses only ever hold the reference. The executor
resolves it right before the handler runs, from ``PAO_SECRET_<NAME>`` (the name in
upper case, every character other than a letter or digit turned into ``_``) or
from the file ``<PAO_SECRETS_DIR>/<name>`` (a mounted Kubernetes secret, a Vault
agent file). Every value resolved is registered with the process-wide
``Redactor``: the log filter and the result scrubbing replace it with ``***``
wherever it would otherwise leave the process.

``PAO_SECRETS_SANDBOX=1`` (set by ``pao dev`` when every external system is its
sandbox) gives a secret configured nowhere a random placeholder value instead of
failing, so catalog items can be tried end to end without real credentials.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pao_common.errors import SecretNotFound

# The same grammar as ``pao_common.templating``'s ``secret()`` names.
SECRET_REFERENCE = re.compile(r"\$\{secret:(?P<name>[A-Za-z0-9_][A-Za-z0-9_./-]{0,199})\}")
SECRETS_DIR_ENV = "PAO_SECRETS_DIR"
SANDBOX_ENV = "PAO_SECRETS_SANDBOX"
log = logging.getLogger(__name__)
MASK = "***"


def secret_env_var(name: str) -> str:
    """``db-password`` -> ``PAO_SECRET_DB_PASSWORD``."""
    return "PAO_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class Redactor:
    """Replaces every registered secret value with ``***`` in text and nested data."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def add(self, value: str) -> None:
        """Redact ``value`` from now on (and its JSON-escaped form, as JSON logs show it)."""
        if not value:
            return
        forms = {value, json.dumps(value)[1:-1]}
        forms |= {line for line in value.splitlines() if len(line.strip()) >= 8}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # Longest first, so a value containing another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def contains_secret(self, text: str) -> bool:
        pattern = self._pattern
        return pattern is not None and pattern.search(text) is not None

    def scrub(self, value: Any) -> Any:
        """``value`` with every secret masked in every string, keys included."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value


# Logging is process-wide, so the set of values to redact is too.
REDACTOR = Redactor()


class SecretResolver:
    """Resolves ``${secret:name}`` references from the environment or a secrets directory.

    ``environ`` and ``secrets_dir`` default to the live process environment, read on
    every lookup so a rotated secret file is picked up without a restart.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        secrets_dir: Path | str | None = None,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self._environ = environ
        self._secrets_dir = Path(secrets_dir) if secrets_dir is not None else None
        self.redactor = redactor
        self._placeholders: dict[str, str] = {}

    def _env(self) -> Mapping[str, str]:
        return self._environ if self._environ is not None else os.environ

    def _dir(self) -> Path | None:
        if self._secrets_dir is not None:
            return self._secrets_dir
        configured = self._env().get(SECRETS_DIR_ENV)
        return Path(configured) if configured else None

    def get(self, name: str) -> str:
        """The value of secret ``name``; ``SecretNotFound`` says where it was looked for."""
        if not SECRET_REFERENCE.fullmatch("${secret:" + name + "}") or ".." in name.split("/"):
            raise SecretNotFound(f"invalid secret name {name!r}")
        var = secret_env_var(name)
        value = self._env().get(var)
        where = [f"environment variable {var}"]
        if value is None and (folder := self._dir()) is not None:
            path = folder / name
            where.append(f"file {path}")
            try:
                value = path.read_text(encoding="utf-8").rstrip("\r\n")
            except FileNotFoundError:
                value = None
            except OSError as exc:
                raise SecretNotFound(f"secret {name!r}: cannot read {path}: {exc}") from exc
        elif value is None:
            where.append(f"a file in {SECRETS_DIR_ENV} (not set)")
        if value is None and self._env().get(SANDBOX_ENV, "").lower() in ("1", "true", "yes"):
            value = self._placeholders.get(name)
            if value is None:
                value = self._placeholders[name] = f"sandbox-{secrets.token_hex(12)}"
                log.warning("secret %r is not configured: a sandbox placeholder stands in", name)
        if value is None:
            looked = ", ".join(where)
            raise SecretNotFound(f"secret {name!r} is not configured: looked for {looked}")
        self.redactor.add(value)
        return value

    def resolve(self, value: Any) -> Any:
        """``value`` with every ``${secret:name}`` in every string replaced by the secret."""
        if isinstance(value, str):
            if "${secret:" not in value:
                return value
            return SECRET_REFERENCE.sub(lambda m: self.get(m.group("name")), value)
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value


def references(value: Any) -> set[str]:
    """The secret names ``value`` refers to, anywhere in its strings."""
    if isinstance(value, str):
        return {m.group("name") for m in SECRET_REFERENCE.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(references(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(references(v) for v in value))
    return set()


class RedactingFilter(logging.Filter):
    """A log filter that masks secret values in the message, its arguments and traceback."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor.active:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        redacted = self.redactor.redact(message)
        changed = redacted != message
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            if self.redactor.contains_secret(text):
                # A formatter would render the live exception again: fold the masked
                # traceback into the message instead.
                redacted = f"{redacted}\n{self.redactor.redact(text).rstrip()}"
                record.exc_info = None
                record.exc_text = None
                changed = True
        elif record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if changed:
            record.msg, record.args = redacted, None
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


def install_log_redaction(redactor: Redactor = REDACTOR) -> None:
    """Add a ``RedactingFilter`` to every handler of the root logger (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
