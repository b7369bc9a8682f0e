DROP TABLE IF EXISTS workspace_token_usage;
DROP TABLE IF EXISTS workspace_config;
