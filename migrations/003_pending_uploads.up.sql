-- Poll-mode chat uploads staged platform-side until the agent fetches and acks them
-- (upstream-may §11: 20260505100000 + 20260505200000, size cap raised by 20260519200000).
-- No FK on workspace_id, like the original: rows outlive nothing but their TTL.

CREATE TABLE pending_uploads (
    file_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    content      bytea NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 104857600),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 100),
    mimetype     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    fetched_at   timestamptz,
    acked_at     timestamptz,
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours'
);

CREATE INDEX pending_uploads_workspace_created ON pending_uploads (workspace_id, created_at);
CREATE INDEX pending_uploads_unacked_expires ON pending_uploads (expires_at)
    WHERE acked_at IS NULL;
CREATE INDEX pending_uploads_acked ON pending_uploads (acked_at) WHERE acked_at IS NOT NULL;

-- Uncompressed out-of-line storage: the content route reads the file back in slices with
-- substring(), which then fetches only the TOAST chunks it needs.
ALTER TABLE pending_uploads ALTER COLUMN content SET STORAGE EXTERNAL;
