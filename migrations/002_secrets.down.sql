DROP TABLE IF EXISTS workspace_secrets, global_secrets;
