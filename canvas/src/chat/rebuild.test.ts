import { describe, expect, it } from "vitest";
import type { ActivityRow } from "../api/types";
import { rebuildChat } from "./rebuild";

let n = 0;
function row(extra: Partial<ActivityRow>): ActivityRow {
  n += 1;
  return {
    id: `r${String(n).padStart(3, "0")}`,
    workspace_id: "w",
    activity_type: "a2a_receive",
    source_id: null,
    target_id: "w",
    method: "message/send",
    summary: null,
    status: "ok",
    created_at: `2026-12-06T10:00:${String(n).padStart(2, "0")}Z`,
    ...extra,
  };
}

const send = (text: string, files: unknown[] = []) => ({
  jsonrpc: "2.0",
  method: "message/send",
  params: { message: { role: "user", parts: [{ kind: "text", text }, ...files] } },
});
const file = (name: string) => ({ kind: "file", file: { uri: `workspace:/workspace/${name}`, name, mimeType: "text/plain" } });

describe("the chat rebuilt from activity rows", () => {
  it("pairs each message with its reply, oldest first, whatever the feed's order", () => {
    const first = row({ request_body: send("hello"), response_body: { result: { kind: "message", parts: [{ kind: "text", text: "echo: hello" }] } } });
    const second = row({ request_body: send("again"), response_body: { result: { kind: "message", parts: [{ kind: "text", text: "echo: again" }] } } });
    const chat = rebuildChat([second, first]); // the feed is newest first
    expect(chat.map((m) => [m.role, m.text])).toEqual([
      ["user", "hello"],
      ["agent", "echo: hello"],
      ["user", "again"],
      ["agent", "echo: again"],
    ]);
    expect(chat[0]).toMatchObject({ id: `${first.id}:user`, at: first.created_at });
  });

  it("keeps attachments both ways as chips", () => {
    const r = row({
      request_body: send("see", [file("in.txt")]),
      response_body: { result: { kind: "message", parts: [{ kind: "text", text: "ok" }, file("out.txt")] } },
    });
    const chat = rebuildChat([r]);
    expect(chat[0]!.files).toEqual([{ uri: "workspace:/workspace/in.txt", name: "in.txt", mimeType: "text/plain" }]);
    expect(chat[1]!.files.map((f) => f.name)).toEqual(["out.txt"]);
  });

  it("reads task replies (artifacts, else the status message)", () => {
    const artifacts = row({
      request_body: send("task"),
      response_body: { result: { kind: "task", artifacts: [{ parts: [{ kind: "text", text: "part 1" }] }, { parts: [{ kind: "text", text: "part 2" }] }] } },
    });
    const status = row({
      request_body: send("status"),
      response_body: { result: { kind: "task", status: { state: "completed", message: { parts: [{ type: "text", text: "from status" }] } } } },
    });
    expect(rebuildChat([artifacts, status]).filter((m) => m.role === "agent").map((m) => m.text)).toEqual(["part 1\npart 2", "from status"]);
  });

  it("shows notify rows as agent messages with their lowercase attachment keys", () => {
    const notify = row({ method: "notify", response_body: { result: "report ready", parts: [{ kind: "file", file: { uri: "workspace:/workspace/r.pdf", name: "r.pdf" } }] } });
    expect(rebuildChat([notify])).toEqual([
      { id: `${notify.id}:agent`, role: "agent", at: notify.created_at, text: "report ready", files: [{ uri: "workspace:/workspace/r.pdf", name: "r.pdf" }] },
    ]);
  });

  it("shows a failed delivery as an error reply", () => {
    const rpcError = row({ request_body: send("x"), response_body: { error: { code: -32000, message: "agent busy" } } });
    const failed = row({ request_body: send("y"), status: "error", error_detail: "connection refused" });
    const agent = rebuildChat([rpcError, failed]).filter((m) => m.role === "agent");
    expect(agent.map((m) => [m.text, m.error])).toEqual([["agent busy", true], ["connection refused", true]]);
  });

  it("leaves out what the canvas did not send and rows with nothing to show", () => {
    const fromAgent = row({ source_id: "peer", request_body: send("between agents") });
    const other = row({ activity_type: "agent_log", request_body: send("log") });
    const empty = row({ request_body: { params: {} }, response_body: null });
    const legacy = row({ request_body: { params: { message: { role: "user", content: "plain content" } } } });
    expect(rebuildChat([fromAgent, other, empty, legacy]).map((m) => m.text)).toEqual(["plain content"]);
  });
});
