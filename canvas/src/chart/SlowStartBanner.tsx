// The provisioning-timeout banner: the workspaces still provisioning past their template's
// `provision_timeout_ms` (else the runtime's default), each with Open, Restart and Dismiss.
// The clocks follow the store (slowStart.ts); one timer waits for the next deadline and exists
// only while some workspace is provisioning, so a 500-node chart pays nothing for it.
import { useEffect, useState } from "react";
import { create } from "zustand";
import { useShallow } from "zustand/react/shallow";
import { runLifecycle } from "../actions";
import type { Workspace } from "../api/types";
import { useOrg } from "../store/org";
import { useShowWorkspace } from "./showWorkspace";
import { type Clocks, NO_CLOCKS, formatTimeout, slowStarts, trackProvisioning } from "./slowStart";

interface SlowStartState {
  clocks: Clocks;
  dismissed: Record<string, number>; // workspace id -> the clock (since) the person silenced
}

const useSlowStart = create<SlowStartState>()(() => ({ clocks: NO_CLOCKS, dismissed: {} }));

function sync(workspaces: Readonly<Record<string, Workspace>>): void {
  useSlowStart.setState((s) => {
    const clocks = trackProvisioning(s.clocks, workspaces, Date.now());
    if (clocks === s.clocks) return s;
    const dismissed = Object.fromEntries(Object.entries(s.dismissed).filter(([id, at]) => clocks.since[id] === at));
    return { clocks, dismissed };
  });
}

function dismiss(id: string, since: number): void {
  useSlowStart.setState((s) => ({ dismissed: { ...s.dismissed, [id]: since } }));
}

/** Follows every change of the store's workspaces (not only the renders of this component). */
function useClocks(): Clocks {
  useEffect(() => {
    sync(useOrg.getState().workspaces);
    return useOrg.subscribe((state, prev) => {
      if (state.workspaces !== prev.workspaces) sync(state.workspaces);
    });
  }, []);
  return useSlowStart((s) => s.clocks);
}

const clock = (at: number) => new Date(at).toLocaleTimeString();

export function SlowStartBanner() {
  const { since } = useClocks();
  const dismissed = useSlowStart((s) => s.dismissed);
  const rows = useOrg(useShallow((s) => Object.keys(since).map((id) => s.workspaces[id])));
  const [tick, setTick] = useState(0);
  const open = useShowWorkspace();
  const byId = Object.fromEntries(rows.filter((w) => w !== undefined).map((w) => [w.id, w]));
  const { overdue, nextAt } = slowStarts(byId, since, dismissed, Date.now());

  useEffect(() => {
    if (nextAt === null) return;
    const timer = setTimeout(() => setTick((n) => n + 1), Math.min(Math.max(nextAt - Date.now(), 0) + 50, 2 ** 31 - 1));
    return () => clearTimeout(timer);
    // `tick` too: a timer that fired early (the wall clock stepped back) leaves the same
    // deadline, and must be set again.
  }, [nextAt, tick]);

  const summary =
    overdue.length === 0
      ? ""
      : overdue.length === 1
        ? `${overdue[0]!.name} is slow to start`
        : `${overdue.length} workspaces are slow to start`;
  return (
    <div className={overdue.length ? "banner slow-start" : "slow-start-idle"} data-testid="slow-start-banner">
      <p role="status" className="slow-start-summary">
        {summary && <>⚠ {summary}</>}
      </p>
      {overdue.length > 0 && (
        <ul aria-label="Workspaces slow to start">
          {overdue.map((s) => (
            <li key={s.id}>
              <span className="slow-start-what">
                <strong>{s.name}</strong> has been provisioning since <time dateTime={new Date(s.since).toISOString()}>{clock(s.since)}</time>,
                past its {formatTimeout(s.timeoutMs)} timeout.
              </span>
              <button type="button" aria-label={`Open ${s.name}`} onClick={() => open(s.id)}>
                Open
              </button>
              <button type="button" aria-label={`Restart ${s.name}`} onClick={() => void runLifecycle(s.id, "restart")}>
                Restart
              </button>
              <button
                type="button"
                className="icon"
                aria-label={`Dismiss the warning about ${s.name}`}
                title="Dismiss"
                onClick={() => dismiss(s.id, s.since)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
