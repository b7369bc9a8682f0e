DROP TABLE IF EXISTS a2a_queue, activity_logs, structure_events, org_api_tokens,
    workspace_auth_tokens, canvas_layouts, workspaces;
DROP TYPE IF EXISTS workspace_status;
