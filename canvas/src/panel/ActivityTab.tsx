// The workspace's activity: the last 100 rows (filtered by type and source on the platform),
// then live ACTIVITY_LOGGED events on top, filtered by the same rule (settings/watch.ts).
import { useEffect, useId, useState } from "react";
import { type ActivityFilter, filteredActivity } from "../api/memories";
import type { ActivityRow } from "../api/types";
import { ACTIVITY_TYPES, matchesFilter } from "../settings/watch";
import { useOrg } from "../store/org";

export function ActivityTab({ workspaceId }: { workspaceId: string }) {
  const live = useOrg((s) => s.feeds[workspaceId]);
  const [filter, setFilter] = useState<ActivityFilter>({ type: "", source: "" });
  const [rows, setRows] = useState<ActivityRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [since, setSince] = useState(() => new Date().toISOString());
  const id = useId();
  useEffect(() => {
    let current = true;
    setRows(null);
    setError(null);
    setSince(new Date().toISOString());
    filteredActivity(workspaceId, filter).then(
      (r) => current && setRows(r),
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
    };
  }, [workspaceId, filter]);
  const fresh = (live ?? []).filter((item) => item.at >= since && matchesFilter(item, filter));
  const items = [
    ...fresh.map((f, i) => ({ key: `live-${i}-${f.at}`, at: f.at, type: f.type, summary: f.summary, status: f.status })),
    ...(rows ?? []).map((r) => ({ key: r.id, at: r.created_at, type: r.activity_type, summary: r.summary, status: r.status })),
  ];
  return (
    <>
      <div className="row filters" role="group" aria-label="Filter the activity">
        <label htmlFor={`${id}-type`}>Type</label>
        <select id={`${id}-type`} value={filter.type} onChange={(e) => setFilter({ ...filter, type: e.target.value })}>
          <option value="">all</option>
          {ACTIVITY_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-source`}>Source</label>
        <select id={`${id}-source`} value={filter.source} onChange={(e) => setFilter({ ...filter, source: e.target.value as ActivityFilter["source"] })}>
          <option value="">all</option>
          <option value="canvas">canvas (people)</option>
          <option value="agent">agents</option>
        </select>
      </div>
      {error ? (
        <p role="alert" className="error">{error}</p>
      ) : rows === null ? (
        <p>Loading…</p>
      ) : !items.length ? (
        <p className="muted">Nothing yet.</p>
      ) : (
        <ol className="activity" aria-label="Activity, newest first">
          {items.map((item) => (
            <li key={item.key} className={item.status === "error" ? "error" : undefined}>
              <time dateTime={item.at}>{new Date(item.at).toLocaleTimeString()}</time> <span className="tag">{item.type}</span>{" "}
              {item.summary}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}
