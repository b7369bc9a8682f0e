// Talking to a workspace: A2A `message/send`, chat uploads, the activity rows a reload reads.
import type { FileRef, ActivityRow } from "./types";
import { api, safeFetch, toApiError, unwrapAs } from "./client";

export const CHAT_HISTORY_LIMIT = 200;

function messageId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `m-${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export function sendMessage(id: string, text: string, files: FileRef[]): Promise<unknown> {
  const parts: unknown[] = [];
  if (text) parts.push({ kind: "text", text });
  for (const file of files) parts.push({ kind: "file", file: { uri: file.uri, name: file.name, mimeType: file.mimeType } });
  const body = {
    jsonrpc: "2.0",
    id: messageId(),
    method: "message/send",
    params: { message: { role: "user", messageId: messageId(), parts } },
  };
  return unwrapAs<unknown>(
    api.POST("/workspaces/{workspace_id}/a2a", { params: { path: { workspace_id: id } }, body: body as never }),
  );
}

export async function uploadFiles(id: string, files: readonly File[]): Promise<FileRef[]> {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const response = await safeFetch(`/workspaces/${encodeURIComponent(id)}/chat/uploads`, { method: "POST", body: form });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the message keeps the text
  }
  if (!response.ok) throw toApiError(response.status, body);
  return (body as { files: FileRef[] }).files;
}

export const chatActivity = (id: string) =>
  unwrapAs<ActivityRow[]>(
    api.GET("/workspaces/{workspace_id}/activity", {
      params: { path: { workspace_id: id }, query: { type: "a2a_receive", source: "canvas", limit: CHAT_HISTORY_LIMIT } },
    }),
  );

export const recentActivity = (id: string) =>
  unwrapAs<ActivityRow[]>(
    api.GET("/workspaces/{workspace_id}/activity", { params: { path: { workspace_id: id }, query: { limit: 100 } } }),
  );

/** The download URL of a chip: the file's path inside the workspace, through the platform. */
export function downloadUrl(id: string, uri: string): string {
  const path = uri.replace(/^workspace:/, "");
  return `/workspaces/${encodeURIComponent(id)}/chat/download?path=${encodeURIComponent(path)}`;
}
