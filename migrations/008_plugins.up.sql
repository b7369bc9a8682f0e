-- Plugins installed into workspaces, and the plugins each org allows.
--
-- workspace_plugins follows upstream-may's 20260508160000 and 20260510000000
-- (`workspace_plugins`, UNIQUE (workspace_id, plugin_name), `tracked_ref` default 'none',
-- `installed_sha` the git commit of a github:// install) and adds what the install checked:
-- the SHA-256 of the plugin's plugin.yaml (what a caller pins), the digest of the whole tree,
-- and the manifest as described at install time (version, description, tags, skills,
-- runtimes), so listings need no workspace file access. The files themselves are in the
-- workspace's /plugins/<name>/; a row exists only once they are written.
--
-- org_plugin_allowlist is upstream-april §2.2's (026): an org is a root workspace; an org
-- with no rows allows every plugin.

CREATE TABLE workspace_plugins (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    plugin_name     text NOT NULL,
    source_raw      text NOT NULL,
    tracked_ref     text NOT NULL DEFAULT 'none',
    installed_sha   text,
    manifest_sha256 text,
    content_sha256  text NOT NULL,
    manifest        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(manifest) = 'object'),
    installed_at    timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspace_plugins_name_uniq UNIQUE (workspace_id, plugin_name)
);

CREATE INDEX workspace_plugins_tracked ON workspace_plugins (workspace_id)
    WHERE tracked_ref <> 'none';

CREATE TABLE org_plugin_allowlist (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    plugin_name text NOT NULL,
    enabled_by  text NOT NULL DEFAULT '',
    enabled_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_plugin_allowlist_uniq UNIQUE (org_id, plugin_name)
);
