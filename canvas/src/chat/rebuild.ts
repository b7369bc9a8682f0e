// The conversation after a reload, rebuilt from the activity feed: every `a2a_receive` row the
// canvas caused (source_id null) holds the user's message and the agent's reply; notify rows
// hold an agent message alone (molecule/http/activity_feed.py).
import type { ActivityRow } from "../api/types";
import { type ChatMessage, replyError, replyMessage, requestMessage } from "./messages";

export function rebuildChat(rows: readonly ActivityRow[]): ChatMessage[] {
  const ordered = rows
    .filter((row) => row.activity_type === "a2a_receive" && row.source_id === null)
    .slice()
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const messages: ChatMessage[] = [];
  for (const row of ordered) {
    const sent = row.method === "notify" ? null : requestMessage(row.request_body);
    if (sent) {
      messages.push({ id: `${row.id}:user`, role: "user", at: row.created_at, ...sent });
    }
    const reply = replyMessage(row.response_body);
    if (reply) {
      messages.push({ id: `${row.id}:agent`, role: "agent", at: row.created_at, ...reply });
      continue;
    }
    const failure = replyError(row.response_body) ?? (row.status === "error" ? row.error_detail : null);
    if (sent && failure) {
      messages.push({
        id: `${row.id}:agent`,
        role: "agent",
        at: row.created_at,
        text: failure,
        files: [],
        error: true,
      });
    }
  }
  return messages;
}
