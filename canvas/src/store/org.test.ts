import { beforeEach, describe, expect, it } from "vitest";
import type { Workspace } from "../api/types";
import { emptyLive } from "./live";
import { useOrg } from "./org";

const row = (id: string, extra: Partial<Workspace> = {}): Workspace => ({ id, name: id, status: "online", ...extra });

describe("the store", () => {
  beforeEach(() => useOrg.setState({ ...emptyLive(), loaded: false, selectedId: null, tab: "details" }));

  it("loads rows, keeps a selection that still exists and drops one that does not", () => {
    const s = useOrg.getState();
    s.setWorkspaces([row("a"), row("b")]);
    s.select("b", "chat");
    expect(useOrg.getState()).toMatchObject({ loaded: true, selectedId: "b", tab: "chat" });
    s.setWorkspaces([row("a")]);
    expect(useOrg.getState().selectedId).toBeNull();
  });

  it("applies a batch of events in order and deselects a removed workspace", () => {
    const s = useOrg.getState();
    s.setWorkspaces([row("a"), row("b")]);
    s.select("a");
    s.applyEvents([
      { event: "WORKSPACE_PROVISIONING", workspace_id: "b", timestamp: "t", payload: {} },
      { event: "WORKSPACE_ONLINE", workspace_id: "b", timestamp: "t", payload: {} },
      { event: "WORKSPACE_REMOVED", workspace_id: "a", timestamp: "t", payload: {} },
    ]);
    const after = useOrg.getState();
    expect(after.workspaces.b!.status).toBe("online");
    expect(after.workspaces.a).toBeUndefined();
    expect(after.selectedId).toBeNull();
  });

  it("a batch that changes nothing leaves the state object alone", () => {
    useOrg.getState().setWorkspaces([row("a")]);
    const before = useOrg.getState();
    before.applyEvents([{ event: "UNKNOWN", workspace_id: "a", timestamp: "t", payload: {} }]);
    expect(useOrg.getState()).toBe(before);
  });

  it("moves a node locally and edits chat messages", () => {
    const s = useOrg.getState();
    s.setWorkspaces([row("a")]);
    s.moveLocal("a", 10, 20);
    expect(useOrg.getState().workspaces.a).toMatchObject({ x: 10, y: 20 });
    s.addChat("a", { id: "m1", role: "user", text: "hi", files: [], at: "t", pending: true });
    s.updateChat("a", "m1", { pending: false });
    expect(useOrg.getState().chats.a).toEqual([{ id: "m1", role: "user", text: "hi", files: [], at: "t", pending: false }]);
  });
});
