"""ServiceNow sandbox: the Table API over CMDB configuration items (CIs) and change requests.

Mounted at ``/servicenow``; a client's instance URL is ``http://HOST:PORT/servicenow``.

Real API (the shapes of ``/api/now/table`` on a real instance)::

    GET    /api/now/table/{table}            {"result": [record, ...]}, X-Total-Count, Link
           ?sysparm_query=a=1^ORa=2^b!=3^ORDERBYname   (see ``encoded_query``)
           &sysparm_limit=10000 &sysparm_offset=0 &sysparm_fields=sys_id,name
           &sysparm_display_value=false|true|all  (labels of choice fields)
    GET    /api/now/table/{table}/{sys_id}   {"result": record}
    POST   /api/now/table/{table}            201 {"result": record}, Location
    PATCH  /api/now/table/{table}/{sys_id}   {"result": record}  (PUT: the same)
    DELETE /api/now/table/{table}/{sys_id}   204

Auth is HTTP Basic (``users``: user name -> password); anything else is 401. Every value
is a string, as the real API writes them (``"install_status": "7"``, ``"true"``). A record
has ``sys_id`` (32 hex), ``sys_class_name``, ``sys_created_on``/``sys_updated_on``
(``2024-05-01 12:00:00``, UTC), ``sys_created_by``/``sys_updated_by`` and ``sys_mod_count``.
A field the table does not have is ignored on write, as a real instance does; a table
has the ``cmdb_ci`` columns, those of its class (``CLASS_COLUMNS``) and any ``u_``
custom column. Errors are ServiceNow's::

    {"error": {"message": "Invalid table cmdb_ci_nope", "detail": null}, "status": "failure"}

Change requests (table ``change_request``) have the task and change columns PAO uses
(``CHANGE_COLUMNS``): ``number`` (``CHG0010001``...), ``state`` (-5 New, -4 Assess,
-3 Authorize, -2 Scheduled, -1 Implement, 0 Review, 3 Closed, 4 Canceled), ``approval``
(``not requested``, ``requested``, ``approved``, ``rejected``), ``active`` (false once
closed or canceled), ``risk``, ``type``, ``start_date``/``end_date``, ``close_code``,
``close_notes``, ``correlation_id``/``correlation_display``. A change written with state
Assess asks for approval (``approval`` becomes ``requested``), as the normal change
model does; an approver approves (state Scheduled) or rejects (back to New).

Sandbox side (not in ServiceNow)::

    GET  /ui                                  the CIs, per class, with their status and fields
    GET  /ui/changes                          the change requests, with Approve / Reject
    GET  /change_request.do?sys_id=...        one change request (the form's URL on an instance)
    POST /sandbox/change_request/{sys_id}/approve   {"user", "comment"} (also /reject)

Every approval decision POSTs the change request record as JSON to ``webhook_url`` when
one is configured (what a business rule's outbound REST message sends), signed
``X-Hub-Signature: sha256=<HMAC-SHA256(webhook_secret, raw body)>``.

Modules: ``config``, ``tables``, ``changes``, ``routes`` (the Table API), ``ui`` (the
sandbox's own side) and ``sandbox`` (``ServiceNowSandbox``, all of them together).
"""

from pao_sandbox.servicenow.config import DecisionBody, ServiceNowConfig
from pao_sandbox.servicenow.sandbox import ServiceNowSandbox

__all__ = ["DecisionBody", "ServiceNowConfig", "ServiceNowSandbox"]
