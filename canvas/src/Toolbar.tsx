// The top bar: new workspace, search, fit, and the live connection's state.
import { useReactFlow } from "@xyflow/react";
import { FIT_VIEW } from "./chart/OrgChart";
import { retryConnection } from "./live/useLive";
import { useOrg } from "./store/org";
import { useUi } from "./store/ui";

async function signOut(): Promise<void> {
  await fetch("/session", { method: "DELETE", credentials: "same-origin" }).catch(() => undefined);
  window.location.assign("/");
}

function ConnectionBadge() {
  const state = useOrg((s) => s.connection);
  const retryIn = useOrg((s) => s.retryInMs);
  const label =
    state === "open" ? "Live" : state === "connecting" ? "Connecting…" : `Offline, retrying in ${Math.ceil((retryIn ?? 0) / 1000)} s`;
  return (
    <div className={`connection ${state}`} role="status" aria-live="polite" data-testid="connection">
      <span className="dot" aria-hidden="true" />
      {label}
      {state === "retrying" && (
        <button type="button" className="link" onClick={retryConnection}>
          Retry now
        </button>
      )}
    </div>
  );
}

export function Toolbar() {
  const flow = useReactFlow();
  const count = useOrg((s) => Object.keys(s.workspaces).length);
  const mac = typeof navigator !== "undefined" && /Mac/.test(navigator.platform);
  return (
    <header className="toolbar">
      <h1>Molecule</h1>
      <span className="muted">{count} workspace{count === 1 ? "" : "s"}</span>
      <button type="button" className="primary" onClick={() => useUi.getState().open({ kind: "create", parentId: null })}>
        New workspace
      </button>
      <button type="button" onClick={() => useUi.getState().open({ kind: "import" })}>
        Import org
      </button>
      <button type="button" onClick={() => useUi.getState().open({ kind: "search" })} aria-keyshortcuts={mac ? "Meta+K" : "Control+K"}>
        Search <kbd>{mac ? "⌘K" : "Ctrl K"}</kbd>
      </button>
      <button type="button" onClick={() => flow.fitView({ ...FIT_VIEW, duration: 300 })}>
        Fit
      </button>
      <span className="spacer" />
      <ConnectionBadge />
      <button type="button" onClick={signOut}>
        Sign out
      </button>
    </header>
  );
}
