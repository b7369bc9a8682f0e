-- Human in the loop and the operator's views (upstream-april §1.10, §2.2; upstream-may §5.4).
--
-- approval_requests: as the original's table (007), with the workspace FK cascading so a
-- purge removes a workspace's approvals with it. Pending rows older than 10 minutes are
-- denied by the platform (decided_by 'auto-expired'); the partial index serves that sweep and
-- the pending list.
CREATE TABLE approval_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    task_id      text,
    action       text NOT NULL,
    reason       text,
    context      jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'denied', 'escalated')),
    decided_by   text,
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_approvals_workspace_created ON approval_requests (workspace_id, created_at DESC);
CREATE INDEX idx_approvals_pending ON approval_requests (created_at) WHERE status = 'pending';

-- The canvas viewport: one row (the original's fixed id), created on the first save.
CREATE TABLE canvas_viewport (
    id       uuid PRIMARY KEY DEFAULT '00000000-0000-0000-0000-000000000001',
    x        double precision NOT NULL DEFAULT 0,
    y        double precision NOT NULL DEFAULT 0,
    zoom     double precision NOT NULL DEFAULT 1,
    saved_at timestamptz NOT NULL DEFAULT now(),
    CHECK (id = '00000000-0000-0000-0000-000000000001')
);

-- GET /admin/delegations reads the `delegate` rows of every workspace, newest first, and the
-- newest `delegate_result` of each: without these it would scan all activity.
CREATE INDEX idx_activity_delegate_created ON activity_logs (created_at DESC)
    WHERE method = 'delegate';
CREATE INDEX idx_activity_delegate_result ON activity_logs
    (workspace_id, (response_body->>'delegation_id'), created_at DESC)
    WHERE method = 'delegate_result';
