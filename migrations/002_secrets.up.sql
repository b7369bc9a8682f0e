-- Encrypted secrets: global ones and per-workspace overrides (upstream-april §2.2).
-- encryption_version 0 = plaintext (no SECRETS_ENCRYPTION_KEY), 1 = AES-256-GCM.

CREATE TABLE global_secrets (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key                text NOT NULL UNIQUE,
    encrypted_value    bytea NOT NULL,
    encryption_version integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_secrets (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key                text NOT NULL,
    encrypted_value    bytea NOT NULL,
    encryption_version integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, key)
);
