// Schedules: a prompt sent to the workspace at every cron time; edit, enable/disable, run now,
// delete, and each schedule's last runs.
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { type ScheduleRow, createSchedule, deleteSchedule, listSchedules, runSchedule, scheduleHistory, updateSchedule } from "../api/schedules";
import { cronError, localTimezone } from "./forms";
import { MAX_SCHEDULE_NAME } from "./scheduleEdit";
import { ScheduleEditForm } from "./ScheduleEditForm";
import { StatusLine } from "./StatusLine";
import { type Status, change, useLoad } from "./useLoad";

const when = (at: string | null) => (at ? new Date(at).toLocaleString() : "—");

function History({ workspaceId, scheduleId }: { workspaceId: string; scheduleId: string }) {
  const runs = useLoad(() => scheduleHistory(workspaceId, scheduleId), [workspaceId, scheduleId]);
  if (runs.error) return <p role="alert" className="error">{runs.error}</p>;
  if (!runs.data) return <p>Loading…</p>;
  if (!runs.data.length) return <p className="muted">No runs yet.</p>;
  return (
    <ol className="activity" aria-label="Last runs, newest first">
      {runs.data.map((run, i) => (
        <li key={`${run.timestamp}-${i}`} className={run.status === "error" ? "error" : undefined}>
          <time dateTime={run.timestamp}>{when(run.timestamp)}</time> <span className="tag">{run.status}</span>
          {run.duration_ms !== null && ` ${run.duration_ms} ms`} {run.error_detail}
        </li>
      ))}
    </ol>
  );
}

function Schedule({ workspaceId, row, setStatus, reload }: { workspaceId: string; row: ScheduleRow; setStatus(s: Status): void; reload(): void }) {
  const [showHistory, setShowHistory] = useState(false);
  const [editing, setEditing] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  const label = row.name || row.cron_expr;
  useEffect(() => {
    // Back from the form (saved or not): the keyboard resumes on this schedule's Edit button.
    if (!editing && refocus.current) editButton.current?.focus();
    refocus.current = false;
  }, [editing]);
  const done = (saved: boolean) => {
    refocus.current = true;
    setEditing(false);
    if (saved) {
      setStatus({ text: "Schedule saved", error: false });
      reload(); // the row as stored, its next run planned again
    }
  };
  if (editing) {
    return (
      <li className="card">
        <ScheduleEditForm workspaceId={workspaceId} row={row} label={label} onDone={done} />
      </li>
    );
  }
  return (
    <li className="card">
      <div className="row">
        <strong>{label}</strong> <code>{row.cron_expr}</code> <span className="muted">{row.timezone}</span>
      </div>
      <p className="prompt">{row.prompt}</p>
      <p className="muted">
        Next: {row.enabled ? when(row.next_run_at) : "disabled"} · last: {when(row.last_run_at)} {row.last_status && `(${row.last_status})`} · runs:{" "}
        {row.run_count}
      </p>
      {row.last_error && <p className="error">{row.last_error}</p>}
      <div className="row">
        <label>
          <input
            type="checkbox"
            checked={row.enabled}
            aria-label={`${label} enabled`}
            onChange={(e) => void change(() => updateSchedule(workspaceId, row.id, { enabled: e.target.checked }), setStatus, `${label} ${e.target.checked ? "enabled" : "disabled"}`, reload)}
          />{" "}
          Enabled
        </label>
        <button type="button" ref={editButton} aria-label={`Edit schedule ${label}`} onClick={() => (setStatus(null), setEditing(true))}>
          Edit
        </button>
        <button type="button" aria-label={`Run ${label} now`} onClick={() => void change(() => runSchedule(workspaceId, row.id), setStatus, `${label} started`, reload)}>
          Run now
        </button>
        <button type="button" aria-expanded={showHistory} aria-label={`History of ${label}`} onClick={() => setShowHistory(!showHistory)}>
          History
        </button>
        <button
          type="button"
          className="danger"
          aria-label={`Delete schedule ${label}`}
          onClick={() => window.confirm(`Delete the schedule ${label}?`) && void change(() => deleteSchedule(workspaceId, row.id), setStatus, `${label} deleted`, reload)}
        >
          Delete
        </button>
      </div>
      {showHistory && <History workspaceId={workspaceId} scheduleId={row.id} />}
    </li>
  );
}

export function SchedulesTab({ workspaceId }: { workspaceId: string }) {
  const list = useLoad(() => listSchedules(workspaceId), [workspaceId]);
  const [status, setStatus] = useState<Status>(null);
  const [name, setName] = useState("");
  const [cron, setCron] = useState("0 9 * * 1-5");
  const [timezone, setTimezone] = useState(localTimezone);
  const [prompt, setPrompt] = useState("");
  const id = useId();
  const create = (event: FormEvent) => {
    event.preventDefault();
    const problem = cronError(cron) ?? (prompt.trim() ? null : "write the prompt to send");
    if (problem) return setStatus({ text: problem, error: true });
    const body = { cron_expr: cron.trim(), timezone: timezone.trim() || "UTC", prompt: prompt.trim(), ...(name.trim() ? { name: name.trim() } : {}) };
    void change(() => createSchedule(workspaceId, body), setStatus, "Schedule created", list.reload).then((ok) => ok && (setName(""), setPrompt("")));
  };
  return (
    <div className="settings">
      {list.error && <p role="alert" className="error">{list.error}</p>}
      {list.data && !list.data.length && <p className="muted">No schedules yet.</p>}
      {list.data && list.data.length > 0 && (
        <ul className="cards" aria-label="Schedules">
          {list.data.map((row) => (
            <Schedule key={row.id} workspaceId={workspaceId} row={row} setStatus={setStatus} reload={list.reload} />
          ))}
        </ul>
      )}
      <StatusLine status={status} />
      <form onSubmit={create} aria-labelledby={`${id}-h`} className="stack">
        <h3 id={`${id}-h`}>New schedule</h3>
        <label htmlFor={`${id}-name`}>Name (optional)</label>
        <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} maxLength={MAX_SCHEDULE_NAME} />
        <label htmlFor={`${id}-cron`}>Cron (minute hour day month weekday)</label>
        <input id={`${id}-cron`} value={cron} onChange={(e) => setCron(e.target.value)} />
        <label htmlFor={`${id}-tz`}>Time zone</label>
        <input id={`${id}-tz`} value={timezone} onChange={(e) => setTimezone(e.target.value)} placeholder="UTC" />
        <label htmlFor={`${id}-prompt`}>Prompt</label>
        <textarea id={`${id}-prompt`} rows={3} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        <div className="buttons">
          <button type="submit" className="primary">
            Add schedule
          </button>
        </div>
      </form>
    </div>
  );
}
