// Pending approvals per workspace: the count the chart's nodes and the Approvals tab show, and
// how the pending list fetched at each (re)connect joins what `APPROVAL_*` events did meanwhile.
import type { Approval } from "./live";

// One count table per approvals object: the store replaces the object on every change, so the
// table is built once per change and each of the chart's nodes reads its number in O(1)
// (bench/canvas_load.py: 500 nodes, each selecting its count on every store update).
const tables = new WeakMap<Record<string, Approval>, Map<string, number>>();

function table(approvals: Record<string, Approval>): Map<string, number> {
  let counts = tables.get(approvals);
  if (!counts) {
    counts = new Map();
    for (const a of Object.values(approvals)) counts.set(a.workspaceId, (counts.get(a.workspaceId) ?? 0) + 1);
    tables.set(approvals, counts);
  }
  return counts;
}

/** How many approvals the workspace asked for that nobody has decided yet. */
export const pendingCount = (approvals: Record<string, Approval>, workspaceId: string): number => table(approvals).get(workspaceId) ?? 0;

export const pendingLabel = (count: number): string => `${count} pending approval${count === 1 ? "" : "s"}`;

/**
 * The store's approvals once a pending list arrives. `before` is what the store held when the
 * list was asked for, `now` what it holds when the answer comes, `fetched` the answer.
 * The list wins (the events of a disconnection are lost), except for what events changed while
 * it was on its way: one requested meanwhile is kept, one decided meanwhile stays gone. A list
 * cut at the platform's limit (`complete` false) only adds: nothing is dropped on its word.
 */
export function mergePending(
  before: Record<string, Approval>,
  now: Record<string, Approval>,
  fetched: Record<string, Approval>,
  complete = true,
): Record<string, Approval> {
  const out: Record<string, Approval> = complete ? {} : { ...now };
  for (const [id, item] of Object.entries(fetched)) {
    if (id in before && !(id in now)) continue; // decided while the list was on its way
    const live = now[id];
    out[id] = live ? { ...item, ...live } : item; // live events know where it escalated to
  }
  for (const [id, item] of Object.entries(now)) {
    if (!(id in before)) out[id] = out[id] ?? item; // requested while the list was on its way
  }
  return out;
}

/** The platform's cap on GET /approvals/pending (molecule/http/approvals.py). */
export const PENDING_LIMIT = 50;
