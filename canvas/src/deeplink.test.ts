import { beforeEach, describe, expect, it } from "vitest";
import type { Workspace } from "./api/types";
import { type LinkWindow, bindDeepLink, formatDeepLink, parseDeepLink } from "./deeplink";
import { emptyLive } from "./store/live";
import { useOrg } from "./store/org";

const ID = "0b5e6a52-7c1d-4f1e-9a43-5f2d2c1e8a10";

describe("parsing and formatting a deep link", () => {
  it("reads a workspace and its tab", () => {
    expect(parseDeepLink(`#/workspaces/${ID}/schedules`)).toEqual({ id: ID, tab: "schedules" });
    expect(parseDeepLink(`#/workspaces/${ID}`)).toEqual({ id: ID, tab: null });
    expect(parseDeepLink(`#workspaces/${ID}/chat/`)).toEqual({ id: ID, tab: "chat" });
  });

  it("ignores an unknown tab and anything that is not a link", () => {
    expect(parseDeepLink(`#/workspaces/${ID}/nope`)).toEqual({ id: ID, tab: null });
    expect(parseDeepLink(`#/workspaces/${ID}/constructor`)).toEqual({ id: ID, tab: null });
    for (const hash of ["", "#", "#/", "#/workspaces", "#/workspaces/", "#/teams/x/chat", `#/workspaces/${ID}/chat/extra`, "#/workspaces/%E0%A4%A/chat", "#/workspaces/a%2Fb/chat", `#/workspaces/${"x".repeat(101)}`]) {
      expect(parseDeepLink(hash), hash).toBeNull();
    }
  });

  it("formats what it parses, and nothing for no selection", () => {
    expect(formatDeepLink(ID, "approvals")).toBe(`#/workspaces/${ID}/approvals`);
    expect(parseDeepLink(formatDeepLink(ID, "tokens"))).toEqual({ id: ID, tab: "tokens" });
    expect(formatDeepLink(null, "chat")).toBe("");
  });
});

/** A window whose URL is `/` plus a hash; replaceState records what it was given. */
function fakeWindow(hash: string) {
  const listeners = new Set<() => void>();
  const urls: string[] = [];
  const win: LinkWindow & { urls: string[]; navigate(hash: string): void } = {
    urls,
    location: { hash, pathname: "/", search: "" },
    history: {
      state: null,
      replaceState: (_state, _unused, url) => {
        urls.push(url);
        win.location.hash = url.startsWith("#") ? url : "";
      },
    },
    addEventListener: (_type, listener) => listeners.add(listener),
    removeEventListener: (_type, listener) => listeners.delete(listener),
    navigate: (next) => {
      win.location.hash = next;
      listeners.forEach((l) => l());
    },
  };
  return win;
}

const row = (id: string): Workspace => ({ id, name: id, status: "online" });

describe("the URL and the selection", () => {
  beforeEach(() => useOrg.setState({ ...emptyLive(), loaded: false, selectedId: null, tab: "details" }));

  it("a link opened selects its workspace and tab once the org has loaded", () => {
    const win = fakeWindow(`#/workspaces/${ID}/schedules`);
    const unbind = bindDeepLink(win);
    useOrg.getState().setConnection("open"); // not loaded yet: the link waits, the URL stays
    expect(useOrg.getState().selectedId).toBeNull();
    expect(win.urls).toEqual([]);
    useOrg.getState().setWorkspaces([row("other"), row(ID)]);
    expect(useOrg.getState()).toMatchObject({ selectedId: ID, tab: "schedules" });
    expect(win.location.hash).toBe(`#/workspaces/${ID}/schedules`);
    unbind();
  });

  it("a link without a tab opens the details", () => {
    useOrg.setState({ tab: "chat" });
    const win = fakeWindow(`#/workspaces/${ID}`);
    const unbind = bindDeepLink(win);
    useOrg.getState().setWorkspaces([row(ID)]);
    expect(useOrg.getState()).toMatchObject({ selectedId: ID, tab: "details" });
    expect(win.location.hash).toBe(`#/workspaces/${ID}/details`);
    unbind();
  });

  it("an unknown id is ignored: nothing selected, the hash cleared", () => {
    const win = fakeWindow("#/workspaces/not-in-this-org/chat");
    const unbind = bindDeepLink(win);
    useOrg.getState().setWorkspaces([row(ID)]);
    expect(useOrg.getState().selectedId).toBeNull();
    expect(win.urls).toEqual(["/"]);
    expect(win.location.hash).toBe("");
    unbind();
  });

  it("selecting a workspace or a tab replaces the URL; closing the panel clears it", () => {
    const win = fakeWindow("");
    const unbind = bindDeepLink(win);
    const s = useOrg.getState();
    s.setWorkspaces([row(ID), row("b")]);
    expect(win.urls).toEqual([]);
    s.select(ID);
    expect(win.location.hash).toBe(`#/workspaces/${ID}/details`);
    s.setTab("approvals");
    expect(win.location.hash).toBe(`#/workspaces/${ID}/approvals`);
    s.select("b");
    expect(win.location.hash).toBe("#/workspaces/b/approvals");
    s.applyEvents([{ event: "TASK_UPDATED", workspace_id: "b", timestamp: "t", payload: { current_task: "x" } }]);
    expect(win.urls).toHaveLength(3); // an event that leaves the selection alone writes nothing
    s.select(null);
    expect(win.urls.at(-1)).toBe("/");
    unbind();
    s.select(ID);
    expect(win.urls).toHaveLength(4); // unbound: the URL is left alone
  });

  it("a link pasted over the current one is followed; a hash that is not a link is put back", () => {
    const win = fakeWindow("");
    const unbind = bindDeepLink(win);
    useOrg.getState().setWorkspaces([row(ID), row("b")]);
    win.navigate("#/workspaces/b/memories");
    expect(useOrg.getState()).toMatchObject({ selectedId: "b", tab: "memories" });
    win.navigate("#/something-else");
    expect(win.location.hash).toBe("#/workspaces/b/memories");
    win.navigate("#/workspaces/gone/chat");
    expect(useOrg.getState().selectedId).toBe("b");
    expect(win.location.hash).toBe("#/workspaces/b/memories");
    unbind();
  });
});
