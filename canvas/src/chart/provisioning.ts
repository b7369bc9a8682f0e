// When a provisioning workspace is overdue: its template's `provision_timeout_ms` (the
// platform serves it on the workspace), else the platform's default for the runtime
// (molecule/provision/templates.py: DEFAULT_TIMEOUTS, DEFAULT_PROVISION_TIMEOUT).
import { useEffect, useRef, useState } from "react";
import type { Workspace } from "../api/types";

const MINUTE = 60_000;
export const DEFAULT_PROVISION_TIMEOUT_MS = 10 * MINUTE;
const DEFAULT_TIMEOUTS_MS: Record<string, number> = { hermes: 30 * MINUTE };

export function provisionTimeoutMs(w: Pick<Workspace, "runtime" | "provision_timeout_ms">): number {
  const declared = w.provision_timeout_ms;
  if (typeof declared === "number" && declared > 0) return declared;
  return DEFAULT_TIMEOUTS_MS[w.runtime ?? ""] ?? DEFAULT_PROVISION_TIMEOUT_MS;
}

/** Milliseconds until the workspace is overdue (<= 0: it is), or null when it is not provisioning. */
export function msUntilOverdue(
  w: Pick<Workspace, "status" | "runtime" | "provision_timeout_ms">,
  sinceMs: number,
  nowMs: number,
): number | null {
  if (w.status !== "provisioning" || !Number.isFinite(sinceMs)) return null;
  return sinceMs + provisionTimeoutMs(w) - nowMs;
}

/** When provisioning began, as the chart knows it: a change to `provisioning` seen live starts
 * now; one already under way when the chart loaded started at the row's last update. */
export function provisioningSince(
  w: Pick<Workspace, "updated_at" | "created_at">,
  seenChangeAtMs: number | null,
): number {
  if (seenChangeAtMs !== null) return seenChangeAtMs;
  const stamp = Date.parse(w.updated_at ?? w.created_at ?? "");
  return Number.isFinite(stamp) ? stamp : Date.now();
}

/** Whether the workspace is overdue now, re-checked when its time comes. */
export function useProvisioningOverdue(w: Workspace): boolean {
  const previous = useRef<string | null>(null);
  const changedAt = useRef<number | null>(null);
  if (previous.current !== null && previous.current !== w.status && w.status === "provisioning") {
    changedAt.current = Date.now();
  }
  previous.current = w.status;
  const since = provisioningSince(w, changedAt.current);
  const [now, setNow] = useState(() => Date.now());
  const left = msUntilOverdue(w, since, now);
  useEffect(() => {
    if (left === null || left <= 0) return;
    const timer = setTimeout(() => setNow(Date.now()), Math.min(left + 50, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [left]);
  return left !== null && left <= 0;
}
