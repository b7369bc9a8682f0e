// Talking to a workspace: A2A `message/stream` (or `message/send`), chat uploads, the
// activity rows a reload reads.
import type { FileRef, ActivityRow } from "./types";
import { api, safeFetch, toApiError, unwrapAs } from "./client";
import { replyError, replyMessage } from "../chat/messages";
import { ReplyAccumulator, SseParser, type StreamedReply } from "../chat/stream";

export const CHAT_HISTORY_LIMIT = 200;

function messageId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `m-${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function envelope(method: string, text: string, files: FileRef[]) {
  const parts: unknown[] = [];
  if (text) parts.push({ kind: "text", text });
  for (const file of files) parts.push({ kind: "file", file: { uri: file.uri, name: file.name, mimeType: file.mimeType } });
  return { jsonrpc: "2.0", id: messageId(), method, params: { message: { role: "user", messageId: messageId(), parts } } };
}

/** POSTs one A2A request; the answer is JSON, or SSE when the agent streams. */
function postA2A(id: string, method: string, text: string, files: FileRef[]): Promise<Response> {
  return safeFetch(`/workspaces/${encodeURIComponent(id)}/a2a`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream, application/json" },
    body: JSON.stringify(envelope(method, text, files)),
  });
}

async function readJson(response: Response): Promise<unknown> {
  const raw = await response.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // not JSON: the message keeps the text
  }
  if (!response.ok) throw toApiError(response.status, body);
  return body;
}

/** JSON-RPC "method not found" / A2A "unsupported operation": the agent does not stream. */
const NO_STREAMING = new Set([-32601, -32004]);

function refusesStreaming(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown } } | null)?.error;
  return typeof error?.code === "number" && NO_STREAMING.has(error.code);
}

/** A plain JSON answer as a reply (null: nothing to show, e.g. queued while busy). */
function jsonReply(body: unknown): StreamedReply | null {
  const reply = replyMessage(body);
  const failure = replyError(body);
  if (!reply && !failure) return null;
  return { text: reply?.text ?? failure ?? "", files: reply?.files ?? [], error: reply ? null : failure };
}

/** Reads a text/event-stream body as it arrives, telling `onUpdate` each time the reply grows. */
export async function readStream(
  body: ReadableStream<Uint8Array>,
  onUpdate: (reply: StreamedReply) => void,
): Promise<StreamedReply | null> {
  const parser = new SseParser();
  const reply = new ReplyAccumulator();
  const decoder = new TextDecoder();
  const take = (events: unknown[]) => {
    let changed = false;
    for (const event of events) changed = reply.take(event) || changed;
    if (changed) onUpdate(reply.reply);
  };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      take(parser.feed(decoder.decode(value, { stream: true })));
    }
    take(parser.feed(decoder.decode()));
    take(parser.end());
  } finally {
    reader.releaseLock();
  }
  const final = reply.reply;
  return final.text || final.files.length || final.error ? final : null;
}

/** Sends with `message/stream`: an agent that streams is shown as its words arrive
 * (`onUpdate`); a JSON answer is the whole reply at once; an agent that refuses the
 * streaming method is asked again with `message/send`. */
export async function streamMessage(
  id: string,
  text: string,
  files: FileRef[],
  onUpdate: (reply: StreamedReply) => void,
): Promise<StreamedReply | null> {
  const response = await postA2A(id, "message/stream", text, files);
  const type = response.headers.get("content-type") ?? "";
  if (response.ok && type.startsWith("text/event-stream") && response.body) return readStream(response.body, onUpdate);
  const body = await readJson(response);
  if (refusesStreaming(body)) return jsonReply(await readJson(await postA2A(id, "message/send", text, files)));
  return jsonReply(body);
}

export async function uploadFiles(id: string, files: readonly File[]): Promise<FileRef[]> {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const response = await safeFetch(`/workspaces/${encodeURIComponent(id)}/chat/uploads`, { method: "POST", body: form });
  return ((await readJson(response)) as { files: FileRef[] }).files;
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
