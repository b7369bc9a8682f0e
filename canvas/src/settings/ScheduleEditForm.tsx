// The form that edits one schedule in place: labelled fields, Save / Cancel (Escape cancels),
// only the changed fields sent, and the platform's refusal shown as an alert with the form kept
// open so the person can correct it.
import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from "react";
import { type ScheduleRow, updateSchedule } from "../api/schedules";
import { MAX_SCHEDULE_NAME, draftOf, hasChanges, scheduleChanges, scheduleEditError } from "./scheduleEdit";
import { describe } from "./useLoad";

interface Props {
  workspaceId: string;
  row: ScheduleRow;
  label: string;
  /** The form is done: `saved` is false for Cancel, Escape or a Save with nothing changed. */
  onDone(saved: boolean): void;
}

export function ScheduleEditForm({ workspaceId, row, label, onDone }: Props) {
  const [draft, setDraft] = useState(() => draftOf(row));
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => first.current?.focus(), []);

  const set = (key: keyof typeof draft) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [key]: e.target.value }));

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (saving) return;
    const changes = scheduleChanges(row, draft);
    if (!hasChanges(changes)) return onDone(false);
    const problem = scheduleEditError(changes);
    if (problem) return setError(problem);
    setSaving(true);
    setError(null);
    try {
      await updateSchedule(workspaceId, row.id, changes);
      onDone(true);
    } catch (e) {
      setError(describe(e));
      setSaving(false);
    }
  };

  const onKey = (event: KeyboardEvent) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    onDone(false);
  };

  return (
    <form onSubmit={(e) => void save(e)} onKeyDown={onKey} aria-labelledby={`${id}-h`} className="stack schedule-edit" noValidate>
      <h3 id={`${id}-h`}>Edit schedule {label}</h3>
      <label htmlFor={`${id}-name`}>Name (optional)</label>
      <input id={`${id}-name`} ref={first} value={draft.name} onChange={set("name")} maxLength={MAX_SCHEDULE_NAME} />
      <label htmlFor={`${id}-cron`}>Cron (minute hour day month weekday)</label>
      <input id={`${id}-cron`} value={draft.cron_expr} onChange={set("cron_expr")} spellCheck={false} />
      <label htmlFor={`${id}-tz`}>Time zone</label>
      <input id={`${id}-tz`} value={draft.timezone} onChange={set("timezone")} placeholder="UTC" spellCheck={false} />
      <label htmlFor={`${id}-prompt`}>Prompt</label>
      <textarea id={`${id}-prompt`} rows={3} value={draft.prompt} onChange={set("prompt")} />
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="buttons">
        <button type="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        {/* aria-disabled, not disabled: a disabled button would drop the keyboard focus */}
        <button type="submit" className="primary" aria-disabled={saving}>
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
    </form>
  );
}
