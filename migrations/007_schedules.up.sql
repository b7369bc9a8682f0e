-- Cron schedules of a workspace (upstream-april §2.2 `workspace_schedules`, with its later
-- migrations 022 and 032 folded in: `source`, UNIQUE (workspace_id, name),
-- `consecutive_empty_runs`). The scheduler claims a due time by moving `next_run_at` from
-- the value it read to the next one in one conditional UPDATE, so a due time fires at most
-- once, across platform restarts and concurrent platform processes alike.

CREATE TABLE workspace_schedules (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id           uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                   text NOT NULL DEFAULT '',
    cron_expr              text NOT NULL,
    timezone               text NOT NULL DEFAULT 'UTC',
    prompt                 text NOT NULL,
    enabled                boolean NOT NULL DEFAULT true,
    last_run_at            timestamptz,
    next_run_at            timestamptz,
    run_count              integer NOT NULL DEFAULT 0,
    last_status            text NOT NULL DEFAULT '',
    last_error             text NOT NULL DEFAULT '',
    source                 text NOT NULL DEFAULT 'runtime' CHECK (source IN ('template', 'runtime')),
    consecutive_empty_runs integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspace_schedules_name_uniq UNIQUE (workspace_id, name)
);

CREATE INDEX workspace_schedules_due ON workspace_schedules (next_run_at) WHERE enabled;

-- A schedule's run history is read from its `cron_run` activity rows.
CREATE INDEX idx_activity_cron_runs
    ON activity_logs (workspace_id, (request_body->>'schedule_id'), created_at DESC)
    WHERE activity_type = 'cron_run';
