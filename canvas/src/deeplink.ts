// Deep links: the selected workspace and panel tab live in the URL's hash,
// `/#/workspaces/<id>/<tab>`. A hash, because the platform serves the page only at `/` (there
// is no catch-all route, so no API path can be shadowed) and the hash never reaches the server.
//
// Opening a link selects the workspace once the org has loaded; an id the org does not hold is
// ignored (the hash is cleared). The login URL `/?token=...#/workspaces/...` keeps the hash: its
// redirect to `/` carries no fragment, so the browser keeps the original one (RFC 9110
// §10.2.2). So does the sign-in form: it posts back to the page's own URL, fragment included,
// and the platform's 303 to `/` inherits it (molecule/http/session.py).
import { useEffect } from "react";
import { type PanelTab, useOrg } from "./store/org";

export interface DeepLink {
  id: string;
  tab: PanelTab | null; // null: the link names no tab (or one this canvas does not have)
}

// Every tab, checked against PanelTab by the compiler (a new tab must be added here).
const TABS: Record<PanelTab, true> = {
  details: true,
  chat: true,
  activity: true,
  comms: true,
  config: true,
  secrets: true,
  schedules: true,
  memories: true,
  tokens: true,
  approvals: true,
};

const isTab = (value: string): value is PanelTab => Object.prototype.hasOwnProperty.call(TABS, value);
const ID = /^[A-Za-z0-9_-]{1,100}$/;

/** The link in a location's hash (`#/workspaces/<id>[/<tab>]`, the leading "/" optional), or
 * null for anything else. */
export function parseDeepLink(hash: string): DeepLink | null {
  const path = hash.replace(/^#/, "").replace(/^\//, "").replace(/\/+$/, "");
  const parts = path.split("/");
  if (parts.length < 2 || parts.length > 3 || parts[0] !== "workspaces") return null;
  let id: string;
  try {
    id = decodeURIComponent(parts[1]!);
  } catch {
    return null; // a malformed %-escape
  }
  if (!ID.test(id)) return null;
  const tab = parts[2] ?? "";
  return { id, tab: isTab(tab) ? tab : null };
}

/** The hash for a selection ("" when nothing is selected). */
export function formatDeepLink(id: string | null, tab: PanelTab): string {
  return id ? `#/workspaces/${encodeURIComponent(id)}/${tab}` : "";
}

/** What of `window` the binding uses (tests pass their own). */
export interface LinkWindow {
  location: { hash: string; pathname: string; search: string };
  history: { state: unknown; replaceState(state: unknown, unused: string, url: string): void };
  addEventListener(type: "hashchange", listener: () => void): void;
  removeEventListener(type: "hashchange", listener: () => void): void;
}

/**
 * Keeps the URL and the store's selection in step; returns the unbinding.
 *
 * The URL is replaced, never pushed (history.replaceState): choosing a node or a tab is a
 * click or an arrow key, not a page, and a history entry per click would make Back replay
 * every click before it left the canvas. Back leaves the canvas, and the address bar always
 * holds a link to what is on screen. A link typed or pasted over the current one (the hash
 * changes, the page stays) is followed.
 */
export function bindDeepLink(win: LinkWindow): () => void {
  let pending = parseDeepLink(win.location.hash);

  const write = () => {
    const { selectedId, tab } = useOrg.getState();
    const hash = formatDeepLink(selectedId, tab);
    if (hash === win.location.hash || (!hash && !win.location.hash)) return;
    win.history.replaceState(win.history.state, "", hash || win.location.pathname + win.location.search);
  };

  /** Follows the pending link once the org is there; true when there was one to follow. */
  const follow = (): boolean => {
    const state = useOrg.getState();
    if (!pending || !state.loaded) return false;
    const link = pending;
    pending = null;
    if (state.workspaces[link.id]) state.select(link.id, link.tab ?? "details");
    write(); // an unknown id: the hash goes, the page stays as it is
    return true;
  };

  const unsubscribe = useOrg.subscribe((state, previous) => {
    if (pending) {
      follow(); // until the org has loaded, the link waits and the URL is left alone
      return;
    }
    if (state.selectedId !== previous.selectedId || state.tab !== previous.tab) write();
  });
  const onHashChange = () => {
    pending = parseDeepLink(win.location.hash);
    if (pending) follow(); // now, or once the org has loaded
    else write(); // not a link: the address bar shows the selection again
  };
  win.addEventListener("hashchange", onHashChange);
  follow();
  return () => {
    unsubscribe();
    win.removeEventListener("hashchange", onHashChange);
  };
}

/** The page's binding (App). */
export function useDeepLink(): void {
  useEffect(() => bindDeepLink(window), []);
}
