"""The CMDB sync: mirrors PAO's resources into ServiceNow's CMDB through its Table API.

A follower of ``pao.resources.events`` in a consumer group of its own
(``pao-cmdb-sync``), so the orchestrator never waits for it. For each resource event it
asks the catalog service how the item's version maps to a CI (``GET
/api/v1/catalog/items/{id}?version=``: ``cmdb`` = ``{ci_class, fields,
correlation_field}``, cached: a version never changes) and writes the CI:

- ``ResourceProvisioned``, ``ResourceUpdated``, ``ResourceOperationFailed``: the mapped
  fields, ``install_status`` 1 (installed);
- ``ResourceDecommissioned``: the same with ``install_status`` 7 (retired).

The CI is found by ``correlation_field`` (default ``correlation_id``) = the resource id,
then PATCHed, else POSTed: a replayed or redelivered event updates the same CI. A retired
CI is never revived by an older event. ServiceNow down (5xx, 429, a timeout, no
connection, credentials refused) is retried with backoff behind a circuit breaker, for
as long as it takes: the record's offset is committed only once the CI is written, so
the sync catches up when ServiceNow is back, in order. A mapping ServiceNow refuses
(4xx: an unknown table) and an item version the catalog does not know go to the DLQ
with the reason. An event no newer than the last one written for its resource (a
replay) is passed over.

Modules: ``config`` (``PAO_CMDB_*``), ``errors``, ``mapping`` (event -> CI values, pure),
``catalog`` (the mappings), ``servicenow`` (the Table API client), ``ledger`` (the last
version written per resource, ``cmdb_sync_state``), ``sync`` (find, then PATCH or POST,
with retries), ``app`` (the service). Docs: docs/resources.md#cmdb-mapping.
"""
