"""Built-in sandboxes of the systems PAO's executors drive: JIRA, GitHub, Terraform Cloud,
ServiceNow's CMDB and a generic REST target, speaking the real APIs over real sockets.

One process, one port, one prefix per system (``python -m pao_sandbox --port N``;
``create_app(settings)`` for in-process use)::

    http://HOST:PORT/jira     JIRA REST v2 (+ v3 on the Cloud flavour)   see ``jira``
    http://HOST:PORT/github   GitHub REST API root (Actions, App tokens) see ``github``
    http://HOST:PORT/tfc      Terraform Cloud host root (/api/v2)        see ``tfc``
    http://HOST:PORT/servicenow  ServiceNow instance (/api/now/table)    see ``servicenow``
    http://HOST:PORT/echo     REST echo / scripted target                see ``echo``

Each system also has a control API under ``/<system>/sandbox/`` (state dump, reset,
config patch, fault injection, request log; see ``common``) and a small UI at
``/<system>/ui`` where a person resolves tickets or finishes workflow runs.
``pao dev`` starts it when a system has no credentials configured; tests use the same
server (``tests/support/sandbox.py``). Documentation: ``docs/sandbox.md``.
"""

from pao_sandbox.app import SandboxSettings, create_app

__all__ = ["SandboxSettings", "create_app"]
