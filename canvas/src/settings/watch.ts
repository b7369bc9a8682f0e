// How the watching tabs combine what they fetched with what arrives live: approvals, the
// filtered activity feed, delegations per peer.
import type { DelegationRow, PendingApproval } from "../api/memories";
import type { ActivityFilter } from "../api/memories";
import type { Approval, Delegation, FeedItem } from "../store/live";

/** The pending rows as the store keeps them (APPROVAL_* events then add and remove them). */
export function approvalsFrom(rows: readonly PendingApproval[]): Record<string, Approval> {
  return Object.fromEntries(
    rows.map((r) => [r.id, { id: r.id, workspaceId: r.workspace_id, action: r.action, reason: r.reason ?? "" }]),
  );
}

/** Oldest first: the order they should be decided in. `order` lists known ids by age. */
export function sortApprovals(approvals: Record<string, Approval>, order: readonly string[]): Approval[] {
  const at = new Map(order.map((id, i) => [id, i]));
  return Object.values(approvals).sort((a, b) => (at.get(a.id) ?? Infinity) - (at.get(b.id) ?? Infinity));
}

export const ACTIVITY_TYPES = [
  "a2a_send",
  "a2a_receive",
  "task_update",
  "agent_log",
  "skill_promotion",
  "memory_write",
  "delegation",
  "cron_run",
  "memory_write_global",
  "error",
] as const;

/** The platform's rule, for live items: `canvas` rows have no source workspace. */
export function matchesFilter(item: Pick<FeedItem, "type" | "sourceId">, filter: ActivityFilter): boolean {
  if (filter.type && item.type !== filter.type) return false;
  if (filter.source === "canvas" && item.sourceId) return false;
  if (filter.source === "agent" && !item.sourceId) return false;
  return true;
}

export interface PeerGroup {
  peerId: string | null;
  delegations: Delegation[]; // newest first
}

const FINAL = new Set(["completed", "failed"]);

/** A row's status in the words the live events use (store/live.ts). */
export function rowStatus(row: Pick<DelegationRow, "type" | "status" | "error">): string {
  const status = row.status ?? "";
  if (status === "error" || status === "failed" || row.error) return "failed";
  if (status === "ok" || status === "success" || status === "completed") return "completed";
  if (row.type === "delegate_result" && !status) return "completed";
  return status || "queued";
}

/** Fold the fetched rows (one per step) into one delegation each, newest state wins, then let
 * the live events (store/live.ts) override them, and group by peer (target). */
export function delegationsByPeer(rows: readonly DelegationRow[], live: Record<string, Delegation> | undefined): PeerGroup[] {
  const all = new Map<string, Delegation>();
  const oldestFirst = [...rows].sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const row of oldestFirst) {
    const id = row.delegation_id ?? row.id;
    const before = all.get(id);
    const status = rowStatus(row);
    if (before && FINAL.has(before.status) && !FINAL.has(status)) continue;
    all.set(id, {
      id,
      targetId: row.target_id ?? before?.targetId ?? null,
      status,
      preview: row.response_preview || row.error || before?.preview || row.summary || "",
      at: row.created_at,
    });
  }
  for (const item of Object.values(live ?? {})) {
    const before = all.get(item.id);
    all.set(item.id, { ...item, targetId: item.targetId ?? before?.targetId ?? null, preview: item.preview || before?.preview || "" });
  }
  const groups = new Map<string | null, Delegation[]>();
  for (const item of all.values()) groups.set(item.targetId, [...(groups.get(item.targetId) ?? []), item]);
  return [...groups.entries()]
    .map(([peerId, list]) => ({ peerId, delegations: list.sort((a, b) => b.at.localeCompare(a.at)) }))
    .sort((a, b) => b.delegations[0]!.at.localeCompare(a.delegations[0]!.at));
}
