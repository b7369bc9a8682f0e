// The shapes the canvas reads. Where the API description is exact these come from it; where
// it leaves a response open (GET /workspaces is "an array of workspaces") they name the
// fields the platform serves today (molecule/store/workspace_rows.py).
import type { components } from "./schema";

export type WorkspaceStatus =
  | "provisioning"
  | "online"
  | "offline"
  | "degraded"
  | "awaiting_agent"
  | "failed"
  | "paused"
  | "hibernating"
  | "hibernated"
  | "removed";

type Described = components["schemas"]["Workspace"];

export interface Workspace extends Pick<Described, "id" | "name" | "runtime" | "parent_id" | "url"> {
  status: WorkspaceStatus | string;
  role?: string | null;
  tier?: number | null;
  agent_card?: Record<string, unknown> | null;
  active_tasks?: number;
  current_task?: string | null;
  last_sample_error?: string | null;
  uptime_seconds?: number;
  x?: number;
  y?: number;
  collapsed?: boolean;
  delivery_mode?: string;
  last_heartbeat_at?: string | null;
  created_at?: string;
  updated_at?: string;
  provision_timeout_ms?: number | null;
}

export interface Template {
  id: string;
  name: string;
  description?: string;
  runtime?: string;
  tier?: number;
  required_env?: string[];
  provision_timeout_seconds?: number;
}

export interface ActivityRow {
  id: string;
  workspace_id: string;
  activity_type: string;
  source_id: string | null;
  target_id: string | null;
  method: string | null;
  summary: string | null;
  status: string | null;
  error_detail?: string | null;
  created_at: string;
  request_body?: unknown;
  response_body?: unknown;
}

/** One event as `/ws` sends it (molecule/events/catalogue.py `Event.wire`). */
export interface WireEvent {
  event: string;
  workspace_id: string | null;
  timestamp: string;
  payload: Record<string, unknown>;
}

export interface FileRef {
  uri: string;
  name: string;
  mimeType?: string;
  size?: number;
}
