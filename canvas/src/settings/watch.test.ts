import { describe, expect, it } from "vitest";
import type { DelegationRow } from "../api/memories";
import { type LiveState, emptyLive, reduce } from "../store/live";
import { approvalsFrom, delegationsByPeer, matchesFilter, rowStatus, sortApprovals } from "./watch";

const ev = (event: string, workspace_id: string, payload: Record<string, unknown>, timestamp = "2026-01-01T00:00:05Z") => ({
  event,
  workspace_id,
  timestamp,
  payload,
});

describe("approvals", () => {
  it("the fetched pending rows seed the store; APPROVAL_* events add and remove them live", () => {
    let state: LiveState = {
      ...emptyLive(),
      approvals: approvalsFrom([
        { id: "p1", workspace_id: "w", workspace_name: "W", action: "deploy", reason: null, status: "pending", created_at: "t" },
      ]),
    };
    expect(state.approvals.p1).toEqual({ id: "p1", workspaceId: "w", action: "deploy", reason: "" });
    state = reduce(state, ev("APPROVAL_REQUESTED", "w", { approval_id: "p2", action: "spend", reason: "why" }));
    expect(sortApprovals(state.approvals, ["p1"]).map((a) => a.id)).toEqual(["p1", "p2"]);
    state = reduce(state, ev("APPROVAL_APPROVED", "w", { approval_id: "p1" }));
    state = reduce(state, ev("APPROVAL_DENIED", "w", { approval_id: "p2" }));
    expect(state.approvals).toEqual({});
  });
});

describe("activity filters", () => {
  it("match by type and by source the way the platform does", () => {
    const canvas = { type: "a2a_receive", sourceId: null };
    const agent = { type: "a2a_send", sourceId: "w2" };
    expect(matchesFilter(canvas, { type: "", source: "" })).toBe(true);
    expect(matchesFilter(canvas, { type: "a2a_send", source: "" })).toBe(false);
    expect(matchesFilter(agent, { type: "a2a_send", source: "" })).toBe(true);
    expect(matchesFilter(canvas, { type: "", source: "canvas" })).toBe(true);
    expect(matchesFilter(agent, { type: "", source: "canvas" })).toBe(false);
    expect(matchesFilter(agent, { type: "", source: "agent" })).toBe(true);
    expect(matchesFilter(canvas, { type: "", source: "agent" })).toBe(false);
  });
});

describe("agent comms", () => {
  const row = (extra: Partial<DelegationRow>): DelegationRow => ({
    id: "r",
    type: "delegate",
    source_id: "me",
    target_id: "peer",
    summary: "Delegating to peer",
    status: "pending",
    created_at: "2026-01-01T00:00:01Z",
    ...extra,
  });

  it("names row statuses as the live events do", () => {
    expect(rowStatus({ type: "delegate_result", status: "ok" })).toBe("completed");
    expect(rowStatus({ type: "delegate_result", status: "error" })).toBe("failed");
    expect(rowStatus({ type: "delegate", status: "queued" })).toBe("queued");
    expect(rowStatus({ type: "delegate", status: null })).toBe("queued");
  });

  it("folds the rows per delegation, groups by peer, and a live event flips the status", () => {
    const rows = [
      row({ id: "r1", delegation_id: "d1", status: "pending" }),
      row({ id: "r2", delegation_id: "d1", type: "delegate_result", status: "queued", created_at: "2026-01-01T00:00:02Z" }),
      row({ id: "r3", delegation_id: "d2", target_id: "other", created_at: "2026-01-01T00:00:03Z" }),
    ];
    let groups = delegationsByPeer(rows, undefined);
    expect(groups.map((g) => g.peerId)).toEqual(["other", "peer"]);
    expect(groups[1]!.delegations).toMatchObject([{ id: "d1", status: "queued" }]);

    let state = emptyLive();
    state = reduce(state, ev("DELEGATION_COMPLETE", "me", { delegation_id: "d1", target_id: "peer", response_preview: "done" }));
    groups = delegationsByPeer(rows, state.delegations.me);
    expect(groups[0]).toMatchObject({ peerId: "peer", delegations: [{ id: "d1", status: "completed", preview: "done" }] });
  });

  it("a completed delegation does not go back to queued when an older row comes later", () => {
    const rows = [
      row({ id: "r2", delegation_id: "d1", type: "delegate_result", status: "ok", created_at: "2026-01-01T00:00:02Z" }),
      row({ id: "r3", delegation_id: "d1", type: "delegate", status: "queued", created_at: "2026-01-01T00:00:02Z" }),
    ];
    expect(delegationsByPeer(rows, undefined)[0]!.delegations[0]!.status).toBe("completed");
  });
});
