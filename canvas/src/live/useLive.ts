// Keeps the store in step with the platform: the first load, `/ws` events, a fresh load after
// each reconnect (events may have been missed) and whenever the reducer marks the list stale.
import { useEffect, useRef } from "react";
import { onUnauthorized } from "../api/client";
import { pendingApprovals } from "../api/memories";
import { listWorkspaces } from "../api/workspaces";
import { useOrg } from "../store/org";
import { PENDING_LIMIT, mergePending } from "../store/pending";
import { approvalsFrom } from "../settings/watch";
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

/** The pending approvals as the platform has them (the Approvals badges count them from the
 * first load on, not only once the Approvals tab was opened); APPROVAL_* events keep them. */
export async function reloadApprovals(): Promise<void> {
  const before = useOrg.getState().approvals;
  try {
    const rows = await pendingApprovals();
    const fetched = approvalsFrom(rows);
    useOrg.setState((s) => ({ approvals: mergePending(before, s.approvals, fetched, rows.length < PENDING_LIMIT) }));
  } catch {
    // The counts stay as the events left them; the Approvals tab shows the error when opened.
  }
}

export function useLive(): void {
  const stale = useOrg((s) => s.stale);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    // Signed out (the session expired, the admin token changed): load the page again, which
    // is now the sign-in page, at the same URL, so a deep link's hash survives signing in.
    const off = onUnauthorized(() => window.location.reload());
    const { applyEvents, setConnection } = useOrg.getState();
    const events = coalesce(applyEvents);
    socket = new LiveSocket(socketUrl(window.location), {
      onEvents: events.push,
      onState: setConnection,
      onOpen: () => {
        events.flush();
        void reload();
        void reloadApprovals();
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
