-- The base schema: workspaces and the tables the registry, auth, events, activity and the
-- A2A queue stand on. Follows the original's schema (upstream-april §2, upstream-may §11)
-- with its later migrations folded in.

CREATE TYPE workspace_status AS ENUM (
    'provisioning', 'online', 'offline', 'degraded', 'failed',
    'removed', 'paused', 'hibernated', 'awaiting_agent', 'hibernating'
);

CREATE TABLE workspaces (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                     text NOT NULL,
    role                     text,
    tier                     integer NOT NULL DEFAULT 1,
    status                   workspace_status NOT NULL DEFAULT 'provisioning',
    source_bundle_id         text,
    agent_card               jsonb,
    url                      text,
    parent_id                uuid REFERENCES workspaces(id),
    forwarded_to             uuid REFERENCES workspaces(id),
    last_heartbeat_at        timestamptz,
    last_error_rate          double precision NOT NULL DEFAULT 0,
    last_sample_error        text,
    active_tasks             integer NOT NULL DEFAULT 0,
    uptime_seconds           integer NOT NULL DEFAULT 0,
    current_task             text,
    awareness_namespace      text,
    runtime                  text NOT NULL DEFAULT 'langgraph',
    template                 text,
    workspace_dir            text,
    workspace_access         varchar(20) NOT NULL DEFAULT 'none'
                             CHECK (workspace_access IN ('none', 'read_only', 'read_write')),
    budget_limit             bigint,
    monthly_spend            bigint NOT NULL DEFAULT 0,
    hibernation_idle_minutes integer,
    last_outbound_at         timestamptz,
    max_concurrent_tasks     integer NOT NULL DEFAULT 1,
    instance_id              text,
    platform_inbound_secret  text,
    delivery_mode            text NOT NULL DEFAULT 'push'
                             CHECK (delivery_mode IN ('push', 'poll')),
    runtime_image_digest     text,
    broadcast_enabled        boolean NOT NULL DEFAULT false,
    talk_to_user_enabled     boolean NOT NULL DEFAULT true,
    removed_at               timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_workspaces_parent ON workspaces (parent_id);
CREATE INDEX idx_workspaces_status ON workspaces (status);
CREATE UNIQUE INDEX workspaces_parent_name_uniq
    ON workspaces (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), name)
    WHERE status <> 'removed';

CREATE TABLE canvas_layouts (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    x            double precision NOT NULL DEFAULT 0,
    y            double precision NOT NULL DEFAULT 0,
    collapsed    boolean NOT NULL DEFAULT false
);

CREATE TABLE workspace_auth_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX idx_workspace_tokens_live ON workspace_auth_tokens (workspace_id)
    WHERE revoked_at IS NULL;

CREATE TABLE org_api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    name         text,
    created_by   text,
    org_id       uuid REFERENCES workspaces(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE structure_events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type   text NOT NULL,
    workspace_id uuid,
    agent_id     uuid,
    target_id    uuid,
    payload      jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_structure_events_workspace ON structure_events (workspace_id);
CREATE INDEX idx_structure_events_created ON structure_events (created_at);

CREATE TABLE activity_logs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    activity_type   text NOT NULL,
    source_id       uuid,
    target_id       uuid,
    method          text,
    summary         text,
    request_body    jsonb,
    response_body   jsonb,
    tool_trace      jsonb,
    duration_ms     integer,
    status          text NOT NULL DEFAULT 'ok',
    error_detail    text,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_activity_ws_type_created
    ON activity_logs (workspace_id, activity_type, created_at DESC);
CREATE INDEX idx_activity_created ON activity_logs (created_at);
CREATE INDEX idx_activity_ws_created ON activity_logs (workspace_id, created_at);
CREATE INDEX idx_activity_ws_source ON activity_logs (workspace_id, source_id)
    WHERE source_id IS NOT NULL;
CREATE INDEX idx_activity_ws_target ON activity_logs (workspace_id, target_id)
    WHERE target_id IS NOT NULL;
CREATE UNIQUE INDEX idx_activity_idempotency ON activity_logs (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE a2a_queue (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    caller_id       uuid,
    priority        smallint NOT NULL DEFAULT 50,
    body            jsonb NOT NULL,
    method          text,
    idempotency_key text,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at   timestamptz,
    completed_at    timestamptz,
    expires_at      timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'dispatched', 'completed', 'dropped', 'failed')),
    last_error      text
);
CREATE INDEX idx_a2a_queue_ready ON a2a_queue (workspace_id, priority DESC, enqueued_at)
    WHERE status = 'queued';
CREATE UNIQUE INDEX idx_a2a_queue_idempotency ON a2a_queue (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'dispatched');
