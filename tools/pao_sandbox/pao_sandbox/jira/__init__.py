"""JIRA sandbox: the REST API v2 (and v3 on the Cloud flavour) the ``jira`` library uses.

Mounted at ``/jira``; point ``jira.JIRA(server=...)`` at ``http://HOST:PORT/jira``.

Real API (``{v}`` = ``2`` or ``latest``; ``3`` too when ``deployment`` is ``Cloud``)::

    GET  /rest/api/{v}/serverInfo                 anonymous; versionNumbers, deploymentType
    GET  /rest/api/{v}/myself
    GET  /rest/api/{v}/project[/{idOrKey}]        ?expand=issueTypes
    GET  /rest/api/{v}/issuetype | priority | resolution | status | field
    POST /rest/api/{v}/issue                      201 {id, key, self}; 400 errorMessages/errors
    GET  /rest/api/{v}/issue/{idOrKey}            ?fields=a,b
    PUT  /rest/api/{v}/issue/{idOrKey}            204 (fields: labels, summary, ...)
    GET|POST /rest/api/{v}/issue/{idOrKey}/transitions   POST 204
    GET|POST /rest/api/{v}/issue/{idOrKey}/comment       POST 201
    GET|POST /rest/api/{v}/search                 Server flavour (Cloud answers 410 Gone)
    GET|POST /rest/api/{v}/search/jql             Cloud flavour (nextPageToken paging)

Auth: ``Authorization: Bearer <PAT>`` (one of ``pat_tokens``) or Basic ``email:token``
(``basic_users``); anything else is 401.  Workflow: To Do -> In Progress -> Done, with
transitions ``11`` (To Do), ``21`` (In Progress) and ``31`` (Done, sets a resolution).

Sandbox side (not in real JIRA)::

    POST /sandbox/issues/{key}/resolve  {"resolution": "Done"|"Won't Do"|..., "comment": "..."}
    GET  /ui                            ticket list with Done / Won't Do buttons
    GET  /browse/{key}                  the ticket's page (the browse URL executors report)

Every status change (by the API or the sandbox) POSTs a ``jira:issue_updated`` webhook
with ``issue`` and ``changelog`` to ``webhook_url`` when one is configured, signed like
Jira Cloud's admin webhooks: ``X-Hub-Signature: sha256=<HMAC-SHA256(secret, raw body)>``.

Modules: ``config`` (settings, tables, formats), ``state``, ``rendering``, ``validation``,
``workflow``, ``search``, ``routes`` (the REST API), ``ui`` (the sandbox's own side) and
``sandbox`` (``JiraSandbox``, all of them together).
"""

from pao_sandbox.jira.config import JiraConfig, JiraProject, ResolveBody
from pao_sandbox.jira.sandbox import JiraSandbox

__all__ = ["JiraConfig", "JiraProject", "JiraSandbox", "ResolveBody"]
