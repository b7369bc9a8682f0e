// A workspace's schedules: a prompt sent at every cron time, with its run history.
import { api, unwrap, unwrapAs } from "./client";

export interface ScheduleRow {
  id: string;
  workspace_id: string;
  name: string;
  cron_expr: string;
  timezone: string;
  prompt: string;
  enabled: boolean;
  last_run_at: string | null;
  next_run_at: string | null;
  run_count: number;
  last_status: string;
  last_error: string;
  source: string;
  created_at: string;
}

export interface ScheduleRunRow {
  timestamp: string;
  duration_ms: number | null;
  status: string;
  error_detail: string;
}

export interface NewSchedule {
  name?: string;
  cron_expr: string;
  timezone: string;
  prompt: string;
  enabled?: boolean;
}

const ws = (id: string) => ({ params: { path: { workspace_id: id } } });
const one = (id: string, scheduleId: string) => ({ params: { path: { workspace_id: id, schedule_id: scheduleId } } });

export const listSchedules = (id: string) =>
  unwrapAs<ScheduleRow[]>(api.GET("/workspaces/{workspace_id}/schedules", ws(id)));

export const createSchedule = (id: string, body: NewSchedule) =>
  unwrap(api.POST("/workspaces/{workspace_id}/schedules", { ...ws(id), body }));

/** What an edit may change; only the fields present are sent and changed (the platform plans
 * the next run again when cron_expr, timezone or enabled change; a bad cron expression or time
 * zone is its 400 with the reason, a taken name its 409). */
export type ScheduleEdit = Partial<Pick<NewSchedule, "name" | "cron_expr" | "timezone" | "prompt" | "enabled">>;

export const updateSchedule = (id: string, scheduleId: string, body: ScheduleEdit) =>
  unwrap(api.PATCH("/workspaces/{workspace_id}/schedules/{schedule_id}", { ...one(id, scheduleId), body }));

export const deleteSchedule = (id: string, scheduleId: string) =>
  unwrap(api.DELETE("/workspaces/{workspace_id}/schedules/{schedule_id}", one(id, scheduleId)));

export const runSchedule = (id: string, scheduleId: string) =>
  unwrap(api.POST("/workspaces/{workspace_id}/schedules/{schedule_id}/run", one(id, scheduleId)));

export const scheduleHistory = (id: string, scheduleId: string) =>
  unwrapAs<ScheduleRunRow[]>(api.GET("/workspaces/{workspace_id}/schedules/{schedule_id}/history", one(id, scheduleId)));
