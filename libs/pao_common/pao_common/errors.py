"""Exceptions shared by every PAO package.

PaoError
├── InvalidMessage        a Kafka record that cannot be parsed (goes to the DLQ)
├── ConfigurationError    settings or files that make a process unable to start
└── TemplateError         a template that does not parse, render or escapes the sandbox
    └── UnknownVariable   a template names a variable its context does not have
"""

from __future__ import annotations


class PaoError(Exception):
    """Base of every PAO exception."""


class InvalidMessage(PaoError):
    """A message whose headers or body cannot be parsed into its contract."""


class ConfigurationError(PaoError):
    """A setting or file that makes the process unable to start."""


class TemplateError(PaoError):
    """A template that does not parse or render, or that tried to leave the sandbox."""


class UnknownVariable(TemplateError):
    """A template refers to a variable that its context does not define."""
