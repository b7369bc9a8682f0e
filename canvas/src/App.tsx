// The page: toolbar, chart, side panel, and whichever dialog or menu is open.
import { ReactFlowProvider } from "@xyflow/react";
import { useEffect } from "react";
import { ContextMenu } from "./chart/ContextMenu";
import { useDeepLink } from "./deeplink";
import { OrgChart } from "./chart/OrgChart";
import { SlowStartBanner } from "./chart/SlowStartBanner";
import { CreateDialog } from "./dialogs/CreateDialog";
import { DeleteDialog } from "./dialogs/DeleteDialog";
import { ImportDialog } from "./dialogs/ImportDialog";
import { SearchDialog } from "./dialogs/SearchDialog";
import { useLive } from "./live/useLive";
import { SidePanel } from "./panel/SidePanel";
import { useOrg } from "./store/org";
import { useUi } from "./store/ui";
import { Toast } from "./Toast";
import { Toolbar } from "./Toolbar";

function useShortcuts(): void {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
        event.preventDefault();
        useUi.getState().open({ kind: "search" });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

function Dialogs() {
  const dialog = useUi((s) => s.dialog);
  if (!dialog) return null;
  if (dialog.kind === "create") return <CreateDialog parentId={dialog.parentId} />;
  if (dialog.kind === "delete") return <DeleteDialog id={dialog.id} />;
  if (dialog.kind === "import") return <ImportDialog />;
  return <SearchDialog />;
}

function Body() {
  const loaded = useOrg((s) => s.loaded);
  const loadError = useOrg((s) => s.loadError);
  const empty = useOrg((s) => Object.keys(s.workspaces).length === 0);
  return (
    <main className="chart" aria-label="Org chart">
      {loadError && (
        <p role="alert" className="banner error">
          The workspaces could not be loaded: {loadError}
        </p>
      )}
      <SlowStartBanner />
      {!loaded && !loadError && <p className="center muted">Loading…</p>}
      {loaded && empty && (
        <div className="center">
          <p>No workspaces yet.</p>
          <button type="button" className="primary" onClick={() => useUi.getState().open({ kind: "create", parentId: null })}>
            Create the first workspace
          </button>
        </div>
      )}
      <OrgChart />
      {/* In the chart's landmark, where it belongs (axe: all content in landmarks). */}
      <ContextMenu />
    </main>
  );
}

export function App() {
  useLive();
  useDeepLink();
  useShortcuts();
  return (
    <ReactFlowProvider>
      <div className="app">
        <Toolbar />
        <div className="workspace-area">
          <Body />
          <SidePanel />
        </div>
        <Dialogs />
        <Toast />
      </div>
    </ReactFlowProvider>
  );
}
