-- What agents keep and read back: memories (HMA), key/value memory, platform instructions and
-- workflow checkpoints (upstream-april §2.2: 006, 008, 017, 023, 040, 20260417000000).
-- The optional pgvector column of 031 is left out: memory search is full-text only here
-- (docs/compatibility.md#d39). Every row hangs off its workspace and goes with it on purge.

CREATE TABLE agent_memories (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    content      text NOT NULL,
    scope        varchar(10) NOT NULL CHECK (scope IN ('LOCAL', 'TEAM', 'GLOBAL')),
    namespace    varchar(50) NOT NULL DEFAULT 'general',
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    content_tsv  tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);
CREATE INDEX agent_memories_tsv ON agent_memories USING gin (content_tsv);
CREATE INDEX agent_memories_workspace ON agent_memories (workspace_id, created_at DESC);
CREATE INDEX agent_memories_scope ON agent_memories (scope, created_at DESC);

CREATE TABLE workspace_memory (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key          text NOT NULL,
    value        jsonb NOT NULL,
    expires_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      bigint NOT NULL DEFAULT 1,
    UNIQUE (workspace_id, key)
);

CREATE TABLE platform_instructions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scope        text NOT NULL CHECK (scope IN ('global', 'team', 'workspace')),
    scope_target text,
    title        text NOT NULL CHECK (length(title) <= 200),
    content      text NOT NULL CHECK (length(content) <= 8192),
    priority     integer NOT NULL DEFAULT 0,
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_instructions_target ON platform_instructions (scope, scope_target)
    WHERE enabled;

CREATE TABLE workflow_checkpoints (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    workflow_id  text NOT NULL,
    step_name    text NOT NULL,
    step_index   integer NOT NULL DEFAULT 0,
    completed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload      jsonb,
    UNIQUE (workspace_id, workflow_id, step_name)
);
CREATE INDEX workflow_checkpoints_latest ON workflow_checkpoints (workspace_id, completed_at DESC);
