-- Executor SDK: which action commands an executor family took and what it answered
-- (deduplication on command_id; a lease lets another instance take over a command
-- whose executor died), and the debug executor's side-effect log that tests use to
-- prove every side effect happens once per recorded attempt.
-- Owner: the executors (pao_common.executor, pao_executors.debug).
CREATE TABLE IF NOT EXISTS executor_commands (
    command_id text PRIMARY KEY,
    executor text NOT NULL,
    action_type text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('execute', 'compensate')),
    request_id text NOT NULL,
    step_id text NOT NULL,
    attempt int NOT NULL,
    state text NOT NULL CHECK (state IN ('running', 'completed')),
    owner text NOT NULL,
    claims int NOT NULL DEFAULT 1,
    lease_expires_at timestamptz NOT NULL,
    result jsonb,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS executor_commands_completed_at
    ON executor_commands (completed_at) WHERE state = 'completed';
CREATE INDEX IF NOT EXISTS executor_commands_request ON executor_commands (request_id);

CREATE TABLE IF NOT EXISTS debug_side_effects (
    id bigserial PRIMARY KEY,
    command_id text NOT NULL,
    request_id text NOT NULL,
    step_id text NOT NULL,
    action_type text NOT NULL,
    attempt int NOT NULL,
    kind text NOT NULL CHECK (kind IN ('execute', 'compensate')),
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS debug_side_effects_request ON debug_side_effects (request_id);
CREATE INDEX IF NOT EXISTS debug_side_effects_command ON debug_side_effects (command_id);
