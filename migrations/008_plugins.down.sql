DROP TABLE IF EXISTS org_plugin_allowlist;
DROP TABLE IF EXISTS workspace_plugins;
