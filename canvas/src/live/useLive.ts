// Keeps the store in step with the platform: the first load, `/ws` events, a fresh load after
// each reconnect (events may have been missed) and whenever the reducer marks the list stale.
import { useEffect, useRef } from "react";
import { onUnauthorized } from "../api/client";
import { listWorkspaces } from "../api/workspaces";
import { useOrg } from "../store/org";
import { coalesce } from "./coalesce";
import { LiveSocket, socketUrl } from "./socket";

let socket: LiveSocket | null = null;

export function retryConnection(): void {
  socket?.retryNow();
}

async function reload(): Promise<void> {
  const { setWorkspaces, setLoadError } = useOrg.getState();
  try {
    setWorkspaces(await listWorkspaces());
  } catch (error) {
    setLoadError(error instanceof Error ? error.message : String(error));
  }
}

export function useLive(): void {
  const stale = useOrg((s) => s.stale);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    const off = onUnauthorized(() => window.location.assign("/"));
    const { applyEvents, setConnection } = useOrg.getState();
    const events = coalesce(applyEvents);
    socket = new LiveSocket(socketUrl(window.location), {
      onEvents: events.push,
      onState: setConnection,
      onOpen: () => {
        events.flush();
        void reload();
      },
    });
    socket.start();
    return () => {
      events.flush();
      off();
      socket?.stop();
      socket = null;
    };
  }, []);

  useEffect(() => {
    if (!stale || timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void reload();
    }, 150);
  }, [stale]);
}
