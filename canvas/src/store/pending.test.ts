import { describe, expect, it } from "vitest";
import { type Approval, type LiveState, emptyLive, reduce } from "./live";
import { mergePending, pendingCount, pendingLabel } from "./pending";

const a = (id: string, workspaceId: string, extra: Partial<Approval> = {}): Approval => ({ id, workspaceId, action: "deploy", reason: "", ...extra });
const ev = (event: string, workspace_id: string, payload: Record<string, unknown>) => ({ event, workspace_id, timestamp: "2026-01-01T00:00:00Z", payload });

describe("the pending-approvals count", () => {
  it("counts each workspace's own undecided requests, live", () => {
    let state: LiveState = emptyLive();
    expect(pendingCount(state.approvals, "w1")).toBe(0);
    state = reduce(state, ev("APPROVAL_REQUESTED", "w1", { approval_id: "p1", action: "deploy" }));
    state = reduce(state, ev("APPROVAL_REQUESTED", "w1", { approval_id: "p2", action: "spend" }));
    state = reduce(state, ev("APPROVAL_REQUESTED", "w2", { approval_id: "p3", action: "spend" }));
    // Escalated to the parent: still the asking workspace's request, counted once.
    state = reduce(state, ev("APPROVAL_ESCALATED", "parent", { approval_id: "p3", from_workspace_id: "w2", action: "spend" }));
    expect([pendingCount(state.approvals, "w1"), pendingCount(state.approvals, "w2"), pendingCount(state.approvals, "parent")]).toEqual([2, 1, 0]);
    state = reduce(state, ev("APPROVAL_APPROVED", "w1", { approval_id: "p1" }));
    expect(pendingCount(state.approvals, "w1")).toBe(1);
    state = reduce(state, ev("APPROVAL_DENIED", "w1", { approval_id: "p2" }));
    expect(pendingCount(state.approvals, "w1")).toBe(0);
  });

  it("is computed once per approvals object: a new object is counted afresh", () => {
    const first = { p1: a("p1", "w") };
    expect(pendingCount(first, "w")).toBe(1);
    const second = { ...first, p2: a("p2", "w") };
    expect(pendingCount(second, "w")).toBe(2);
    expect(pendingCount(first, "w")).toBe(1);
  });

  it("reads as words", () => {
    expect(pendingLabel(1)).toBe("1 pending approval");
    expect(pendingLabel(2)).toBe("2 pending approvals");
  });
});

describe("the pending list fetched at a (re)connect", () => {
  it("seeds an empty store (a reload: the counts are right before any event)", () => {
    const fetched = { p1: a("p1", "w"), p2: a("p2", "w") };
    const merged = mergePending({}, {}, fetched);
    expect(merged).toEqual(fetched);
    expect(pendingCount(merged, "w")).toBe(2);
  });

  it("wins over what the store held: what was decided while disconnected goes", () => {
    const held = { p1: a("p1", "w"), old: a("old", "w") };
    expect(Object.keys(mergePending(held, held, { p1: a("p1", "w") }))).toEqual(["p1"]);
  });

  it("keeps what events changed while it was on its way", () => {
    const before = { p1: a("p1", "w"), p2: a("p2", "w") };
    // p1 decided and p3 requested after the list was asked for; the list still has p1, not p3.
    const now = { p2: a("p2", "w", { escalatedTo: "parent" }), p3: a("p3", "w") };
    const merged = mergePending(before, now, { p1: a("p1", "w"), p2: a("p2", "w") });
    expect(Object.keys(merged).sort()).toEqual(["p2", "p3"]);
    expect(merged.p2!.escalatedTo).toBe("parent");
  });

  it("a list cut at the platform's limit only adds", () => {
    const held = { p1: a("p1", "w") };
    expect(Object.keys(mergePending(held, held, { p2: a("p2", "w") }, false)).sort()).toEqual(["p1", "p2"]);
  });
});
