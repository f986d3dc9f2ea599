-- Read contracts (issue #15): what a service publishes for others to read, as views it
-- owns, so no service names another's tables (ownership.toml lists every table and view).
-- A view's columns are its contract; its owner may change the tables beneath it and keeps
-- the view answering the same.

-- Owner: services/orchestrator; read by the gateway. A request's stored event log as
-- GET /api/v1/requests/{id}/events and the SSE resume show it (stored form: event type,
-- schema version and data as recorded).
CREATE OR REPLACE VIEW request_event_log AS
SELECT stream_id AS request_id, version, event_type, schema_version, data, recorded_at
FROM request_events;

-- Owner: services/orchestrator; read by the gateway's lead-time report. Per request in
-- request_view: the fulfilment mode it was submitted with (RequestSubmitted.mode), whether
-- it fell back to a ticket (FallbackToManual), when approval was first asked
-- (ApprovalRequested) and last decided (RequestApproved / RequestRejected /
-- ApprovalExpired), each at the occurred_at its deciding message brought. The event fields
-- it reads are checked against the event models by tests/layers/test_table_ownership.py.
CREATE OR REPLACE VIEW request_lead_times AS
SELECT v.request_id, v.item_id, v.status, v.submitted_at, v.completed_at,
       e.mode, COALESCE(e.fell_back, false) AS fell_back,
       e.asked AS approval_asked_at, e.decided AS approval_decided_at
FROM request_view v
LEFT JOIN LATERAL (
    SELECT max(x.data->>'mode') FILTER (WHERE x.event_type = 'RequestSubmitted') AS mode,
           bool_or(x.event_type = 'FallbackToManual') AS fell_back,
           min((x.data->>'occurred_at')::timestamptz)
               FILTER (WHERE x.event_type = 'ApprovalRequested') AS asked,
           max((x.data->>'occurred_at')::timestamptz)
               FILTER (WHERE x.event_type IN
                       ('RequestApproved', 'RequestRejected', 'ApprovalExpired')) AS decided
    FROM request_events x
    WHERE x.stream_id = v.request_id
      AND x.event_type IN ('RequestSubmitted', 'FallbackToManual', 'ApprovalRequested',
                           'RequestApproved', 'RequestRejected', 'ApprovalExpired')
) e ON TRUE;

-- Owner: services/notifier; read by the gateway (GET /api/v1/requests/{id}/notifications
-- and the request detail). What was sent (or tried) about a request, without the message
-- body and without the webhook URL (a credential).
CREATE OR REPLACE VIEW request_notifications AS
SELECT request_id, event_version, trigger, channel, target, recipients, subject, status,
       attempts, last_error, created_at, sent_at
FROM notification_log;
