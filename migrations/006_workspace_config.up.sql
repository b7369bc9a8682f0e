-- Per-workspace configuration and daily LLM token usage (upstream-april §2.2: workspace_config
-- from 006, workspace_token_usage from 025).
--
-- workspace_config.data is a JSON object that PATCH /workspaces/:id/config merges into
-- shallowly (`data || body`). workspace_token_usage holds one row per workspace per UTC day:
-- the token counts agents report in their A2A replies, the number of such replies, and the
-- estimated cost. The cost column is wider than the original's NUMERIC(12,6), which a busy
-- day at the per-call cap could overflow.

CREATE TABLE workspace_config (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    data         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(data) = 'object'),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_token_usage (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    period_start       timestamptz NOT NULL,
    input_tokens       bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens      bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    call_count         bigint NOT NULL DEFAULT 0 CHECK (call_count >= 0),
    estimated_cost_usd numeric(20, 6) NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, period_start)
);
