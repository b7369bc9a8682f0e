// The canvas's one store (zustand): the live state (store/live.ts) plus what the page itself
// tracks: the selection, the connection, load errors.
import { create } from "zustand";
import type { Workspace, WireEvent } from "../api/types";
import type { ChatMessage } from "../chat/messages";
import type { ConnectionState } from "../live/socket";
import { type LiveState, emptyLive, reduce } from "./live";

export type PanelTab =
  | "details"
  | "chat"
  | "activity"
  | "comms"
  | "config"
  | "secrets"
  | "schedules"
  | "memories"
  | "tokens"
  | "approvals";

export interface OrgStore extends LiveState {
  loaded: boolean;
  loadError: string | null;
  connection: ConnectionState;
  retryInMs: number | null;
  selectedId: string | null;
  tab: PanelTab;
  setWorkspaces(rows: Workspace[]): void;
  upsert(row: Workspace): void;
  setLoadError(message: string | null): void;
  applyEvents(events: readonly WireEvent[]): void;
  setConnection(state: ConnectionState, retryInMs?: number): void;
  select(id: string | null, tab?: PanelTab): void;
  setTab(tab: PanelTab): void;
  moveLocal(id: string, x: number, y: number): void;
  setChat(id: string, messages: ChatMessage[]): void;
  addChat(id: string, message: ChatMessage): void;
  updateChat(id: string, messageId: string, change: Partial<ChatMessage>): void;
}

export const useOrg = create<OrgStore>()((set) => ({
  ...emptyLive(),
  loaded: false,
  loadError: null,
  connection: "connecting",
  retryInMs: null,
  selectedId: null,
  tab: "details",
  setWorkspaces: (rows) =>
    set((s) => {
      const workspaces = Object.fromEntries(rows.map((row) => [row.id, row]));
      const selectedId = s.selectedId && workspaces[s.selectedId] ? s.selectedId : null;
      return { workspaces, loaded: true, loadError: null, stale: false, selectedId };
    }),
  upsert: (row) => set((s) => ({ workspaces: { ...s.workspaces, [row.id]: row } })),
  setLoadError: (loadError) => set({ loadError }),
  applyEvents: (events) =>
    set((s) => {
      let next: LiveState = s;
      for (const event of events) next = reduce(next, event);
      if (next === s) return s; // the same object: no listener runs
      const selectedId = s.selectedId && next.workspaces[s.selectedId] ? s.selectedId : null;
      return { ...next, selectedId };
    }),
  setConnection: (connection, retryInMs) => set({ connection, retryInMs: retryInMs ?? null }),
  select: (selectedId, tab) => set((s) => ({ selectedId, tab: tab ?? s.tab })),
  setTab: (tab) => set({ tab }),
  moveLocal: (id, x, y) =>
    set((s) => {
      const row = s.workspaces[id];
      return row ? { workspaces: { ...s.workspaces, [id]: { ...row, x, y } } } : {};
    }),
  setChat: (id, messages) => set((s) => ({ chats: { ...s.chats, [id]: messages } })),
  addChat: (id, message) =>
    set((s) => ({ chats: { ...s.chats, [id]: [...(s.chats[id] ?? []), message] } })),
  updateChat: (id, messageId, change) =>
    set((s) => ({
      chats: {
        ...s.chats,
        [id]: (s.chats[id] ?? []).map((m) => (m.id === messageId ? { ...m, ...change } : m)),
      },
    })),
}));
