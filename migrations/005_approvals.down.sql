DROP INDEX IF EXISTS idx_activity_delegate_result;
DROP INDEX IF EXISTS idx_activity_delegate_created;
DROP TABLE IF EXISTS canvas_viewport;
DROP TABLE IF EXISTS approval_requests;
