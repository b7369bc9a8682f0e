// Memories a workspace may read (full-text search, by scope), approvals, delegations, and the
// activity feed filtered by type and source.
import type { components } from "./schema";
import type { ActivityRow } from "./types";
import { api, unwrap, unwrapAs } from "./client";

export type Memory = components["schemas"]["Memory"];
export type MemoryScope = "LOCAL" | "TEAM" | "GLOBAL";
export type PendingApproval = components["schemas"]["PendingApproval"];

export interface DelegationRow {
  id: string;
  type: string | null;
  source_id: string | null;
  target_id: string | null;
  summary: string | null;
  status: string | null;
  created_at: string;
  delegation_id?: string;
  error?: string;
  response_preview?: string;
}

const ws = (id: string) => ({ params: { path: { workspace_id: id } } });

export function searchMemories(id: string, q: string, scope: MemoryScope | "") {
  const query: { q?: string; scope?: MemoryScope } = {};
  if (q.trim()) query.q = q.trim();
  if (scope) query.scope = scope;
  return unwrapAs<Memory[]>(api.GET("/workspaces/{workspace_id}/memories", { params: { path: { workspace_id: id }, query } }));
}

export const deleteMemory = (id: string, memoryId: string) =>
  unwrap(
    api.DELETE("/workspaces/{workspace_id}/memories/{memory_id}", {
      params: { path: { workspace_id: id, memory_id: memoryId } },
    }),
  );

export const pendingApprovals = () => unwrapAs<PendingApproval[]>(api.GET("/approvals/pending"));

export const decideApproval = (id: string, approvalId: string, decision: "approved" | "denied") =>
  unwrap(
    api.POST("/workspaces/{workspace_id}/approvals/{approval_id}/decide", {
      params: { path: { workspace_id: id, approval_id: approvalId } },
      body: { decision },
    }),
  );

export const listDelegations = (id: string) =>
  unwrapAs<DelegationRow[]>(api.GET("/workspaces/{workspace_id}/delegations", ws(id)));

export interface ActivityFilter {
  type: string;
  source: "" | "canvas" | "agent";
}

export function filteredActivity(id: string, filter: ActivityFilter, limit = 100) {
  const query: { type?: string; source?: "canvas" | "agent"; limit: number } = { limit };
  if (filter.type) query.type = filter.type;
  if (filter.source) query.source = filter.source;
  return unwrapAs<ActivityRow[]>(api.GET("/workspaces/{workspace_id}/activity", { params: { path: { workspace_id: id }, query } }));
}
