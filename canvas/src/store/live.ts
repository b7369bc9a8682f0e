// The live state the chart and panels draw, and the pure reducer that folds `/ws` events into
// it. Every event of molecule/events/catalogue.py has a case here (store/live.test.ts checks
// the catalogue file itself); an event the canvas does not know is ignored.
import type { Workspace, WireEvent } from "../api/types";
import type { ChatMessage } from "../chat/messages";
import { readParts } from "../chat/messages";

export interface Delegation {
  id: string;
  targetId: string | null;
  status: string;
  preview: string;
  at: string;
}

export interface Approval {
  id: string;
  workspaceId: string;
  action: string;
  reason: string;
  escalatedTo?: string;
}

export interface FeedItem {
  at: string;
  type: string;
  summary: string;
  status: string | null;
  sourceId: string | null;
  targetId: string | null;
}

export interface Notice {
  at: string;
  text: string;
  workspaceId: string | null;
}

export interface LiveState {
  workspaces: Record<string, Workspace>;
  chats: Record<string, ChatMessage[]>;
  feeds: Record<string, FeedItem[]>;
  delegations: Record<string, Record<string, Delegation>>;
  approvals: Record<string, Approval>;
  traffic: Record<string, number>; // workspace id -> time (ms) of its last A2A exchange
  notices: Notice[];
  importing: boolean;
  stale: boolean; // the workspace list must be fetched again (new or restructured rows)
}

export const emptyLive = (): LiveState => ({
  workspaces: {},
  chats: {},
  feeds: {},
  delegations: {},
  approvals: {},
  traffic: {},
  notices: [],
  importing: false,
  stale: false,
});

export const FEED_LIMIT = 200;
export const NOTICE_LIMIT = 20;

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

type Patch = Partial<Workspace>;

function patch(state: LiveState, id: string | null, change: Patch, unknownIsStale = true): LiveState {
  if (!id) return state;
  const current = state.workspaces[id];
  if (!current) return unknownIsStale ? { ...state, stale: true } : state;
  return { ...state, workspaces: { ...state.workspaces, [id]: { ...current, ...change } } };
}

function remove(state: LiveState, id: string | null): LiveState {
  if (!id || !state.workspaces[id]) return state;
  const workspaces = { ...state.workspaces };
  delete workspaces[id];
  return { ...state, workspaces };
}

function notice(state: LiveState, ev: WireEvent, text: string): LiveState {
  const item = { at: ev.timestamp, text, workspaceId: ev.workspace_id };
  return { ...state, notices: [item, ...state.notices].slice(0, NOTICE_LIMIT) };
}

function nameOf(state: LiveState, id: string | null): string {
  return (id && state.workspaces[id]?.name) || "a workspace";
}

function delegation(state: LiveState, ev: WireEvent, status: string, preview: string): LiveState {
  const owner = ev.workspace_id;
  const id = str(ev.payload.delegation_id);
  if (!owner || !id) return state;
  const mine = state.delegations[owner] ?? {};
  const before = mine[id];
  const targetId = str(ev.payload.target_id) || before?.targetId || null;
  const item = { id, targetId, status, preview: preview || before?.preview || "", at: ev.timestamp };
  const traffic = targetId ? { ...state.traffic, [owner]: Date.parse(ev.timestamp), [targetId]: Date.parse(ev.timestamp) } : state.traffic;
  return { ...state, traffic, delegations: { ...state.delegations, [owner]: { ...mine, [id]: item } } };
}

function agentMessage(state: LiveState, ev: WireEvent): LiveState {
  const id = ev.workspace_id;
  if (!id) return state;
  const files = readParts(
    (Array.isArray(ev.payload.attachments) ? ev.payload.attachments : []).map((file) => ({ kind: "file", file })),
  ).files;
  const message: ChatMessage = {
    id: `live:${ev.timestamp}:${(state.chats[id] ?? []).length}`,
    role: "agent",
    text: str(ev.payload.message),
    files,
    at: ev.timestamp,
  };
  return { ...state, chats: { ...state.chats, [id]: [...(state.chats[id] ?? []), message] } };
}

function activity(state: LiveState, ev: WireEvent): LiveState {
  const id = ev.workspace_id;
  const p = ev.payload;
  if (!id || !str(p.activity_type)) return state; // an empty payload: nobody was listening
  const item: FeedItem = {
    at: ev.timestamp,
    type: str(p.activity_type),
    summary: str(p.summary),
    status: str(p.status) || null,
    sourceId: str(p.source_id) || null,
    targetId: str(p.target_id) || null,
  };
  const feed = [item, ...(state.feeds[id] ?? [])].slice(0, FEED_LIMIT);
  const at = Date.parse(ev.timestamp);
  const traffic = item.type.startsWith("a2a") && item.sourceId && item.targetId
    ? { ...state.traffic, [item.sourceId]: at, [item.targetId]: at }
    : state.traffic;
  return { ...state, traffic, feeds: { ...state.feeds, [id]: feed } };
}

function approvalAdd(state: LiveState, ev: WireEvent, escalated: boolean): LiveState {
  const p = ev.payload;
  const id = str(p.approval_id);
  if (!id || !ev.workspace_id) return state;
  const before = state.approvals[id];
  const item: Approval = escalated
    ? { id, workspaceId: str(p.from_workspace_id) || before?.workspaceId || "", action: str(p.action), reason: str(p.reason), escalatedTo: ev.workspace_id }
    : { ...before, id, workspaceId: ev.workspace_id, action: str(p.action), reason: str(p.reason) };
  return { ...state, approvals: { ...state.approvals, [id]: item } };
}

function approvalDone(state: LiveState, ev: WireEvent): LiveState {
  const id = str(ev.payload.approval_id);
  if (!state.approvals[id]) return state;
  const approvals = { ...state.approvals };
  delete approvals[id];
  return { ...state, approvals };
}

export function reduce(state: LiveState, ev: WireEvent): LiveState {
  const id = ev.workspace_id;
  const p = ev.payload;
  switch (ev.event) {
    case "WORKSPACE_PROVISIONING":
      return patch(state, id, { status: "provisioning", url: null, ...(str(p.runtime) ? { runtime: str(p.runtime) } : {}) });
    case "WORKSPACE_ONLINE": {
      const change: Patch = { status: "online", last_sample_error: null };
      if (typeof p.url === "string") change.url = p.url;
      if (p.agent_card && typeof p.agent_card === "object") change.agent_card = p.agent_card as Record<string, unknown>;
      return patch(state, id, change);
    }
    case "WORKSPACE_OFFLINE":
      return patch(state, id, { status: str(p.status) || "offline" });
    case "WORKSPACE_DEGRADED":
      return patch(state, id, { status: "degraded", last_sample_error: str(p.sample_error) || null });
    case "WORKSPACE_AWAITING_AGENT":
      return patch(state, id, { status: "awaiting_agent" });
    case "WORKSPACE_PROVISION_FAILED":
      return patch(state, id, { status: "failed", last_sample_error: str(p.error) || null });
    case "WORKSPACE_PAUSED":
      return patch(state, id, { status: "paused", url: null });
    case "WORKSPACE_HIBERNATED":
      return patch(state, id, { status: "hibernated", url: null });
    case "WORKSPACE_REMOVED":
      return remove(state, id);
    case "WORKSPACE_HEARTBEAT": {
      const change: Patch = { active_tasks: num(p.active_tasks), uptime_seconds: num(p.uptime_seconds), last_heartbeat_at: ev.timestamp };
      // Only a beat whose last error changed carries the field (docs/compatibility.md#d54).
      if (typeof p.sample_error === "string") change.last_sample_error = p.sample_error || null;
      return patch(state, id, change, false);
    }
    case "TASK_UPDATED":
      return patch(state, id, { current_task: str(p.current_task) || null, active_tasks: num(p.active_tasks) }, false);
    case "AGENT_CARD_UPDATED":
      return patch(state, id, { agent_card: (p.agent_card ?? null) as Record<string, unknown> | null });
    case "WORKSPACE_EXPANDED":
    case "WORKSPACE_COLLAPSED":
      return { ...patch(state, id, {}), stale: true }; // children appeared or went: fetch again
    case "AGENT_MESSAGE":
      return agentMessage(state, ev);
    case "A2A_RESPONSE":
      return id ? { ...state, traffic: { ...state.traffic, [id]: Date.parse(ev.timestamp) } } : state;
    case "ACTIVITY_LOGGED":
      return activity(state, ev);
    case "DELEGATION_SENT":
      return delegation(state, ev, "queued", str(p.task_preview));
    case "DELEGATION_STATUS":
      return delegation(state, ev, str(p.status) || "dispatched", "");
    case "DELEGATION_COMPLETE":
      return delegation(state, ev, "completed", str(p.response_preview));
    case "DELEGATION_FAILED":
      return delegation(state, ev, "failed", str(p.error));
    case "EXTERNAL_CREDENTIALS_ROTATED":
      return notice(state, ev, `New connection credentials for ${nameOf(state, id)}`);
    case "CRON_EXECUTED":
      return notice(state, ev, `Schedule "${str(p.schedule_name)}" ran on ${nameOf(state, id)}: ${str(p.status)}`);
    case "CRON_SKIPPED":
      return notice(state, ev, `Schedule "${str(p.schedule_name)}" skipped on ${nameOf(state, id)}: ${str(p.reason)}`);
    case "org.import.started":
      return { ...notice(state, ev, `Importing ${str(p.name) || "an org"}…`), importing: true };
    case "org.import.completed": {
      const error = str(p.create_error);
      const text = error ? `Import of ${str(p.name)} failed: ${error}` : `Imported ${str(p.name)} (${num(p.created_count) ?? 0} created)`;
      return { ...notice(state, ev, text), importing: false, stale: true };
    }
    case "APPROVAL_REQUESTED":
      return approvalAdd(state, ev, false);
    case "APPROVAL_ESCALATED":
      return approvalAdd(state, ev, true);
    case "APPROVAL_APPROVED":
    case "APPROVAL_DENIED":
      return approvalDone(state, ev);
    default:
      return state;
  }
}

/** Every event name `reduce` understands (the catalogue test compares it with the platform's). */
export const HANDLED_EVENTS = [
  "WORKSPACE_PROVISIONING", "WORKSPACE_ONLINE", "WORKSPACE_OFFLINE", "WORKSPACE_DEGRADED",
  "WORKSPACE_AWAITING_AGENT", "WORKSPACE_REMOVED", "WORKSPACE_PROVISION_FAILED",
  "WORKSPACE_HEARTBEAT", "WORKSPACE_PAUSED", "WORKSPACE_HIBERNATED", "WORKSPACE_EXPANDED",
  "WORKSPACE_COLLAPSED", "TASK_UPDATED", "AGENT_CARD_UPDATED", "AGENT_MESSAGE", "A2A_RESPONSE",
  "ACTIVITY_LOGGED", "DELEGATION_SENT", "DELEGATION_STATUS", "DELEGATION_COMPLETE",
  "DELEGATION_FAILED", "EXTERNAL_CREDENTIALS_ROTATED", "CRON_EXECUTED", "CRON_SKIPPED",
  "org.import.started", "org.import.completed", "APPROVAL_REQUESTED", "APPROVAL_ESCALATED",
  "APPROVAL_APPROVED", "APPROVAL_DENIED",
] as const;
