// Editing a schedule: the form's fields as typed, what of them differs from the stored row
// (only that is sent: PATCH /workspaces/:id/schedules/:scheduleId), and the checks made before
// the platform checks again (its 400 message is shown when it refuses).
import type { ScheduleEdit, ScheduleRow } from "../api/schedules";
import { cronError } from "./forms";

/** The form's text fields, as the person typed them. */
export interface ScheduleDraft {
  name: string;
  cron_expr: string;
  timezone: string;
  prompt: string;
}

/** The platform's limit on a schedule's name (molecule/http/schedule_schemas.py MAX_NAME). */
export const MAX_SCHEDULE_NAME = 200;

export const draftOf = (row: Pick<ScheduleRow, keyof ScheduleDraft>): ScheduleDraft => ({
  name: row.name,
  cron_expr: row.cron_expr,
  timezone: row.timezone,
  prompt: row.prompt,
});

/** The fields that differ from the row, cleaned as the create form cleans them (trimmed; an
 * empty time zone is UTC). Surrounding whitespace alone is no change. An empty name is a
 * change (it clears the name); an empty prompt or cron is sent only to be refused before. */
export function scheduleChanges(row: Pick<ScheduleRow, keyof ScheduleDraft>, draft: ScheduleDraft): ScheduleEdit {
  const changes: ScheduleEdit = {};
  const name = draft.name.trim();
  if (name !== row.name.trim()) changes.name = name;
  const cron = draft.cron_expr.trim().replace(/\s+/g, " ");
  if (cron !== row.cron_expr.trim().replace(/\s+/g, " ")) changes.cron_expr = cron;
  const timezone = draft.timezone.trim() || "UTC";
  if (timezone !== row.timezone) changes.timezone = timezone;
  const prompt = draft.prompt.trim();
  if (prompt !== row.prompt.trim()) changes.prompt = prompt;
  return changes;
}

/** Why the changes cannot be sent, or null. Only changed fields are checked, so a stored row
 * the platform accepted is never refused here for a field the person did not touch. */
export function scheduleEditError(changes: ScheduleEdit): string | null {
  if (changes.cron_expr != null) {
    const problem = cronError(changes.cron_expr);
    if (problem) return problem;
  }
  if (changes.prompt != null && !changes.prompt) return "write the prompt to send";
  if (changes.name != null && changes.name.length > MAX_SCHEDULE_NAME) return `the name may have at most ${MAX_SCHEDULE_NAME} characters`;
  return null;
}

export const hasChanges = (changes: ScheduleEdit): boolean => Object.keys(changes).length > 0;
