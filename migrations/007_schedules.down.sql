DROP INDEX IF EXISTS idx_activity_cron_runs;
DROP TABLE IF EXISTS workspace_schedules;
