import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { Workspace, WireEvent } from "../api/types";
import { FEED_LIMIT, HANDLED_EVENTS, type LiveState, emptyLive, reduce } from "./live";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const ws = (id: string, extra: Partial<Workspace> = {}): Workspace => ({ id, name: id.slice(-1), status: "online", runtime: "echo", ...extra });
const ev = (event: string, workspace_id: string | null, payload: Record<string, unknown> = {}, timestamp = "2026-12-06T10:00:00Z"): WireEvent => ({ event, workspace_id, timestamp, payload });
const start = (): LiveState => ({ ...emptyLive(), workspaces: { [A]: ws(A), [B]: ws(B, { parent_id: A }) } });
const run = (...events: WireEvent[]) => events.reduce(reduce, start());

/** Every event name in molecule/events/catalogue.py (NAME = "wire string" lines). */
function catalogue(): string[] {
  const text = readFileSync(resolve(__dirname, "../../../molecule/events/catalogue.py"), "utf8");
  return [...text.matchAll(/^[A-Z0-9_]+ = "([^"]+)"$/gm)].map((m) => m[1]!);
}

describe("the event reducer", () => {
  it("handles every event of the platform's catalogue", () => {
    const names = catalogue();
    expect(names.length).toBeGreaterThan(25);
    expect([...HANDLED_EVENTS].sort()).toEqual([...names].sort());
  });

  it.each([
    ["WORKSPACE_PROVISIONING", {}, "provisioning"],
    ["WORKSPACE_ONLINE", {}, "online"],
    ["WORKSPACE_OFFLINE", {}, "offline"],
    ["WORKSPACE_DEGRADED", { sample_error: "boom" }, "degraded"],
    ["WORKSPACE_AWAITING_AGENT", {}, "awaiting_agent"],
    ["WORKSPACE_PROVISION_FAILED", { error: "no image" }, "failed"],
    ["WORKSPACE_PAUSED", {}, "paused"],
    ["WORKSPACE_HIBERNATED", {}, "hibernated"],
  ])("%s sets the status", (name, payload, status) => {
    const before = ev("WORKSPACE_PROVISIONING", A);
    const after = run(before, ev(name, A, payload));
    expect(after.workspaces[A]!.status).toBe(status);
    expect(after.workspaces[B]!.status).toBe("online");
  });

  it("keeps the errors and clears them when the workspace comes back", () => {
    let s = run(ev("WORKSPACE_DEGRADED", A, { sample_error: "boom" }));
    expect(s.workspaces[A]!.last_sample_error).toBe("boom");
    s = reduce(s, ev("WORKSPACE_PROVISION_FAILED", A, { error: "crash loop" }));
    expect(s.workspaces[A]!.last_sample_error).toBe("crash loop");
    s = reduce(s, ev("WORKSPACE_ONLINE", A, { url: "http://x", agent_card: { name: "n" } }));
    expect(s.workspaces[A]).toMatchObject({ status: "online", last_sample_error: null, url: "http://x", agent_card: { name: "n" } });
  });

  it("an external workspace's liveness loss says which status it is in", () => {
    expect(run(ev("WORKSPACE_OFFLINE", A, { status: "awaiting_agent" })).workspaces[A]!.status).toBe("awaiting_agent");
  });

  it("WORKSPACE_REMOVED takes the node off; an unknown id changes nothing", () => {
    const s = run(ev("WORKSPACE_REMOVED", B, {}));
    expect(Object.keys(s.workspaces)).toEqual([A]);
    const same = start();
    expect(reduce(same, ev("WORKSPACE_REMOVED", "nope"))).toBe(same);
  });

  it("a lifecycle event of a workspace the canvas does not know asks for a fresh list", () => {
    expect(run(ev("WORKSPACE_PROVISIONING", "new-one", { name: "x" })).stale).toBe(true);
    expect(run(ev("WORKSPACE_HEARTBEAT", "new-one", { active_tasks: 1 })).stale).toBe(false);
  });

  it("heartbeats and task updates fill the node", () => {
    const s = run(
      ev("WORKSPACE_HEARTBEAT", A, { active_tasks: 2, uptime_seconds: 30 }, "2026-12-06T10:00:05Z"),
      ev("TASK_UPDATED", A, { current_task: "writing", active_tasks: 1 }),
    );
    expect(s.workspaces[A]).toMatchObject({ active_tasks: 1, uptime_seconds: 30, current_task: "writing", last_heartbeat_at: "2026-12-06T10:00:05Z" });
    expect(reduce(s, ev("TASK_UPDATED", A, { current_task: "" })).workspaces[A]!.current_task).toBeNull();
  });

  it("a heartbeat that carries a changed last error shows it, and an empty one clears it", () => {
    const s = run(ev("WORKSPACE_HEARTBEAT", A, { active_tasks: 0, uptime_seconds: 5, sample_error: "timeout" }));
    expect(s.workspaces[A]!.last_sample_error).toBe("timeout");
    expect(reduce(s, ev("WORKSPACE_HEARTBEAT", A, { active_tasks: 0 })).workspaces[A]!.last_sample_error).toBe("timeout");
    expect(reduce(s, ev("WORKSPACE_HEARTBEAT", A, { sample_error: "" })).workspaces[A]!.last_sample_error).toBeNull();
  });

  it("AGENT_CARD_UPDATED replaces the card", () => {
    expect(run(ev("AGENT_CARD_UPDATED", A, { agent_card: { name: "v2" } })).workspaces[A]!.agent_card).toEqual({ name: "v2" });
  });

  it("expand and collapse ask for a fresh list", () => {
    expect(run(ev("WORKSPACE_EXPANDED", A, { children: [] })).stale).toBe(true);
    expect(run(ev("WORKSPACE_COLLAPSED", A, { removed_children: [] })).stale).toBe(true);
  });

  it("AGENT_MESSAGE appends to the chat, with its attachments as chips", () => {
    const s = run(
      ev("AGENT_MESSAGE", A, { message: "done", attachments: [{ uri: "workspace:/workspace/r.txt", name: "r.txt", mimeType: "text/plain", size: 3 }] }),
      ev("AGENT_MESSAGE", A, { message: "again" }),
    );
    expect(s.chats[A]!.map((m) => [m.role, m.text])).toEqual([["agent", "done"], ["agent", "again"]]);
    expect(s.chats[A]![0]!.files).toEqual([{ uri: "workspace:/workspace/r.txt", name: "r.txt", mimeType: "text/plain", size: 3 }]);
    expect(new Set(s.chats[A]!.map((m) => m.id)).size).toBe(2);
  });

  it("A2A_RESPONSE and a2a activity light up the traffic overlay", () => {
    const s = run(ev("A2A_RESPONSE", A, { method: "message/send" }));
    expect(s.traffic[A]).toBe(Date.parse("2026-12-06T10:00:00Z"));
    const t = run(ev("ACTIVITY_LOGGED", A, { activity_type: "a2a_send", source_id: A, target_id: B, summary: "hi", status: "ok" }));
    expect(Object.keys(t.traffic).sort()).toEqual([A, B].sort());
  });

  it("ACTIVITY_LOGGED feeds the activity tab, newest first and bounded; an empty payload is skipped", () => {
    let s = start();
    for (let i = 0; i < FEED_LIMIT + 5; i++) s = reduce(s, ev("ACTIVITY_LOGGED", A, { activity_type: "agent_log", summary: `n${i}` }));
    expect(s.feeds[A]!.length).toBe(FEED_LIMIT);
    expect(s.feeds[A]![0]!.summary).toBe(`n${FEED_LIMIT + 4}`);
    expect(reduce(s, ev("ACTIVITY_LOGGED", A, {}))).toBe(s);
  });

  it("a delegation flips queued → dispatched → completed, and a failure is kept", () => {
    let s = run(ev("DELEGATION_SENT", A, { delegation_id: "d1", target_id: B, task_preview: "do it" }));
    expect(s.delegations[A]!.d1).toMatchObject({ status: "queued", targetId: B, preview: "do it" });
    s = reduce(s, ev("DELEGATION_STATUS", A, { delegation_id: "d1", target_id: B, status: "dispatched" }));
    expect(s.delegations[A]!.d1!.status).toBe("dispatched");
    s = reduce(s, ev("DELEGATION_COMPLETE", A, { delegation_id: "d1", response_preview: "did it" }));
    expect(s.delegations[A]!.d1).toMatchObject({ status: "completed", targetId: B, preview: "did it" });
    s = reduce(s, ev("DELEGATION_FAILED", A, { delegation_id: "d2", target_id: B, error: "busy" }));
    expect(s.delegations[A]!.d2).toMatchObject({ status: "failed", preview: "busy" });
    expect(reduce(s, ev("DELEGATION_SENT", A, {}))).toBe(s);
  });

  it("approvals: requested and escalated are pending until approved or denied", () => {
    let s = run(
      ev("APPROVAL_REQUESTED", B, { approval_id: "p1", action: "deploy", reason: "prod" }),
      ev("APPROVAL_ESCALATED", A, { approval_id: "p1", from_workspace_id: B, action: "deploy", reason: "prod" }),
    );
    expect(s.approvals.p1).toMatchObject({ workspaceId: B, action: "deploy", escalatedTo: A });
    s = reduce(s, ev("APPROVAL_APPROVED", B, { approval_id: "p1", decision: "approved" }));
    expect(s.approvals).toEqual({});
    s = reduce(s, ev("APPROVAL_REQUESTED", B, { approval_id: "p2", action: "x", reason: "y" }));
    expect(Object.keys(reduce(s, ev("APPROVAL_DENIED", B, { approval_id: "p2" })).approvals)).toEqual([]);
  });

  it("notices: rotated credentials, cron runs and skips, org imports", () => {
    const s = run(
      ev("EXTERNAL_CREDENTIALS_ROTATED", A, { workspace_id: A }),
      ev("CRON_EXECUTED", A, { schedule_name: "standup", status: "ok" }),
      ev("CRON_SKIPPED", A, { schedule_name: "standup", reason: "busy" }),
      ev("org.import.started", null, { name: "echo team" }),
    );
    expect(s.importing).toBe(true);
    expect(s.notices.map((n) => n.text)).toEqual([
      "Importing echo team…",
      'Schedule "standup" skipped on a: busy',
      'Schedule "standup" ran on a: ok',
      "New connection credentials for a",
    ]);
    const done = reduce(s, ev("org.import.completed", null, { name: "echo team", created_count: 3, create_error: "" }));
    expect(done).toMatchObject({ importing: false, stale: true });
    expect(done.notices[0]!.text).toBe("Imported echo team (3 created)");
    const failed = reduce(s, ev("org.import.completed", null, { name: "t", create_error: "x: no" }));
    expect(failed.notices[0]!.text).toBe("Import of t failed: x: no");
  });

  it("an unknown event changes nothing", () => {
    const s = start();
    expect(reduce(s, ev("SOMETHING_NEW", A, { x: 1 }))).toBe(s);
  });
});
