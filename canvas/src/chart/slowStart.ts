// Which workspaces are slow to start, for the whole org at once (the banner, SlowStartBanner.tsx):
// the node badge's rule (provisioning.ts) kept as one clock per provisioning workspace, so the
// banner needs one timer for the org rather than one per node, and none while nothing provisions.
import type { Workspace } from "../api/types";
import { msUntilOverdue, provisionTimeoutMs, provisioningSince } from "./provisioning";

/** When each provisioning workspace began provisioning, as this page knows it. */
export interface Clocks {
  known: ReadonlySet<string>; // every workspace id on the chart at the last update
  since: Readonly<Record<string, number>>; // provisioning workspaces only (ms since the epoch)
}

export const NO_CLOCKS: Clocks = { known: new Set(), since: {} };

const stamp = (w: Pick<Workspace, "updated_at">): number => Date.parse(w.updated_at ?? "");

/**
 * Fold the store's workspaces into the clocks. A workspace seen going into `provisioning`
 * starts its clock now; one already provisioning when first seen started at its row's last
 * update; a newer `updated_at` (a restart re-reads the row) starts it again, as the platform's
 * own timeout sweep counts from `updated_at`. Workspaces that left `provisioning` (online,
 * failed, removed) lose their clock. The same object comes back when nothing changed, so a
 * status event about an online workspace re-renders nothing.
 */
export function trackProvisioning(prev: Clocks, workspaces: Readonly<Record<string, Workspace>>, nowMs: number): Clocks {
  let since: Record<string, number> | null = null;
  let count = 0;
  let newcomer = false;
  for (const id in workspaces) {
    const w = workspaces[id]!;
    count += 1;
    if (!prev.known.has(id)) newcomer = true;
    if (w.status !== "provisioning") continue;
    const before = prev.since[id];
    const base = before ?? (prev.known.has(id) ? nowMs : provisioningSince(w, null));
    const updated = stamp(w);
    const next = Number.isFinite(updated) && updated > base ? updated : base;
    if (next !== before) (since ??= { ...prev.since })[id] = next;
  }
  for (const id in prev.since) {
    if (workspaces[id]?.status !== "provisioning") {
      since ??= { ...prev.since };
      delete since[id];
    }
  }
  const membership = newcomer || count !== prev.known.size;
  if (!since && !membership) return prev;
  return { known: membership ? new Set(Object.keys(workspaces)) : prev.known, since: since ?? prev.since };
}

export interface SlowStart {
  id: string;
  name: string;
  since: number;
  timeoutMs: number;
}

export interface SlowStarts {
  overdue: SlowStart[]; // oldest first
  nextAt: number | null; // when the next provisioning workspace becomes overdue (ms since the epoch)
}

/**
 * The overdue workspaces not dismissed (a dismissal holds for that provisioning run only: it
 * names the clock it silenced), and when to look again. Rows missing or no longer provisioning
 * are skipped, whatever the clocks say.
 */
export function slowStarts(
  workspaces: Readonly<Record<string, Workspace | undefined>>,
  since: Readonly<Record<string, number>>,
  dismissed: Readonly<Record<string, number>>,
  nowMs: number,
): SlowStarts {
  const overdue: SlowStart[] = [];
  let nextAt: number | null = null;
  for (const id in since) {
    const w = workspaces[id];
    const began = since[id]!;
    const left = w ? msUntilOverdue(w, began, nowMs) : null;
    if (!w || left === null) continue;
    if (left > 0) nextAt = nextAt === null ? nowMs + left : Math.min(nextAt, nowMs + left);
    else if (dismissed[id] !== began) overdue.push({ id, name: w.name, since: began, timeoutMs: provisionTimeoutMs(w) });
  }
  overdue.sort((a, b) => a.since - b.since || a.name.localeCompare(b.name));
  return { overdue, nextAt };
}

/** "2 s", "90 s", "10 min", "1 h 30 min": how long a timeout is, in the words the banner uses. */
export function formatTimeout(ms: number): string {
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ""}`;
}
