-- CMDB sync (issue #11, deliverable 6): per resource, the last resource event mirrored to
-- ServiceNow and the CI it wrote. An event whose version is not newer is passed over, so
-- a replayed old event never rewinds a CI. Owner: the CMDB sync (pao_executors.cmdb);
-- nothing else reads it. Emptying it (and resetting the group's offsets) resyncs all.
CREATE TABLE IF NOT EXISTS cmdb_sync_state (
    resource_id text PRIMARY KEY,
    version int NOT NULL,          -- the resource stream's version after the event
    ci_class text NOT NULL,        -- the ServiceNow table
    sys_id text NOT NULL,          -- the CI
    install_status text NOT NULL,  -- 1 installed, 7 retired
    synced_at timestamptz NOT NULL DEFAULT now()
);
