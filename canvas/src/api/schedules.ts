// A workspace's schedules: a prompt sent at every cron time, with its run history.
import { api, unwrap, unwrapAs } from "./client";
import type { paths } from "./schema";

// The shapes are the platform's own (schema.d.ts, generated from GET /openapi.json).
type Schedules = paths["/workspaces/{workspace_id}/schedules"];
type JsonOf<R> = R extends { content: { "application/json": infer Body } } ? Body : never;

export type ScheduleRow = JsonOf<Schedules["get"]["responses"][200]>[number];
export type ScheduleRunRow = JsonOf<
  paths["/workspaces/{workspace_id}/schedules/{schedule_id}/history"]["get"]["responses"][200]
>[number];
export type NewSchedule = NonNullable<Schedules["post"]["requestBody"]>["content"]["application/json"];

const ws = (id: string) => ({ params: { path: { workspace_id: id } } });
const one = (id: string, scheduleId: string) => ({ params: { path: { workspace_id: id, schedule_id: scheduleId } } });

export const listSchedules = (id: string) =>
  unwrapAs<ScheduleRow[]>(api.GET("/workspaces/{workspace_id}/schedules", ws(id)));

export const createSchedule = (id: string, body: NewSchedule) =>
  unwrap(api.POST("/workspaces/{workspace_id}/schedules", { ...ws(id), body }));

/** What an edit may change; only the fields present are sent and changed (the platform plans
 * the next run again when cron_expr, timezone or enabled change; a bad cron expression or time
 * zone is its 400 with the reason, a taken name its 409). */
export type ScheduleEdit = NonNullable<
  paths["/workspaces/{workspace_id}/schedules/{schedule_id}"]["patch"]["requestBody"]
>["content"]["application/json"];

export const updateSchedule = (id: string, scheduleId: string, body: ScheduleEdit) =>
  unwrap(api.PATCH("/workspaces/{workspace_id}/schedules/{schedule_id}", { ...one(id, scheduleId), body }));

export const deleteSchedule = (id: string, scheduleId: string) =>
  unwrap(api.DELETE("/workspaces/{workspace_id}/schedules/{schedule_id}", one(id, scheduleId)));

export const runSchedule = (id: string, scheduleId: string) =>
  unwrap(api.POST("/workspaces/{workspace_id}/schedules/{schedule_id}/run", one(id, scheduleId)));

export const scheduleHistory = (id: string, scheduleId: string) =>
  unwrapAs<ScheduleRunRow[]>(api.GET("/workspaces/{workspace_id}/schedules/{schedule_id}/history", one(id, scheduleId)));
